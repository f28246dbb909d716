"""The attribution arrays: attributions.h5 (--format h5), attributions.npz, arrays/*.npy or
attributions.zarr (zarr_arrays.py).

Every array has one row per instance in input order; several model inputs get one attributions
array each (attributions/<input name>)."""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from igcli.atomic import PartialFile, atomic_path
from igcli.results import Results

ARRAY_NAMES = (
    "attributions",
    "ids",
    "sources",
    "targets",
    "target_names",
    "scores",
    "baseline_scores",
    "deltas",
    "relative_deltas",
    "status",
    "uninformative_baseline",
)
TEXT_ARRAYS = ("ids", "sources", "target_names", "status")
PER_INSTANCE = ("ids", "sources", "status")  # every other array holds one value per target
INTEGER_ARRAYS = ("targets", "steps", "uninformative_baseline", "incomplete")


def optional_arrays(plan) -> dict:
    """Arrays only the runs that compute them write (--steps auto, --metrics), with their shape per
    instance, so other runs keep their layout: name -> shape."""
    shapes: dict[str, tuple] = {"steps": ()} if plan.steps is None else {}
    if plan.estimated:
        shapes.update({"error_estimate": (), "incomplete": ()})
    for metric in plan.metrics:
        shapes.update({metric: (), f"{metric}_curve": (plan.options.metric_steps + 1,)})
    if plan.options.xrai:
        shapes["xrai"] = tuple(plan.stored_shape[:2])
    return shapes


def _optional_value(results: Results, name: str) -> np.ndarray:
    if name == "steps":
        return results.steps
    if name == "error_estimate":
        return results.error_estimates
    if name == "incomplete":
        return results.incomplete
    if name == "xrai":
        assert results.xrai is not None  # --xrai: every group's results carry the maps
        return results.xrai
    if name.endswith("_curve"):
        return results.metric_curves[name[: -len("_curve")]]
    return results.metric_scores[name]


class H5Writer:
    """attributions.h5: datasets grown a group at a time, the run's parameters as attributes."""

    OWNS = ("attributions.h5",)

    def __init__(self, out: Path, layout: ArrayLayout, attributes: dict):
        import h5py

        self.partial = PartialFile(out / "attributions.h5")
        self.file = h5py.File(self.partial.temporary, "w")
        text = h5py.string_dtype()
        self.layout = layout
        self.datasets = {name: self._grow(name, text if name in TEXT_ARRAYS else numeric_dtype(name), shape) for name, shape in layout.shapes().items()}
        for key, value in attributes.items():
            self.file.attrs[key] = "" if value is None else value

    def _grow(self, name, dtype, shape=()):
        chunks = (1, *shape) if shape else (1024,)
        return self.file.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype, chunks=chunks)

    def append(self, results: Results) -> None:
        values = self.layout.columns(results)
        for name, dataset in self.datasets.items():
            data = values[name]
            start = dataset.shape[0]
            dataset.resize(start + len(data), axis=0)
            dataset[start:] = data
        self.file.flush()

    def close(self) -> None:
        self.file.close()
        self.partial.commit()

    def abort(self) -> None:
        try:
            self.file.close()  # raises again on a full disk: the partial file goes all the same
        finally:
            self.partial.discard()


