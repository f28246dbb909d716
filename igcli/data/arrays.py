"""Array inputs: a .npy file, one array of a .npz, or one array per model input in a .npz."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from igcli.data.batch import Batch, content_hash
from igcli.errors import UsageProblem


class ArrayInputs:
    """A .npy file or one array of a .npz file: instance i is row i, its id is str(i)."""

    def __init__(self, path: Path, key: str | None):
        self.path = path
        try:
            if path.suffix.lower() == ".npy":
                # mmap: rows are read as batches ask for them, not all at once
                self.array = np.load(path, mmap_mode="r", allow_pickle=False)
                self.label = path.name
            else:
                archive = np.load(path, allow_pickle=False)
                if key is None:  # the only array, else the one named x
                    key = archive.files[0] if len(archive.files) == 1 else "x"
                if key not in archive.files:
                    raise UsageProblem(f"{path}: no array {key!r} (arrays: {', '.join(archive.files) or 'none'}); choose with --key")
                self.array = archive[key]
                self.label = f"{path.name}:{key}"
        except UsageProblem:
            raise
        except (OSError, ValueError, EOFError) as error:
            raise UsageProblem(f"{path}: not a readable {path.suffix} array file ({error})") from None
        if self.array.ndim < 2:
            raise UsageProblem(f"{path}: array of shape {self.array.shape}; expected [instances, ...features]")
        if not (np.issubdtype(self.array.dtype, np.number) or self.array.dtype == bool):
            raise UsageProblem(f"{path}: array of dtype {self.array.dtype}; expected numbers")
        self.count = len(self.array)
        self.instance_shape = tuple(self.array.shape[1:])

    def batches(self, size: int) -> Iterator[Batch]:
        for start in range(0, self.count, size):
            rows = np.array(self.array[start : start + size], dtype=np.float32)  # a writable copy
            yield _array_batch(start, rows, self.label)


class MultiArrayInputs:
    """An .npz with one array per model input (keys = input names), served as one flat row per
    instance: the inputs flattened and concatenated in the model's order."""

    def __init__(self, path: Path, layout: list):
        self.path = path
        try:
            archive = np.load(path, allow_pickle=False)
            missing = [name for name, _ in layout if name not in archive.files]
            if missing:
                raise UsageProblem(f"{path}: no array for input(s) {', '.join(missing)} (arrays: {', '.join(archive.files) or 'none'})")
            self.arrays = [archive[name] for name, _ in layout]
        except (OSError, ValueError, EOFError) as error:
            raise UsageProblem(f"{path}: not a readable .npz file ({error})") from None
        for (name, shape), array in zip(layout, self.arrays):
            if tuple(array.shape[1:]) != tuple(shape):
                raise UsageProblem(f"{path}: array {name!r} has instances of shape {tuple(array.shape[1:])}; the model's input {name!r} takes {tuple(shape)}")
        counts = {len(array) for array in self.arrays}
        if len(counts) != 1:
            raise UsageProblem(f"{path}: the arrays hold different numbers of instances ({', '.join(str(len(a)) for a in self.arrays)})")
        self.count = counts.pop()
        self.instance_shape = (sum(int(np.prod(shape)) for _, shape in layout),)

    def batches(self, size: int) -> Iterator[Batch]:
        for start in range(0, self.count, size):
            parts = [np.asarray(a[start : start + size], np.float32).reshape(min(size, self.count - start), -1) for a in self.arrays]
            yield _array_batch(start, np.concatenate(parts, axis=1), self.path.name)


def _array_batch(start: int, rows: np.ndarray, label: str) -> Batch:
    """Rows start.. of an array file: ids are row indices; a row with NaN/Inf fails alone."""
    indices = np.arange(start, start + len(rows))
    finite = np.isfinite(rows.reshape(len(rows), -1)).all(axis=1)
    errors = [None if ok else "input holds NaN or Inf values" for ok in finite]
    extras = [{"hash": content_hash(row.tobytes())} for row in rows]
    rows[~finite] = 0
    return Batch(indices, [str(i) for i in indices], [f"{label}[{i}]" for i in indices], rows, errors, extras)
