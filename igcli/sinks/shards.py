"""A cluster run's attribution arrays (--ray): one HDF5 file per group of instances a worker
explained, OUT/shards/<first index>-<run>-<attempt>.h5, written once and atomically; at the end
OUT/attributions.h5 presents them as one file with the usual dataset names, its `attributions`
an HDF5 virtual dataset over the shards (no copy: the driver never holds the arrays).

Each shard holds every per-instance value of its rows (the record Results.to_arrays gives, as the
local journal keeps it), with the content hash, so the shards are also the run's journal: a --resume reuses a row whose id and content hash match, and nothing
else. A row can be in several shards (a retried task, a changed input explained again); the
virtual dataset points at exactly one, and shards nobody points at are removed at the end."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from igcli.atomic import atomic_path
from igcli.results import Results
from igcli.sinks.arrays import ArrayLayout, numeric_dtype

DIRECTORY = "shards"
_NAME = re.compile(r"^[0-9]+-[0-9a-f]+-[0-9a-f]+\.h5$")


def write_shard(out: Path, name: str, arrays: dict) -> int:
    """arrays: a group's record (Results.to_arrays), attributions already in the layout of
    attributions.h5. Written under a temporary name, flushed, then renamed: a shard is complete
    whenever it exists."""
    import h5py

    rows = len(arrays["ids"])
    text = h5py.string_dtype()
    with atomic_path(out / DIRECTORY / name, durable=True) as temporary:
        with h5py.File(temporary, "w") as handle:
            for field, values in arrays.items():
                values = np.asarray(values)
                if values.dtype.kind in "OUS":
                    handle.create_dataset(field, data=values.astype(object), dtype=text)
                elif field == "attributions":
                    handle.create_dataset(field, data=values.astype(np.float32), chunks=(1, *values.shape[1:]) if rows else None)
                else:
                    handle.create_dataset(field, data=values)
    return rows


def read_attributions(out: Path, shard: str, row: int) -> np.ndarray:
    import h5py

    with h5py.File(out / DIRECTORY / shard, "r") as handle:
        return handle["attributions"][row]


def _records(path: Path) -> dict:
    """A shard's record arrays but the attributions, text decoded."""
    import h5py

    with h5py.File(path, "r") as handle:
        return {
            name: np.array([v.decode() if isinstance(v, bytes) else str(v) for v in handle[name][()].ravel()], dtype=str).reshape(handle[name].shape)
            if handle[name].dtype.kind in "OS"
            else handle[name][()]
            for name in handle
            if name != "attributions"
        }


@dataclass
class Finished:
    """One row a shard holds, as --resume reuses it."""

    shard: str
    row: int
    size: int  # the shard's rows
    record: dict  # the row's values (Results.to_arrays layout, one row), not its attributions


