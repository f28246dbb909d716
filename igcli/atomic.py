"""Files that appear under their final names only when complete: written under a temporary name
beside them (.NAME.partial), then renamed, which is atomic on one file system."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path


def partial_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


@contextmanager
def atomic_path(path: Path, durable: bool = False):
    """A temporary path to write; renamed onto `path` when the block ends, removed if it raises.
    durable: the file flushed to disk before the rename and the rename after it (its folder
    flushed too): a journal entry must survive a crash or a disk that stops midway."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = partial_name(path)
    try:
        yield temporary
        if durable:
            with open(temporary, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(temporary, path)
        if durable:
            _sync_folder(path.parent)
    except BaseException:
        remove(temporary)
        raise


def write_text(path: Path, text: str, durable: bool = False) -> None:
    with atomic_path(path, durable) as temporary:
        temporary.write_text(text, encoding="utf-8")


def _sync_folder(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


class PartialFile:
    """A file (or folder) built over a whole run under its temporary name: commit() gives it its
    final name, discard() removes it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.temporary = partial_name(self.path)

    def commit(self) -> None:
        if self.path.is_dir() and not self.path.is_symlink():
            shutil.rmtree(self.path)  # a folder cannot be renamed onto a non-empty one
        os.replace(self.temporary, self.path)

    def discard(self) -> None:
        remove(self.temporary)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
