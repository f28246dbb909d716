"""Which output value F is explained, per instance; validated before any work is done."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from igcli.errors import UsageProblem

HELP = "predicted|INT|I,J,...|NAME|labels:PATH|label"


def read_class_names(path: str | Path) -> list[str]:
    path = Path(path)
    try:
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as error:
        raise UsageProblem(f"{path}: cannot read class names ({error})") from None
    names = [name for name in names if name]
    if not names:
        raise UsageProblem(f"{path}: no class names in the file")
    return names


@dataclass
class Targets:
    """Resolves each instance's target to a flat index into its output."""

    kind: str  # predicted, index, labels
    output_shape: tuple
    index: int | None = None
    labels: np.ndarray | None = None  # flat indices, one per input

    def resolve(self, indices: np.ndarray, outputs: np.ndarray) -> np.ndarray:
        if self.kind == "predicted":
            return outputs.argmax(axis=1)
        if self.kind == "index":
            return np.full(len(indices), self.index)
        return self.labels[indices]


def parse_target(text: str, *, output_shape: tuple, class_names: list[str] | None, count: int | None, labels: np.ndarray | None = None) -> Targets:
    """text: the --target value; labels: the CSV's label column when text is 'label'."""
    size = int(np.prod(output_shape)) if output_shape else 1
    if any(d is None for d in output_shape):
        raise UsageProblem(f"the model's output shape {output_shape} is not fixed; cannot choose a target")
    text = text.strip()
    if text == "predicted":
        return Targets("predicted", output_shape)
    if re.fullmatch(r"-?\d+(,-?\d+)*", text):
        return Targets("index", output_shape, index=_flat_index(text, output_shape, size, "--target"))
    if text == "label":
        if labels is None:
            raise UsageProblem("--target label needs CSV inputs with --label-column")
        return Targets("labels", output_shape, labels=_check_labels(labels, output_shape, size, class_names, "--label-column"))
    if text.startswith("labels:"):
        path = Path(text[len("labels:") :])
        values = _read_labels(path)
        if count is not None and len(values) != count:
            raise UsageProblem(f"{path}: {len(values)} labels for {count} inputs")
        return Targets("labels", output_shape, labels=_check_labels(values, output_shape, size, class_names, str(path)))
    if class_names is None:
        raise UsageProblem(f"--target {text!r}: not a class index; to use class names give --class-names FILE")
    if text not in class_names:
        raise UsageProblem(f"--target {text!r}: not among the {len(class_names)} class names")
    return Targets("index", output_shape, index=class_names.index(text))


def _flat_index(text: str, output_shape: tuple, size: int, where: str) -> int:
    parts = tuple(int(p) for p in text.split(","))
    shape = output_shape if output_shape else (1,)
    if len(parts) == 1 and len(shape) > 1 and size == 1:
        shape = (1,)
    if len(parts) == 1:
        index = parts[0]
        if not 0 <= index < size:
            raise UsageProblem(f"{where} {text}: out of range; the model has {size} output value(s) per instance")
        return index
    if len(parts) != len(shape) or any(not 0 <= p < d for p, d in zip(parts, shape)):
        raise UsageProblem(f"{where} {text}: not an index into the output shape {tuple(shape)}")
    return int(np.ravel_multi_index(parts, shape))


def _read_labels(path: Path) -> list[str]:
    if not path.is_file():
        raise UsageProblem(f"{path}: no such labels file")
    if path.suffix == ".npy":
        try:
            return [str(v) for v in np.load(path, allow_pickle=False).reshape(-1)]
        except (OSError, ValueError) as error:
            raise UsageProblem(f"{path}: not a readable .npy of labels ({error})") from None
    try:
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        raise UsageProblem(f"{path}: cannot read labels ({error})") from None


def _check_labels(values, output_shape, size, class_names, where) -> np.ndarray:
    flat = []
    for number, value in enumerate(values, 1):
        value = str(value).strip()
        if re.fullmatch(r"-?\d+(\.0*)?", value):
            index = int(float(value))
            if not 0 <= index < size:
                raise UsageProblem(f"{where}: label {value!r} (entry {number}) is out of range 0..{size - 1}")
        elif class_names is not None and value in class_names:
            index = class_names.index(value)
        else:
            raise UsageProblem(f"{where}: label {value!r} (entry {number}) is neither a class index nor a class name")
        flat.append(index)
    return np.asarray(flat, np.int64)