class ShardIndex:
    """Every successful row of the shards in OUT, by (id, content hash)."""

    def __init__(self, rows: dict | None = None):
        self.rows: dict[tuple[str, str], Finished] = rows or {}

    @classmethod
    def load(cls, out: Path) -> ShardIndex:
        rows = {}
        folder = out / DIRECTORY
        shards = sorted(folder.glob("*.h5"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
        for path in shards:  # newest last: it wins a tie
            if not _NAME.match(path.name):
                continue
            try:
                data = _records(path)
            except (OSError, KeyError, ValueError):
                continue  # not a shard igcli finished: its instances are computed again
            size = len(data["ids"])
            for row in range(size):
                if data["statuses"][row] == "ok":
                    record = {name: values[row] for name, values in data.items()}
                    rows[(str(record["ids"]), str(record["hashes"]))] = Finished(path.name, row, size, record)
        return cls(rows)

    def known(self) -> dict[str, list[str]]:
        """id -> the content hashes a shard holds a finished row for."""
        found: dict[str, list[str]] = {}
        for ident, digest in self.rows:
            found.setdefault(ident, []).append(digest)
        return found

    def get(self, ident: str, digest: str) -> Finished | None:
        return self.rows.get((ident, digest))


class ShardedArrays:
    """The attribution arrays of a cluster run, a sink like the others: it takes the driver's
    results (their attributions stay in the shards; extras["shard"] says where each row is:
    shard name, row, the shard's rows) and at close writes attributions.h5 over the shards, then
    removes the shards nobody points at. A failed run leaves every shard for --resume."""

    OWNS = ("shards",)

    def __init__(self, out: Path, layout: ArrayLayout, attributes: dict):
        self.out, self.layout, self.attributes = out, layout, attributes
        self.columns: list[dict] = []
        self.places: list[tuple[str, int, int]] = []
        self.shards = self.removed = 0  # after close: the shards attributions.h5 points at, those removed

    def append(self, results: Results) -> None:
        columns = self.layout.columns(results)
        self.columns.append({name: np.asarray(values) for name, values in columns.items() if not name.startswith("attributions")})
        self.places += [extra["shard"] for extra in results.extras]

    def close(self) -> None:
        count = len(self.places)
        if self.columns:
            columns = {name: np.concatenate([group[name] for group in self.columns]) for name in self.columns[0]}
        else:
            columns = {name: np.zeros((0, *shape)) for name, shape in self.layout.shapes().items()}
        shard_of = np.array([shard for shard, _, _ in self.places], dtype=object)
        row_of = np.array([row for _, row, _ in self.places], np.int64)
        sizes = {shard: size for shard, _, size in self.places}
        write_virtual_file(self.out, count, shard_of, row_of, sizes, self.layout, columns, self.attributes)
        self.shards, self.removed = len(sizes), remove_unused(self.out, set(sizes))

    def abort(self) -> None:
        pass  # the shards are what --resume continues from


def write_virtual_file(
    out: Path, count: int, shard_of: np.ndarray, row_of: np.ndarray, shard_sizes: dict, layout: ArrayLayout, columns: dict, attributes: dict
) -> None:
    """OUT/attributions.h5: `attributions` virtual over the shards (instance i is row row_of[i]
    of shard shard_of[i]), every other array (ids, scores, status, ...) written in full: they are
    small, and the driver has them. columns: layout.columns(results) of every instance."""
    import h5py

    text = h5py.string_dtype()
    shapes = layout.shapes()
    per_instance = shapes["attributions"]
    virtual = h5py.VirtualLayout(shape=(count, *per_instance), dtype=np.float32)
    sources = {name: h5py.VirtualSource(f"{DIRECTORY}/{name}", "attributions", shape=(size, *per_instance)) for name, size in shard_sizes.items()}
    for start, stop in _runs(shard_of, row_of):
        first = int(row_of[start])
        virtual[start:stop] = sources[shard_of[start]][first : first + stop - start]
    with atomic_path(out / "attributions.h5") as temporary:
        with h5py.File(temporary, "w") as handle:
            handle.create_virtual_dataset("attributions", virtual, fillvalue=np.nan)
            for name in shapes:
                if name == "attributions":
                    continue
                values = np.asarray(columns[name])
                if values.dtype.kind in "OUS":
                    handle.create_dataset(name, data=values.astype(str).astype(object), dtype=text)
                else:
                    handle.create_dataset(name, data=values.astype(numeric_dtype(name)))
            for key, value in attributes.items():
                handle.attrs[key] = "" if value is None else value


def _runs(shard_of: np.ndarray, row_of: np.ndarray):
    """(start, stop) of each stretch of instances that are consecutive rows of one shard."""
    count = len(shard_of)
    if count == 0:
        return
    breaks = np.flatnonzero((shard_of[1:] != shard_of[:-1]) | (row_of[1:] != row_of[:-1] + 1)) + 1
    edges = [0, *breaks.tolist(), count]
    yield from zip(edges[:-1], edges[1:])


def remove_unused(out: Path, used: set[str]) -> int:
    """Remove the shards no row of attributions.h5 points at (retried tasks, superseded rows)."""
    folder = out / DIRECTORY
    removed = 0
    for path in folder.glob("*.h5") if folder.is_dir() else []:
        if path.name not in used and _NAME.match(path.name):
            path.unlink(missing_ok=True)
            removed += 1
    return removed
