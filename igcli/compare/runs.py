"""One igcli output directory, read for `igcli compare`: its run.json, its predictions
(summary.csv) and its arrays (attributions.h5, attributions.npz, arrays/*.npy or attributions.zarr),
read a few rows at a time, so that memory does not grow with the run."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from igcli.errors import UsageProblem

# Settings that do not change what a map shows, left out of "the runs differ in ..."
NOT_COMPARED = ("igcli_version", "inputs", "batch_size", "branches", "model")


@dataclass
class RunArrays:
    """Row access to one run's arrays, whichever format it wrote."""

    path: Path
    kind: str  # h5, npz, npy or zarr
    handle: object = None
    names: list[str] = field(default_factory=list)

    def read(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """An array, whole (rows None) or at the given rows (any order)."""
        if self.kind == "h5":
            dataset = self.handle[name]  # type: ignore[index]
            if rows is None:
                return dataset[()]
            order = np.argsort(rows)
            picked = dataset[np.asarray(rows)[order].tolist()] if len(rows) else dataset[0:0]
            out = np.empty_like(picked)
            out[order] = picked
            return out
        if self.kind == "zarr":  # a chunk per instance: only these rows' chunks are read
            array = self.handle[name]  # type: ignore[index]
            return np.asarray(array[()] if rows is None else array.oindex[np.asarray(rows, dtype=np.int64)])
        array = self.handle[name]  # type: ignore[index]  # npz: loaded on use; npy: memory-mapped
        return np.asarray(array if rows is None else array[rows])

    def map_shape(self, several: bool) -> tuple:
        """One target's attributions' shape (several model inputs: their flat sizes)."""
        if "attributions" in self.names:
            return tuple(self.handle["attributions"].shape[2 if several else 1 :])  # type: ignore[index]
        return tuple(int(np.prod(self.handle[n].shape[2 if several else 1 :])) for n in sorted(self.names) if n.startswith("attributions/"))  # type: ignore[index]

    def attributions(self, rows: np.ndarray, several: bool) -> np.ndarray:
        """[R, K, ...]: these rows' attributions (several: the run has a target axis); several
        model inputs flattened and joined in the order of their names."""
        if "attributions" in self.names:
            values = self.read("attributions", rows)
            return values if several else values[:, None]
        parts = []
        for name in sorted(n for n in self.names if n.startswith("attributions/")):
            part = self.read(name, rows)
            part = part if several else part[:, None]
            parts.append(part.reshape(*part.shape[:2], -1))
        return np.concatenate(parts, axis=-1)


def open_arrays(folder: Path) -> RunArrays:
    if (folder / "attributions.h5").is_file():
        import h5py

        try:
            handle = h5py.File(folder / "attributions.h5", "r")
        except OSError as error:
            raise UsageProblem(f"{folder / 'attributions.h5'}: not a readable HDF5 file ({error})") from None
        names: list[str] = []
        handle.visit(lambda name: names.append(name) if isinstance(handle[name], h5py.Dataset) else None)
        return RunArrays(folder / "attributions.h5", "h5", handle, names)
    if (folder / "attributions.zarr").is_dir():
        return _open_zarr(folder / "attributions.zarr")
    if (folder / "attributions.npz").is_file():
        try:
            archive = np.load(folder / "attributions.npz", allow_pickle=False)
        except (OSError, ValueError) as error:
            raise UsageProblem(f"{folder / 'attributions.npz'}: not a readable .npz file ({error})") from None
        names = [name.replace(".", "/", 1) if name.startswith("attributions.") else name for name in archive.files]  # nothing loaded yet
        return RunArrays(folder / "attributions.npz", "npz", _Lazy(archive), sorted(names))
    if (folder / "arrays").is_dir():
        files = {p.stem.replace(".", "/", 1) if p.stem.startswith("attributions.") else p.stem: p for p in (folder / "arrays").glob("*.npy")}
        return RunArrays(folder / "arrays", "npy", {name: np.load(p, mmap_mode="r", allow_pickle=False) for name, p in files.items()}, sorted(files))
    raise UsageProblem(f"{folder}: not an igcli output directory (no attributions.h5, attributions.npz, arrays/ or attributions.zarr)")


def _open_zarr(path: Path) -> RunArrays:
    try:
        import zarr
    except ImportError:
        raise UsageProblem(f"{path}: reading a Zarr store needs the zarr package: pip install 'igcli[zarr]'") from None
    try:
        group = zarr.open_group(path, mode="r")
        names = sorted(name for name, node in group.members(max_depth=None) if isinstance(node, zarr.Array))
    except (OSError, ValueError, KeyError) as error:
        raise UsageProblem(f"{path}: not a readable Zarr store ({error})") from None
    return RunArrays(path, "zarr", group, names)


class _Lazy(dict):
    """An .npz's members by array name (attributions/<input> for attributions.<input>), loaded on use."""

    def __init__(self, archive):
        super().__init__()
        self.archive = archive

    def __missing__(self, name):
        member = name.replace("/", ".", 1) if name.startswith("attributions/") else name
        self[name] = self.archive[member]
        return self[name]


@dataclass
class Run:
    folder: Path
    record: dict  # run.json
    arrays: RunArrays
    ids: list[str]
    ok: np.ndarray  # [N] bool: the instance was explained
    targets: np.ndarray  # [N, K]
    several: bool  # the arrays have a target axis (--target top:K, all, a list)
    target_names: np.ndarray  # [N, K] str
    scores: np.ndarray  # [N, K]
    estimates: np.ndarray  # [N, K]: error estimates, NaN where the run has none
    predicted: dict[str, tuple[str, str]]  # id -> (predicted index, its name), from summary.csv
    image: bool  # image attributions [H, W, C]: a pixel is a feature
    feature_names: list[str] | None  # a table's columns

    @property
    def settings(self) -> dict:
        return {k: v for k, v in (self.record.get("resolved") or {}).items() if k not in NOT_COMPARED}


def open_run(folder: str | Path) -> Run:
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageProblem(f"{folder}: no such output directory")
    record = _read_json(folder / "run.json")
    arrays = open_arrays(folder)
    ids = [v.decode() if isinstance(v, bytes) else str(v) for v in arrays.read("ids")]
    status = [v.decode() if isinstance(v, bytes) else str(v) for v in arrays.read("status")]
    raw_targets = arrays.read("targets")
    targets = _per_target(raw_targets, len(ids))
    names = _per_target(arrays.read("target_names"), len(ids)) if "target_names" in arrays.names else np.full(targets.shape, "", object)
    estimates = _per_target(arrays.read("error_estimate"), len(ids)) if "error_estimate" in arrays.names else np.full(targets.shape, np.nan)
    image = "image_size" in (record.get("resolved") or {}) and not (record.get("resolved") or {}).get("layer")
    return Run(
        folder=folder,
        record=record,
        arrays=arrays,
        ids=ids,
        ok=np.array([s == "ok" for s in status], bool),
        targets=targets.astype(np.int64),
        several=raw_targets.ndim == 2,
        target_names=np.vectorize(lambda v: v.decode() if isinstance(v, bytes) else str(v), otypes=[object])(names) if names.size else names,
        scores=_per_target(arrays.read("scores"), len(ids)).astype(np.float64),
        estimates=estimates.astype(np.float64),
        predicted=_predictions(folder / "summary.csv"),
        image=image,
        feature_names=_table_columns(folder / "attributions.csv"),
    )


def _per_target(values: np.ndarray, count: int) -> np.ndarray:
    """[N] (one target) or [N, K] -> [N, K]."""
    return values.reshape(count, -1)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise UsageProblem(f"{path}: not readable JSON ({error})") from None


def _predictions(path: Path) -> dict[str, tuple[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return {row["id"]: (row.get("predicted", ""), row.get("predicted_name", "")) for row in csv.DictReader(handle)}
    except FileNotFoundError:
        return {}
    except (OSError, csv.Error, KeyError, UnicodeDecodeError) as error:
        raise UsageProblem(f"{path}: not a readable summary ({error})") from None


def _table_columns(path: Path) -> list[str] | None:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), None)
    except FileNotFoundError:
        return None
    return list(header[1:]) if header else None
