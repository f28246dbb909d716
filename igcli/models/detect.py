"""Which loader a MODEL path needs, from the path alone."""

from __future__ import annotations

from pathlib import Path

from igcli.errors import UsageProblem

KERAS_SUFFIXES = (".keras",)
H5_SUFFIXES = (".h5", ".hdf5")


def model_kind(path: Path) -> str:
    """'savedmodel' or 'keras'; anything else is a usage error."""
    if not path.exists():
        raise UsageProblem(f"{path}: no such model file or directory")
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise UsageProblem(f"{path}: a directory but not a SavedModel (no saved_model.pb)")
        return "savedmodel"
    if path.suffix.lower() not in KERAS_SUFFIXES + H5_SUFFIXES:
        raise UsageProblem(f"{path}: unknown model format {path.suffix!r}; expected .keras, .h5, .hdf5 or a SavedModel directory")
    return "keras"
