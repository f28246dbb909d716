"""The journal of a cluster run into attributions.zarr: each write task, once its rows are in the
store, writes a group record OUT/.igcli/groups/<first index>-<run>-<attempt>.npz (every value of
its rows but their maps, with their content hashes and their places in the store), whole (a
rename on a file system, one put in an object store). A --resume reads the records back and
reuses a row whose id and content hash match and that keeps its place in the input order (its
maps are where the store holds them); anything else is computed again.

The records stay after the run, as a shard-backed run's shards do, for the next --resume."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from igcli.atomic import atomic_path
from igcli.sinks.shards import Finished, ShardIndex
from igcli.stores import filesystem, is_remote, join, store_problem

FOLDER = ".igcli/groups"
STORE = "zarr"  # the `shard` a reused row names: its maps are in attributions.zarr, at `row`


def write_group_record(out: str, name: str, rows: dict, positions) -> None:
    """rows: the computed instances' values (Results.to_arrays, attributions left out); positions:
    their places in the store."""
    buffer = io.BytesIO()
    np.savez(buffer, positions=np.asarray(positions, np.int64), **{key: value for key, value in rows.items() if key != "attributions"})
    if is_remote(out):
        try:
            fs, root = filesystem(out)
            fs.pipe_file(join(root, FOLDER, name), buffer.getvalue())
        except Exception as error:
            raise store_problem(out, error, "write a group record") from None
        return
    with atomic_path(Path(out) / FOLDER / name, durable=True) as temporary:
        temporary.write_bytes(buffer.getvalue())


def _records(out: str) -> list[bytes]:
    """Every group record's bytes (a record cut short is left out by its reader)."""
    if not is_remote(out):
        folder = Path(out) / FOLDER
        return [path.read_bytes() for path in sorted(folder.glob("*.npz"))] if folder.is_dir() else []
    fs, root = filesystem(out)
    try:
        names = sorted(fs.glob(join(root, FOLDER, "*.npz")))
        return list(fs.cat(names).values()) if names else []
    except FileNotFoundError:
        return []
    except Exception as error:
        raise store_problem(out, error, "read the group records") from None


def load_zarr_index(out: str, ids: list[str]) -> ShardIndex:
    """The finished rows of earlier attempts that keep their place: ids[position] is theirs."""
    rows: dict[tuple[str, str], Finished] = {}
    for data in _records(out):
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as record:
                arrays = {name: record[name] for name in record.files}
        except (OSError, ValueError):
            continue
        for row, position in enumerate(arrays.pop("positions")):
            values = {name: values[row] for name, values in arrays.items()}
            ident, digest = str(values["ids"]), str(values["hashes"])
            if values["statuses"] == "ok" and 0 <= position < len(ids) and ids[position] == ident:
                rows[(ident, digest)] = Finished(STORE, int(position), 0, values)
    return ShardIndex(rows)
