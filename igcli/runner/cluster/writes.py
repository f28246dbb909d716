"""The light task after a cluster run's workers: each group's shard and heatmaps into OUT."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np

from igcli.runner.cluster.worker import SMALL, unpickled_rows
from igcli.runner.group import REUSED


def write_outputs(batch: dict, plan, out: str, run: str, arrays_at: str | None = None) -> dict:
    """This group's shard (or its rows of attributions.zarr at arrays_at) and heatmaps into OUT
    (a folder every node mounts, or a URI: the heatmaps drawn here, then put whole); the small
    per-instance values go on to the driver. A retried task writes a new shard (never over one
    the driver may already point at), the same rows of the Zarr store and the same heatmaps."""
    from igcli.results import Results
    from igcli.sinks.shards import write_shard
    from igcli.stores import is_remote

    started = time.perf_counter()
    remote = is_remote(out)
    folder = Path(tempfile.mkdtemp(prefix="igcli-heatmaps-")) if remote and plan.draws_heatmaps else Path(out)
    size = len(batch["index"])
    reused = batch["status"] == REUSED
    computed = np.flatnonzero(~reused)
    several = plan.targets.several
    arrays = unpickled_rows(batch["record"])
    arrays["attributions"] = np.array(batch["attributions"])  # Ray hands batches read-only
    results = Results.from_arrays(arrays, inputs=batch["inputs"], reused=reused)
    shard, shard_row, shard_size = batch["shard"].astype(object), batch["shard_row"].copy(), batch["shard_size"].copy()
    if plan.draws_heatmaps:  # first: a shard on disk means its heatmaps are too
        from igcli.sinks.selection import heatmap_writer

        heatmaps = heatmap_writer(plan, folder, whole_run=False)  # the driver, which sees every instance, draws overview.png
        missing = [row for row in np.flatnonzero(reused) if not heatmaps.drawn(results, int(row))]
        for row in missing:  # --resume: a heatmap deleted since is drawn again, from the shard (or store) that holds the row
            stored = _stored_maps(folder, arrays_at, str(shard[row]), int(shard_row[row]))
            results.attributions[row] = stored if several else stored[None]
        errors = [None if r else e for r, e in zip(reused, results.errors)]  # reused: drawn when missing
        heatmaps.append(replace(results, errors=errors))
        if remote:
            _put_folder(folder, out)
    if computed.size and arrays_at is not None:  # the rows, then the record that says they are there
        _write_zarr_rows(plan, results, batch["index"][computed], computed, arrays_at)
        from igcli.runner.cluster.zarr_journal import write_group_record

        record = {key: values[computed] for key, values in results.to_arrays().items() if key != "attributions"}
        write_group_record(out, f"{int(batch['index'][computed].min()):012d}-{run}-{uuid.uuid4().hex[:8]}.npz", record, batch["index"][computed])
    elif computed.size:  # then the shard, written once under a name of its own: the group's commit
        name = f"{int(batch['index'][computed].min()):09d}-{run}-{uuid.uuid4().hex[:8]}.h5"
        rows = {key: values[computed] for key, values in results.to_arrays().items()}
        if not several:  # attributions.h5's layout: without the target axis for one target
            rows["attributions"] = rows["attributions"][:, 0]
        write_shard(folder, name, rows)
        shard[computed] = name
        shard_row[computed] = np.arange(computed.size)
        shard_size[computed] = computed.size
    small = {name: batch[name] for name in SMALL if name in batch}
    small.update(
        shard=shard.astype(str), shard_row=shard_row, shard_size=shard_size, write_seconds=np.full(size, (time.perf_counter() - started) / max(size, 1))
    )
    return small


def _write_zarr_rows(plan, results, indices, computed, arrays_at: str) -> None:
    """The computed instances' maps into their own chunks of attributions.zarr (one instance a
    chunk: writers never share one); the per-instance values are the driver's (ClusterZarr)."""
    from igcli.sinks.arrays import array_layout
    from igcli.sinks.zarr_arrays import is_row_array, write_rows

    columns = array_layout(plan).columns(results)
    write_rows(arrays_at, indices, {name: np.asarray(values)[computed] for name, values in columns.items() if is_row_array(name)})


def _put_folder(folder: Path, out: str) -> None:
    """Heatmaps drawn here into OUT in a store, each a whole object; the local copies removed."""
    from igcli.stores import filesystem, join, store_problem

    files = [path for path in sorted(folder.rglob("*")) if path.is_file() and not path.name.endswith(".partial")]
    try:
        if files:
            fs, root = filesystem(out)
            fs.put([str(path) for path in files], [join(root, path.relative_to(folder).as_posix()) for path in files])
    except Exception as error:
        raise store_problem(out, error, "write the heatmaps") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _stored_maps(folder: Path, arrays_at: str | None, shard: str, row: int) -> np.ndarray:
    """A reused row's attributions, from its shard or from attributions.zarr."""
    from igcli.sinks.shards import read_attributions

    if arrays_at is None:
        return read_attributions(folder, shard, row)
    from igcli.sinks.zarr_arrays import instance_maps

    return instance_maps(arrays_at, row)
