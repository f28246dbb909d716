"""Everything igcli writes: attribution arrays, summary.csv, run.json. Files appear under their
final names only when complete (written under a temporary name, then renamed)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from igcli.errors import UsageProblem

FORMATS = ("h5", "npz", "npy")
# What igcli writes into OUT; --overwrite removes only these, never a user's other files.
OWN_NAMES = ("attributions.h5", "attributions.npz", "attributions.csv", "summary.csv", "run.json", "overview.png", "heatmaps", "arrays")
SUMMARY_COLUMNS = ("id", "source", "target", "target_name", "score", "baseline_score", "attribution_sum", "delta", "relative_delta", "status", "error")


@dataclass
class Results:
    """One group of instances, explained or failed, in input order."""

    indices: np.ndarray
    ids: list[str]
    sources: list[str]
    attributions: np.ndarray  # float32 [b, ...]; NaN rows for failed instances
    targets: np.ndarray  # int64, -1 where failed before a target was chosen
    target_names: list[str]
    scores: np.ndarray  # float64, NaN where failed
    baseline_scores: np.ndarray
    sums: np.ndarray
    deltas: np.ndarray
    errors: list[str | None]

    @property
    def statuses(self) -> list[str]:
        return ["ok" if error is None else "error" for error in self.errors]

    @property
    def relative_deltas(self) -> np.ndarray:
        """|delta| relative to |F(x) - F(x')|; 0/0 counts as exact, x/0 as infinite."""
        gap = np.abs(self.scores - self.baseline_scores)
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.abs(self.deltas) / gap
        relative[(gap == 0) & (self.deltas == 0)] = 0.0
        return relative


def prepare_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UsageProblem(f"{out}: exists and is not a directory")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise UsageProblem(f"{out}: output directory is not empty; use --overwrite to replace its results")
        for name in OWN_NAMES:
            target = out / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".igcli-probe-"):
            pass
    except OSError as error:
        raise UsageProblem(f"{out}: cannot write the output directory ({error.strerror or error})") from None


