"""--format zarr: OUT/attributions.zarr, a Zarr v3 group with the arrays of attributions.h5
(same names, dtypes and shapes), chunked by instance, that xarray and dask open without igcli.

The maps (attributions, xrai, the metric curves) have one instance per chunk, so that processes
that share no disk can each write the instances they computed straight into one store, in a
folder or an object store, without two of them ever writing the same chunk object. The small
per-instance values (ids, scores, ...) have VALUE_CHUNK instances per chunk: one process writes
them. The functions below take a location, a folder path or an fsspec URL ("s3://bucket/x.zarr";
credentials and endpoint from the environment, e.g. AWS_ENDPOINT_URL), or an open zarr group:

    create_store(location, count, layout, parameters)   once, by the driver: every array at full length
    write_rows(location, indices, rows)                 by any process: those instances' maps
    finish_store(location, values)                      once, by the driver: the values, then the metadata consolidated

ZarrWriter, the local sink, is built on the same three (and grow_store, for a run whose count is
not known ahead, a table's): the maps written a group at a time, the values at the end, under
.attributions.zarr.partial, renamed when the run is complete."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from igcli.atomic import PartialFile, remove
from igcli.results import Results
from igcli.sinks.arrays import PER_INSTANCE, TEXT_ARRAYS, ArrayLayout, numeric_dtype

VALUE_CHUNK = 4096  # instances per chunk of the per-instance values: one object per 4096 ids, not one per id
# Blosc is a codec of the Zarr v3 core specification (every reader has it), built into zarr via
# numcodecs. Attribution maps are noisy float32: zstd at level 1 after byte shuffle saves 7% at
# about the cost of no codec; level 5 saved 9% and doubled the write time (1,000 maps of 64x64x3).
CODEC = {"cname": "zstd", "clevel": 1, "shuffle": "shuffle"}
MAP_DIMENSIONS = {1: ("feature",), 2: ("position", "feature"), 3: ("height", "width", "channel")}

Location = str | os.PathLike | Any  # a folder, an fsspec URL, or an open zarr.Group (zarr is imported only when used)


def is_url(location) -> bool:
    return isinstance(location, str) and "://" in location and not location.startswith("file://")


def is_row_array(name: str) -> bool:
    """Arrays chunked by one instance, which any process may write (write_rows): the maps."""
    return name.startswith("attributions") or name == "xrai" or name.endswith("_curve")


def open_store(location: Location, mode: str = "r+"):
    """The zarr group at location (left as it is when it is a group already)."""
    import zarr

    if isinstance(location, zarr.Group):
        return location
    if isinstance(location, str) and location.startswith("file://"):
        location = location[len("file://") :]
    return zarr.open_group(location if is_url(location) else Path(location), mode=mode, zarr_format=3)  # type: ignore[arg-type]


def dimension_names(name: str, shape: tuple, layout: ArrayLayout) -> tuple[str, ...]:
    """xarray's dimensions of an array of `shape` per instance: instance, target (with several
    targets), then the map's axes. A name keeps one length across the group (height is the
    image's, for xrai too); several inputs' axes take the input's name, since their sizes differ."""
    lead = ("instance",) if name in PER_INSTANCE or layout.targets is None else ("instance", "target")
    rest = len(shape) - (len(lead) - 1)
    if name == "xrai":
        axes: tuple[str, ...] = ("height", "width")
    elif name.endswith("_curve"):
        axes = ("metric_step",)
    elif name.startswith("attributions"):
        axes = MAP_DIMENSIONS.get(rest, tuple(f"axis_{i}" for i in range(1, rest + 1)))
        if "/" in name:
            axes = tuple(f"{name.split('/', 1)[1]}_{axis}" for axis in axes)
    else:
        axes = ()
    return lead + axes[:rest]


def create_store(location: str | os.PathLike, count: int, layout: ArrayLayout, parameters: dict):
    """A new store at location (whatever was there is replaced) with every array of the layout at
    `count` instances, unwritten (NaN for floats, 0 for integers, "" for text), and the run's
    parameters as the group's attributes, as attributions.h5 has them (None as ""). -> the group."""
    from zarr.codecs import BloscCodec

    if not is_url(location):
        remove(Path(str(location).removeprefix("file://")))  # an earlier run's partial store: nothing of it is kept
    group = open_store(location, mode="w")
    group.attrs.update({key: "" if value is None else _json_value(value) for key, value in parameters.items()})
    for name, shape in layout.shapes().items():
        text = name in TEXT_ARRAYS
        dtype: Any = str if text else numeric_dtype(name)
        fill: Any = "" if text else (np.nan if np.dtype(dtype).kind == "f" else 0)
        chunk = 1 if is_row_array(name) else VALUE_CHUNK
        group.create_array(
            name,
            shape=(count, *shape),
            chunks=(chunk, *shape),
            dtype=dtype,
            fill_value=fill,
            compressors=BloscCodec(**CODEC),  # type: ignore[arg-type]
            dimension_names=dimension_names(name, shape, layout),
        )
    return group


def write_rows(location: Location, indices: np.ndarray | list[int] | range, rows: dict) -> None:
    """Write these instances (positions in the run) of the named arrays: rows[name] holds
    len(indices) of them in the order of indices. A map's chunks are one instance each, so
    processes that write disjoint instances never touch the same object; a value array's chunk
    spans VALUE_CHUNK instances, so only one process may write those (finish_store)."""
    group = open_store(location)
    indices = np.asarray(indices, dtype=np.int64)
    if not len(indices):
        return
    for name, values in rows.items():
        array = group[name]
        data = _stored(name, values)
        for start, stop, first in _runs(indices):  # contiguous runs as slices: no fancy indexing
            array[start:stop] = data[first : first + stop - start]


