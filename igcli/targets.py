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

    kind: str  # predicted, index, labels (from a file), label (per row, from the CSV)
    output_shape: tuple
    index: int | None = None
    labels: np.ndarray | None = None  # flat indices, one per input
    class_names: list[str] | None = None

    def resolve(self, indices: np.ndarray, outputs: np.ndarray, row_labels: list | None = None) -> tuple[np.ndarray, list]:
        """-> (flat target per instance, -1 where it cannot be had; the reason per instance or None)."""
        count = len(indices)
        if self.kind == "predicted":
            return outputs.argmax(axis=1), [None] * count
        if self.kind == "index":
            return np.full(count, self.index), [None] * count
        if self.kind == "labels":
            return self.labels[indices], [None] * count
        targets, errors = np.full(count, -1, np.int64), [None] * count
        size = outputs.shape[1]
        for row, value in enumerate(row_labels):
            try:
                targets[row] = _check_labels([value], self.output_shape, size, self.class_names, "--label-column")[0]
            except UsageProblem as problem:
                errors[row] = str(problem)
        return targets, errors


def parse_target(text: str, *, output_shape: tuple, class_names: list[str] | None, count: int | None, has_label_column: bool = False) -> Targets:
    """text: the --target value; 'label' takes each CSV row's --label-column value."""
    size = int(np.prod(output_shape)) if output_shape else 1
    if any(d is None for d in output_shape):
        raise UsageProblem(f"the model's output shape {output_shape} is not fixed; cannot choose a target")
    text = text.strip()
    if text == "predicted":
        return Targets("predicted", output_shape)
    if re.fullmatch(r"-?\d+(,-?\d+)*", text):
        return Targets("index", output_shape, index=_flat_index(text, output_shape, size, "--target"))
    if text == "label":
        if not has_label_column:
            raise UsageProblem("--target label needs CSV inputs with --label-column")
        return Targets("label", output_shape, class_names=class_names)
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
                raise UsageProblem(f"{where}: label {value!r}{_entry(number, values)} is out of range 0..{size - 1}")
        elif class_names is not None and value in class_names:
            index = class_names.index(value)
        else:
            raise UsageProblem(f"{where}: label {value!r}{_entry(number, values)} is neither a class index nor a class name")
        flat.append(index)
    return np.asarray(flat, np.int64)


def _entry(number: int, values) -> str:
    return f" (entry {number})" if len(values) > 1 else ""
