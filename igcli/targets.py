"""Which output value F is explained, per instance; validated before any work is done."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from igcli.errors import UsageProblem
from igcli.optiontype import Given, ParsedOption
from igcli.stores import local_copy

HELP = "predicted|INT|I,J,...|NAME|labels:PATH|label|top:K|all|LIST"


def read_class_names(path: str | Path) -> list[str]:
    path = local_copy(path, "class names")
    try:
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as error:
        raise UsageProblem(f"{path}: cannot read class names ({error})") from None
    names = [name for name in names if name]
    if not names:
        raise UsageProblem(f"{path}: no class names in the file")
    return names


MAX_ALL = 100  # --target all explains every output; above this many, a list or top:K is wiser


@dataclass
class Targets:
    """Resolves each instance's targets to flat indices into its output: [G, K]."""

    kind: str  # predicted, index, labels (from a file), label (per row, from the CSV), top, list
    output_shape: tuple
    index: int | None = None
    labels: np.ndarray | None = None  # flat indices, [inputs, K], from a labels file
    class_names: list[str] | None = None
    indices: tuple = ()  # --target LIST and --target all: the same K outputs for every instance
    top: int = 0  # --target top:K
    several: bool = False  # the user asked for several targets: outputs gain a target axis

    @property
    def count(self) -> int:
        """K, the targets per instance."""
        if self.kind == "top":
            return self.top
        if self.kind == "list":
            return len(self.indices)
        if self.labels is not None:  # kind labels
            return self.labels.shape[1]
        return 1

    def resolve(self, indices: np.ndarray, outputs: np.ndarray, row_labels: list | None = None) -> tuple[np.ndarray, list]:
        """-> (flat targets [G, K], -1 where they cannot be had; the reason per instance or None)."""
        count = len(indices)
        if self.kind == "predicted":
            return outputs.argmax(axis=1)[:, None], [None] * count
        if self.kind == "index":
            return np.full((count, 1), self.index), [None] * count
        if self.kind == "top":  # the K highest outputs, highest first; ties by index
            return np.argsort(-outputs, axis=1, kind="stable")[:, : self.top], [None] * count
        if self.kind == "list":
            return np.broadcast_to(np.asarray(self.indices), (count, len(self.indices))).copy(), [None] * count
        if self.labels is not None:  # kind labels
            return self.labels[indices], [None] * count
        targets = np.full((count, 1), -1, np.int64)  # kind label: the CSV's, per row
        errors: list[str | None] = [None] * count
        size = outputs.shape[1]
        for row, value in enumerate(row_labels or []):
            try:
                targets[row, 0] = _check_labels([value], self.output_shape, size, self.class_names, "--label-column")[0]
            except UsageProblem as problem:
                errors[row] = str(problem)
        return targets, errors


@dataclass(frozen=True)
class TargetSpec(Given):
    """--target as written: its kind, and what it names (resolved against the model by the plan)."""

    kind: str  # predicted, all, top, label (the CSV's), labels (a file), values (indices or class names)
    top: int = 0
    path: Path | None = None


def parse_target(given: str) -> TargetSpec:
    text = given.strip()
    if text in ("predicted", "all", "label"):
        return TargetSpec(text, text=given)
    match = re.fullmatch(r"top:(\d+)", text)
    if match:
        return TargetSpec("top", top=int(match.group(1)), text=given)
    if text.startswith("labels:"):
        return TargetSpec("labels", path=local_copy(text[len("labels:") :], "labels"), text=given)
    return TargetSpec("values", text=given)


TARGET = ParsedOption("TARGET", parse_target, TargetSpec)  # --target


def resolve_targets(spec: TargetSpec, *, output_shape: tuple, class_names: list[str] | None, count: int | None, has_label_column: bool = False) -> Targets:
    """The targets --target names for this model; 'label' takes each CSV row's --label-column value."""
    size = int(np.prod(output_shape)) if output_shape else 1
    if any(d is None for d in output_shape):
        raise UsageProblem(f"the model's output shape {output_shape} is not fixed; cannot choose a target")
    text = spec.text.strip()
    if spec.kind == "predicted":
        return Targets("predicted", output_shape)
    if spec.kind == "all":
        if size > MAX_ALL:
            raise UsageProblem(f"--target all: the model has {size} outputs per instance, more than {MAX_ALL}; choose them with --target top:K or a list")
        return Targets("list", output_shape, indices=tuple(range(size)), several=True)
    if spec.kind == "top":
        if not 1 <= spec.top <= size:
            raise UsageProblem(f"--target {text}: K must be between 1 and the model's {size} outputs")
        return Targets("top", output_shape, top=spec.top, several=True)
    if spec.kind == "label":
        if not has_label_column:
            raise UsageProblem("--target label needs CSV inputs with --label-column")
        return Targets("label", output_shape, class_names=class_names)
    if spec.kind == "labels":
        return _labels_file(spec.path, output_shape, size, class_names, count)
    return _named(text, output_shape, size, class_names)


def _labels_file(path, output_shape: tuple, size: int, class_names, count: int | None) -> Targets:
    """--target labels:PATH: a line (or .npy row) of labels per input, as many on every line."""
    lines = _read_labels(path)
    if count is not None and len(lines) != count:
        raise UsageProblem(f"{path}: {len(lines)} labels for {count} inputs")
    per_line = [[v for v in line.split(",") if v.strip()] for line in lines]
    widths = {len(values) for values in per_line}
    if len(widths) != 1:
        raise UsageProblem(f"{path}: every line must name as many labels; found {', '.join(str(w) for w in sorted(widths))}")
    flat = _check_labels([v for values in per_line for v in values], output_shape, size, class_names, str(path))
    width = widths.pop()
    return Targets("labels", output_shape, labels=flat.reshape(len(lines), width), several=width > 1)


def _named(text: str, output_shape: tuple, size: int, class_names) -> Targets:
    """An index (flat, or one per output axis), a list of flat indices or class names, or a class name."""
    rank = len(output_shape) if output_shape else 1
    if re.fullmatch(r"-?\d+(,-?\d+)*", text) and (text.count(",") == 0 or (rank > 1 and text.count(",") == rank - 1)):
        return Targets("index", output_shape, index=_flat_index(text, output_shape, size, "--target"))
    if "," in text:  # a list of flat indices or class names
        values = [v.strip() for v in text.split(",") if v.strip()]
        indices = tuple(int(i) for i in _check_labels(values, output_shape, size, class_names, "--target"))
        if len(set(indices)) != len(indices):
            raise UsageProblem(f"--target {text}: a target is named twice")
        return Targets("list", output_shape, indices=indices, several=True)
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
    """One entry per input: a line of the text file (several labels comma-separated), or a row of
    the .npy (a number per input, or a row of numbers)."""
    if not path.is_file():
        raise UsageProblem(f"{path}: no such labels file")
    if path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
            rows = array.reshape(len(array), -1) if array.ndim > 1 else array.reshape(-1, 1)
            return [",".join(str(v) for v in row) for row in rows]
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