def finish_store(location: Location, values: dict | None = None) -> None:
    """The per-instance values gathered by the one process that writes them (name -> every
    instance's), then the metadata consolidated into the root zarr.json, which makes opening the
    store one read (xarray asks for it). A store is finished when its zarr.json has it."""
    import zarr

    group = open_store(location)
    if values:
        count = len(next(iter(values.values())))
        write_rows(group, np.arange(count), values)
    with warnings.catch_warnings():
        # zarr notes that consolidated metadata is zarr-python's extension of the v3 specification;
        # xarray and dask read it, and other readers read the arrays' own zarr.json as before
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        zarr.consolidate_metadata(group.store, path=group.path, zarr_format=3)


def instance_maps(location: Location, index: int) -> np.ndarray:
    """One instance's attributions (a cluster run: one model input, so one `attributions` array)."""
    return np.asarray(open_store(location)["attributions"][index])


def grow_store(location: Location, count: int, names: list[str] | None = None) -> None:
    """The named arrays (all by default) at `count` instances. One process only: it rewrites each
    array's metadata."""
    group = open_store(location)
    for array in _all_arrays(group) if names is None else [group[name] for name in names]:
        array.resize((count, *array.shape[1:]))


class ZarrWriter:
    """The local sink: OUT/attributions.zarr under its temporary name, written as a cluster's
    processes would write it. The maps go into the store a group at a time (write_rows); the small
    per-instance values are kept, as the NumpyWriter keeps text, and written once at the end
    (finish_store), one chunk of VALUE_CHUNK instances at a time instead of rewritten per group."""

    OWNS = ("attributions.zarr",)

    def __init__(self, out: Path, layout: ArrayLayout, attributes: dict):
        self.partial = PartialFile(out / "attributions.zarr")
        self.layout = layout
        self.rows = 0
        self.maps = [name for name in layout.shapes() if is_row_array(name)]
        self.values: dict[str, list] = {name: [] for name in layout.shapes() if not is_row_array(name)}
        try:
            self.group = create_store(self.partial.temporary, 0, layout, attributes)
        except BaseException:
            self.partial.discard()
            raise

    def append(self, results: Results) -> None:
        count = len(results.ids)
        columns = self.layout.columns(results)
        grow_store(self.group, self.rows + count, self.maps)
        write_rows(self.group, np.arange(self.rows, self.rows + count), {name: columns[name] for name in self.maps})
        for name, kept in self.values.items():
            kept.append(_stored(name, columns[name]))
        self.rows += count

    def close(self) -> None:
        grow_store(self.group, self.rows)
        finish_store(self.group, {name: np.concatenate(kept) for name, kept in self.values.items()} if self.rows else None)
        self.partial.commit()

    def abort(self) -> None:
        self.partial.discard()


def _all_arrays(group) -> list:
    return [node for _, node in group.members(max_depth=None) if not hasattr(node, "members")]


def _runs(indices: np.ndarray):
    """(start, stop, position in indices) of each run of consecutive indices."""
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    for first, last in zip(np.r_[0, breaks], np.r_[breaks, len(indices)]):
        yield int(indices[first]), int(indices[last - 1]) + 1, int(first)


def _stored(name: str, values) -> np.ndarray:
    if name in TEXT_ARRAYS:  # variable-length UTF-8: ids of any length, unknown when the store is made
        return np.asarray(values, dtype=object).astype(str).astype(object)
    return np.asarray(values, dtype=numeric_dtype(name))


def _json_value(value):
    """A parameter as JSON holds it (the group's attributes are JSON)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value]
    return value if isinstance(value, (str, int, float, bool, dict)) else str(value)


class ClusterValues:
    """A cluster run's attributions.zarr, whose maps the workers wrote (write_rows): the driver
    adds every instance's values and finishes it. at: the store (a URI, or a local folder under
    its .partial name, renamed onto OUT/attributions.zarr when the run completed)."""

    OWNS = ("attributions.zarr",)

    def __init__(self, at: str, layout: ArrayLayout, attributes: dict, final: Path | None):
        self.at, self.layout, self.final = at, layout, final
        self.attributes = {key: "" if value is None else _json_value(value) for key, value in attributes.items()}
        self.values: dict[str, list] = {}
        self.indices: list[np.ndarray] = []  # where each group's instances sit (a --fail-fast run gathers some only)
        self.shards = self.removed = 0  # run.json's figures of the shards it replaces

    def append(self, results: Results) -> None:
        self.indices.append(np.asarray(results.indices, np.int64))
        for name, values in self.layout.columns(results).items():
            if not is_row_array(name):
                self.values.setdefault(name, []).append(np.asarray(values))

    def close(self) -> None:
        group = open_store(self.at)
        group.attrs.update(self.attributes)
        if self.values:
            write_rows(group, np.concatenate(self.indices), {name: np.concatenate(kept) for name, kept in self.values.items()})
        finish_store(group)
        if self.final is not None:
            PartialFile(self.final).commit()

    def abort(self) -> None:
        if self.final is not None:
            PartialFile(self.final).discard()
