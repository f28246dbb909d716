"""A group of instances as readers deliver them, and what every reader offers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np


@dataclass
class Batch:
    indices: np.ndarray  # each instance's position in the input order
    ids: list[str]
    sources: list[str]
    arrays: np.ndarray  # [b, ...] float32; rows that failed to read hold zeros
    errors: list[str | None] = field(default_factory=list)  # per instance: why it cannot be used
    extras: list[dict] = field(default_factory=list)  # per instance: original_size, label, ...

    def __post_init__(self):
        if not self.errors:
            self.errors = [None] * len(self.ids)
        if not self.extras:
            self.extras = [{} for _ in self.ids]


class InputSource(Protocol):
    @property
    def path(self) -> Path: ...

    @property
    def count(self) -> int | None: ...  # None when not known before reading (a CSV table, streamed)

    @property
    def instance_shape(self) -> tuple: ...

    def batches(self, size: int) -> Iterator[Batch]: ...


def content_hash(data: bytes) -> str:
    """Content hash of one instance: --resume recomputes an instance whose content changed."""
    return hashlib.sha256(data).hexdigest()[:32]