class NumpyWriter:
    """--format npy (a folder OUT/arrays/ of .npy files) or npz (OUT/attributions.npz).

    Rows are streamed to raw files in a work folder (.arrays-*) and framed as .npy at the end, so
    memory stays flat."""

    OWNS = ("attributions.npz", "arrays", ".arrays-*")

    def __init__(self, out: Path, layout: ArrayLayout, fmt: str):
        self.out, self.fmt, self.layout = out, fmt, layout
        self.shapes = layout.shapes()
        self.work = Path(tempfile.mkdtemp(dir=out, prefix=".arrays-"))
        self.raw: dict[str, BinaryIO] = {}
        self.rows = 0
        self.dtypes: dict[str, np.dtype] = {}
        self.text: dict[str, list] = {name: [] for name in TEXT_ARRAYS}

    def append(self, results: Results) -> None:
        for name, data in self.layout.columns(results).items():
            if name in self.text:
                self.text[name].extend(data)
                continue
            data = np.ascontiguousarray(data)
            self.dtypes[name] = data.dtype
            if name not in self.raw:
                self.raw[name] = open(self.work / f"{_file_name(name)}.raw", "wb")
            self.raw[name].write(data.tobytes())
        self.rows += len(results.ids)

    def _frame(self, name: str, target: Path) -> None:
        shape = (self.rows, *self.shapes[name])
        with open(target, "wb") as handle:
            if name in self.text:
                np.save(handle, np.asarray(self.text[name], dtype=str).reshape(shape))
                return
            self.raw[name].close()
            header = {"descr": np.lib.format.dtype_to_descr(self.dtypes[name]), "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_1_0(handle, header)
            with open(self.work / f"{_file_name(name)}.raw", "rb") as raw:
                shutil.copyfileobj(raw, handle)

    def close(self) -> None:
        names = list(self.shapes)
        if self.rows == 0:
            self.dtypes = {n: numeric_dtype(n) for n in names if n not in self.text}
            self.raw = {n: open(self.work / f"{_file_name(n)}.raw", "wb") for n in self.dtypes}
        framed = self.work / "framed"
        framed.mkdir()
        for name in names:
            self._frame(name, framed / f"{_file_name(name)}.npy")
        if self.fmt == "npy":
            folder = PartialFile(self.out / "arrays")
            os.replace(framed, folder.temporary)
            folder.commit()
        else:
            with atomic_path(self.out / "attributions.npz") as temporary:
                with zipfile.ZipFile(temporary, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                    for name in names:
                        archive.write(framed / f"{_file_name(name)}.npy", f"{_file_name(name)}.npy")
        shutil.rmtree(self.work)

    def abort(self) -> None:
        try:
            for handle in self.raw.values():
                handle.close()
        finally:
            shutil.rmtree(self.work, ignore_errors=True)


def open_array_writer(out: Path, fmt: str, layout: ArrayLayout, attributes: dict):
    if fmt == "h5":
        return H5Writer(out, layout, attributes)
    if fmt == "zarr":
        from igcli.sinks.zarr_arrays import ZarrWriter  # zarr is an extra: imported only for --format zarr

        return ZarrWriter(out, layout, attributes)
    return NumpyWriter(out, layout, fmt)


def numeric_dtype(name: str) -> np.dtype:
    if name.startswith("attributions"):
        return np.dtype(np.float32)
    return np.dtype(np.int64 if name in INTEGER_ARRAYS else np.float64)


@dataclass(frozen=True)
class ArrayLayout:
    """Which arrays a run writes and each one's shape per instance.

    instance_shape: one target's attributions; inputs: several model inputs as (name, shape), each
    written as attributions/<name>; optional: the run's extra per-target arrays (name -> shape);
    targets: K with --target top:K / all / a list (arrays of per-target values gain a K axis
    after the instance), None for one target (today's layout, no such axis)."""

    instance_shape: tuple
    inputs: tuple = ()
    optional: tuple = ()  # (name, shape) pairs
    targets: int | None = None

    def _per_target(self, shape: tuple) -> tuple:
        return shape if self.targets is None else (self.targets, *shape)

    def shapes(self) -> dict:
        shapes = {name: (() if name in PER_INSTANCE else self._per_target(())) for name in ARRAY_NAMES}
        shapes.update({name: self._per_target(tuple(shape)) for name, shape in self.optional})
        del shapes["attributions"]
        if self.inputs:
            attributions = {f"attributions/{name}": self._per_target(tuple(shape)) for name, shape in self.inputs}
        else:
            attributions = {"attributions": self._per_target(tuple(self.instance_shape))}
        return {**attributions, **shapes}

    def columns(self, results: Results) -> dict:
        per_target = {
            "attributions": results.attributions,
            "targets": results.targets,
            "target_names": np.array(results.target_names, dtype=object).reshape(results.targets.shape),
            "scores": results.scores,
            "baseline_scores": results.baseline_scores,
            "deltas": results.deltas,
            "relative_deltas": results.relative_deltas,
            "uninformative_baseline": results.uninformative,
            **{name: _optional_value(results, name) for name, _ in self.optional},
        }
        if self.targets is None:  # one target: today's layout, without the target axis
            per_target = {name: values[:, 0] for name, values in per_target.items()}
        columns: dict[str, Any] = {"ids": results.ids, "sources": results.sources, "status": results.statuses, **per_target}
        if self.inputs:  # the flat rows of several inputs, cut back into one array per input
            flat = columns.pop("attributions")
            sizes = np.cumsum([int(np.prod(shape)) for _, shape in self.inputs])[:-1]
            parts = np.split(flat, sizes, axis=-1)
            lead = flat.shape[:-1]
            columns = {**{f"attributions/{name}": part.reshape(*lead, *shape) for (name, shape), part in zip(self.inputs, parts)}, **columns}
        return columns


def array_layout(plan) -> ArrayLayout:
    return ArrayLayout(tuple(plan.stored_shape), tuple(plan.layout), tuple(optional_arrays(plan).items()), plan.targets.count if plan.targets.several else None)


def _file_name(array_name: str) -> str:
    """attributions/<input> -> attributions.<input> for .npy files and .npz members."""
    return array_name.replace("/", ".")
