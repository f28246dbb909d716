"""Input readers. Each turns INPUTS into a stream of Batch objects, so memory stays flat in the
number of instances; image folders and CSV tables plug in as further readers of the same shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np

from igcli.errors import UsageProblem


@dataclass
class Batch:
    indices: np.ndarray  # each instance's position in the input order
    ids: list[str]
    sources: list[str]
    arrays: np.ndarray  # [b, ...] float32; rows that failed to read hold zeros
    errors: list[str | None] = field(default_factory=list)  # per instance: why it cannot be used

    def __post_init__(self):
        if not self.errors:
            self.errors = [None] * len(self.ids)


class InputSource(Protocol):
    path: Path
    count: int | None  # None when not known before reading (a stream)
    instance_shape: tuple

    def batches(self, size: int) -> Iterator[Batch]: ...


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
            indices = np.arange(start, start + len(rows))
            finite = np.isfinite(rows.reshape(len(rows), -1)).all(axis=1)
            errors = [None if ok else "input holds NaN or Inf values" for ok in finite]
            rows[~finite] = 0
            yield Batch(indices, [str(i) for i in indices], [f"{self.label}[{i}]" for i in indices], rows, errors)


def open_inputs(path: str | Path, *, key: str | None = None) -> InputSource:
    path = Path(path)
    if not path.exists():
        raise UsageProblem(f"{path}: no such input file or folder")
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        return ArrayInputs(path, key)
    raise UsageProblem(f"{path}: unsupported input {suffix or 'folder'!r}; expected .npy or .npz")
