"""A cluster run's Ray Data pipeline, and what the driver gathers from it.

    read_binary_files (the image files' bytes)
      -> ExplainWorker actors (worker.py): the model loaded once per actor, each group of images
         decoded and explained with igcli's own engine
      -> write_outputs tasks: each group's shard (OUT/shards/*.h5) and heatmaps written into OUT

The driver gathers only the small per-instance values, as they arrive, by instance index; once
the pipeline is done they go to the run's sinks a group at a time, in input order."""

from __future__ import annotations

import math
import os
import time
import uuid

import numpy as np

from igcli import __version__
from igcli.errors import IgcliError
from igcli.runner.cluster.connection import cause
from igcli.runner.cluster.watch import HeadLost
from igcli.runner.cluster.worker import SMALL


def group_rows(count: int, workers: int) -> int:
    """Instances per group (a block of Ray Data, a call of a worker, a shard): a local run's
    GROUP_SIZE, or fewer so that every worker gets several groups of a small job."""
    from igcli.runner.local import GROUP_SIZE

    return max(1, min(GROUP_SIZE, math.ceil(count / (4 * workers))))


def listing(files: list[str], ids: list[str], previous):
    """-> the run's files (or rows: rows.row_key) as a pyarrow table sorted by path: path, index
    (in the input order), id, and known: 'hash:shard:row:size' of each finished row an earlier
    attempt left in OUT/shards."""
    import pyarrow as pa

    known = previous.known()
    entries = []
    for ident in ids:
        found = []
        for digest in known.get(ident, ()):
            entry = previous.get(ident, digest)
            found.append(f"{digest}:{entry.shard}:{entry.row}:{entry.size}")
        entries.append(" ".join(found))
    order = sorted(range(len(files)), key=lambda i: files[i])
    columns = {
        "path": pa.array([files[i] for i in order], pa.string()),
        "index": pa.array(order, pa.int64()),
        "id": pa.array([ids[i] for i in order], pa.string()),
        "known": pa.array([entries[i] for i in order], pa.string()),
    }
    return pa.table(columns)


def input_files(inputs):
    """-> (the files as Ray Data reads them, the pyarrow file system that reads them): local
    absolute paths (None: Ray's own), or keys in an object store read through its fsspec driver
    on every worker (credentials from the workers' environment), no disk shared."""
    from igcli.data.store_images import StoreImageInputs

    if isinstance(inputs, StoreImageInputs):
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        return [inputs.fs._strip_protocol(str(path)) for path in inputs.files], PyFileSystem(FSSpecHandler(inputs.fs))
    return [os.path.abspath(str(path)) for path in inputs.files], None


def output_places(plan, frame) -> tuple[str, str | None]:
    """-> (where the workers write heatmaps and shards: OUT itself, a folder every node mounts or
    a URI; where they write their rows of attributions.zarr, None for OUT/shards/*.h5)."""
    from igcli.atomic import partial_name
    from igcli.stores import is_remote, join

    remote = is_remote(plan.options.out)
    out = plan.options.out.rstrip("/") if remote else os.path.abspath(str(frame.dir))
    if plan.options.format != "zarr":
        return out, None
    return out, join(out, "attributions.zarr") if remote else str(partial_name(frame.dir.absolute() / "attributions.zarr"))


def _shares_nothing(options) -> bool:
    """Whether MODEL, INPUTS and OUT are all in object stores: no worker needs the driver's disk."""
    from igcli.stores import is_remote

    return all(is_remote(path) for path in (options.model, options.inputs, options.out))


def _keeps_store(plan, frame, arrays_at: str, count: int, previous) -> bool:
    """A --resume into attributions.zarr keeps the store an earlier attempt wrote when it has the
    run's length and rows to reuse (a finished local store is moved back under its .partial name)."""
    from igcli.sinks.zarr_arrays import open_store
    from igcli.stores import is_remote

    if not previous.rows:
        return False
    if not is_remote(arrays_at):
        final = frame.dir.absolute() / "attributions.zarr"
        if final.is_dir() and not os.path.isdir(arrays_at):
            os.replace(final, arrays_at)
    try:
        return open_store(arrays_at)["ids"].shape[0] == count
    except Exception:  # none there, or not a store igcli finished making
        return False