def atomic_write_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_run_json(path: Path, manifest: dict) -> None:
    atomic_write_text(path, json.dumps(manifest, indent=2, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class SummaryWriter:
    """summary.csv, one row per instance, streamed and renamed into place at the end."""

    def __init__(self, out: Path):
        self.path = out / "summary.csv"
        self.temporary = out / ".summary.csv.partial"
        self.handle = open(self.temporary, "w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.handle)
        self.writer.writerow(SUMMARY_COLUMNS)

    def append(self, results: Results) -> None:
        rows = zip(results.ids, results.sources, results.targets, results.target_names, results.scores, results.baseline_scores, results.sums, results.deltas, results.relative_deltas, results.statuses, results.errors)
        for row in rows:
            *head, status, error = row
            self.writer.writerow([_cell(value) for value in head] + [status, error or ""])
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()
        os.replace(self.temporary, self.path)


def _cell(value):
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else repr(float(value))
    if isinstance(value, np.integer):
        return "" if value < 0 else int(value)
    return value


class H5Writer:
    """attributions.h5: datasets grown a group at a time, parameters as attributes."""

    def __init__(self, out: Path, instance_shape: tuple, attributes: dict):
        import h5py

        self.path = out / "attributions.h5"
        self.temporary = out / ".attributions.h5.partial"
        self.file = h5py.File(self.temporary, "w")
        text = h5py.string_dtype()
        self.datasets = {
            "attributions": self._grow("attributions", np.float32, instance_shape),
            "ids": self._grow("ids", text),
            "sources": self._grow("sources", text),
            "targets": self._grow("targets", np.int64),
            "target_names": self._grow("target_names", text),
            "scores": self._grow("scores", np.float64),
            "baseline_scores": self._grow("baseline_scores", np.float64),
            "deltas": self._grow("deltas", np.float64),
            "relative_deltas": self._grow("relative_deltas", np.float64),
            "status": self._grow("status", text),
        }
        for key, value in attributes.items():
            self.file.attrs[key] = "" if value is None else value

    def _grow(self, name, dtype, shape=()):
        chunks = (1, *shape) if shape else (1024,)
        return self.file.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype, chunks=chunks)

    def append(self, results: Results) -> None:
        values = _columns(results)
        for name, dataset in self.datasets.items():
            data = values[name]
            start = dataset.shape[0]
            dataset.resize(start + len(data), axis=0)
            dataset[start:] = data
        self.file.flush()

    def close(self) -> None:
        self.file.close()
        os.replace(self.temporary, self.path)


def _columns(results: Results) -> dict:
    return {
        "attributions": results.attributions,
        "ids": results.ids,
        "sources": results.sources,
        "targets": results.targets,
        "target_names": results.target_names,
        "scores": results.scores,
        "baseline_scores": results.baseline_scores,
        "deltas": results.deltas,
        "relative_deltas": results.relative_deltas,
        "status": results.statuses,
    }


class NumpyWriter:
    """--format npy (a folder OUT/arrays/ of .npy files) or npz (OUT/attributions.npz).

    Rows are streamed to raw temporary files and framed as .npy at the end, so memory stays flat."""

    def __init__(self, out: Path, instance_shape: tuple, fmt: str):
        self.out, self.fmt, self.instance_shape = out, fmt, instance_shape
        self.work = Path(tempfile.mkdtemp(dir=out, prefix=".arrays-"))
        self.raw = {}
        self.rows = 0
        self.dtypes = {}
        self.text = {"ids": [], "sources": [], "target_names": [], "status": []}

    def append(self, results: Results) -> None:
        for name, data in _columns(results).items():
            if name in self.text:
                self.text[name].extend(data)
                continue
            data = np.ascontiguousarray(data)
            self.dtypes[name] = data.dtype
            if name not in self.raw:
                self.raw[name] = open(self.work / f"{name}.raw", "wb")
            self.raw[name].write(data.tobytes())
        self.rows += len(results.ids)

    def _frame(self, name: str, target: Path) -> None:
        shape = (self.rows, *self.instance_shape) if name == "attributions" else (self.rows,)
        with open(target, "wb") as handle:
            if name in self.text:
                np.save(handle, np.asarray(self.text[name], dtype=str).reshape(shape))
                return
            self.raw[name].close()
            header = {"descr": np.lib.format.dtype_to_descr(self.dtypes[name]), "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_1_0(handle, header)
            with open(self.work / f"{name}.raw", "rb") as raw:
                shutil.copyfileobj(raw, handle)

    def close(self) -> None:
        names = list(_columns_names())
        if self.rows == 0:
            self.dtypes = {n: np.dtype(np.float32 if n == "attributions" else np.int64 if n == "targets" else np.float64) for n in names if n not in self.text}
            self.raw = {n: open(self.work / f"{n}.raw", "wb") for n in self.dtypes}
        framed = self.work / "framed"
        framed.mkdir()
        for name in names:
            self._frame(name, framed / f"{name}.npy")
        if self.fmt == "npy":
            final = self.out / "arrays"
            os.replace(framed, final)
        else:
            temporary = self.out / ".attributions.npz.partial"
            with zipfile.ZipFile(temporary, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                for name in names:
                    archive.write(framed / f"{name}.npy", f"{name}.npy")
            os.replace(temporary, self.out / "attributions.npz")
        shutil.rmtree(self.work)


def _columns_names():
    return ("attributions", "ids", "sources", "targets", "target_names", "scores", "baseline_scores", "deltas", "relative_deltas", "status")


def open_array_writer(out: Path, fmt: str, instance_shape: tuple, attributes: dict):
    if fmt == "h5":
        return H5Writer(out, instance_shape, attributes)
    return NumpyWriter(out, instance_shape, fmt)