def run_pipeline(cluster, plan, inputs, previous, progress, frame) -> Gathered:
    """The pipeline on the cluster, its rows gathered as they arrive."""
    from ray.data import ActorPoolStrategy, TaskPoolStrategy

    from igcli.runner.cluster.worker import ExplainWorker
    from igcli.runner.cluster.writes import write_outputs

    ray, settings = cluster.ray, cluster.settings
    out, arrays_at = output_places(plan, frame)
    if arrays_at is not None and not _keeps_store(plan, frame, arrays_at, inputs.count, previous):
        from igcli.sinks.arrays import array_layout
        from igcli.sinks.zarr_arrays import create_store

        previous.rows.clear()  # a new store: no earlier maps in it to reuse
        create_store(arrays_at, inputs.count, array_layout(plan), plan.parameters)  # every array at full length, before any worker writes
    data, table, rows = _source(ray, cluster, plan, inputs, previous)
    cluster.listing = ray.put(table)  # kept by the driver for the whole run: the actors' restarts read it
    io_tasks = max(2, cluster.max_workers)
    run = uuid.uuid4().hex[:8]
    data = data.map_batches(
        ExplainWorker,
        fn_constructor_args=(plan, [cluster.listing], None if _shares_nothing(plan.options) else os.getcwd(), __version__),
        batch_size=rows,
        batch_format="numpy",
        compute=ActorPoolStrategy(min_size=settings.min_workers, max_size=cluster.max_workers),
        num_cpus=settings.cpus,
        **({"num_gpus": settings.gpus} if settings.gpus else {}),
    )
    data = data.map_batches(
        write_outputs,
        fn_args=(plan, out, run, arrays_at),
        batch_size=None,
        batch_format="numpy",
        num_cpus=cluster.io_cpus,
        compute=TaskPoolStrategy(size=io_tasks),
    )
    return _gather(cluster, data, plan, inputs.count, progress, frame)


def _source(ray, cluster, plan, inputs, previous):
    """-> (the dataset of the run's files or rows, its listing, instances per group). Image files
    are read by Ray Data's tasks; the rows of arrays and tables were read by the driver (rows.Rows)."""
    from igcli.runner.cluster.rows import Rows, row_key

    rows = group_rows(inputs.count, cluster.max_workers)
    if isinstance(inputs, Rows):
        table = listing([row_key(i) for i in range(inputs.count)], inputs.ids, previous)
        return ray.data.from_arrow(inputs.tables), table, rows
    files, filesystem = input_files(inputs)
    blocks = math.ceil(inputs.count / rows)
    data = ray.data.read_binary_files(
        files, filesystem=filesystem, include_paths=True, num_cpus=cluster.io_cpus, override_num_blocks=blocks, concurrency=max(2, cluster.max_workers)
    )
    return data, listing(files, inputs.ids, previous), rows


def _gather(cluster, data, plan, count: int, progress, frame) -> Gathered:
    gathered = Gathered(count)
    bar = progress(count, plan.progress_note) if progress else None
    tick = time.perf_counter()
    cluster.start_watch()
    try:
        for batch in data.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=0):
            if "first_result_seconds" not in cluster.timings:
                cluster.timings["first_result_seconds"] = time.perf_counter() - tick
            added = gathered.add(batch)
            frame.saved_elsewhere = int(gathered.got.sum())  # in their shards, for --resume
            if bar is not None:
                bar.update(added)
            if plan.options.fail_fast and gathered.failed:
                frame.tally.stopped_early = True
                break
    except HeadLost as lost:
        saved = f"{int(gathered.got.sum()):,} of {count:,} instances are saved in OUT/shards"
        raise IgcliError(f"{lost}; {saved}: once the head runs again, run the same command with --resume") from None
    except Exception as error:
        raise IgcliError(f"the cluster run failed: {cause(error)}") from error
    finally:
        cluster.stop_watch()  # the rows are in: the head is no longer needed
        if bar is not None:
            bar.close()
    cluster.timings["explain_wall_seconds"] = time.perf_counter() - tick
    return gathered


def _empty_column(kind, count: int) -> np.ndarray:
    if kind in (str, object):
        return np.full(count, None if kind is object else "", dtype=object)
    return np.full(count, -1 if kind is np.int64 else np.nan, dtype=kind)


class Gathered:
    """The small per-instance values, by instance index; each instance kept once."""

    def __init__(self, count: int):
        self.count = count
        self.got = np.zeros(count, bool)
        self.columns = {name: _empty_column(kind, count) for name, kind in SMALL.items()}
        self.duplicates = 0
        self.failed = 0

    def add(self, batch: dict) -> int:
        index = np.asarray(batch["index"], np.int64)
        new = ~self.got[index]
        self.duplicates += int((~new).sum())
        rows = index[new]
        for name in self.columns:
            self.columns[name][rows] = batch[name][new]
        self.got[rows] = True
        self.failed += int((batch["status"][new] == "error").sum())
        return int(new.sum())
