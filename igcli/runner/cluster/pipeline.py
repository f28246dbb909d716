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


def listing(inputs, previous):
    """-> (the run's files as a pyarrow table sorted by path: path, index (in the input order), id,
    and known: 'hash:shard:row:size' of each finished row an earlier attempt left in OUT/shards;
    the files' absolute paths in input order)."""
    import pyarrow as pa

    files = [os.path.abspath(str(path)) for path in inputs.files]
    known = previous.known()
    entries = []
    for ident in inputs.ids:
        found = []
        for digest in known.get(ident, ()):
            entry = previous.get(ident, digest)
            found.append(f"{digest}:{entry.shard}:{entry.row}:{entry.size}")
        entries.append(" ".join(found))
    order = sorted(range(inputs.count), key=lambda i: files[i])
    columns = {
        "path": pa.array([files[i] for i in order], pa.string()),
        "index": pa.array(order, pa.int64()),
        "id": pa.array([inputs.ids[i] for i in order], pa.string()),
        "known": pa.array([entries[i] for i in order], pa.string()),
    }
    return pa.table(columns), files


def run_pipeline(cluster, plan, inputs, previous, progress, frame) -> Gathered:
    """The pipeline on the cluster, its rows gathered as they arrive."""
    from ray.data import ActorPoolStrategy, TaskPoolStrategy

    from igcli.runner.cluster.worker import ExplainWorker
    from igcli.runner.cluster.writes import write_outputs

    ray, settings = cluster.ray, cluster.settings
    table, files = listing(inputs, previous)
    cluster.listing = ray.put(table)  # kept by the driver for the whole run: the actors' restarts read it
    rows = group_rows(inputs.count, cluster.max_workers)
    io_tasks = max(2, cluster.max_workers)
    run = uuid.uuid4().hex[:8]
    out = os.path.abspath(str(frame.dir))
    blocks = math.ceil(inputs.count / rows)
    data = ray.data.read_binary_files(files, include_paths=True, num_cpus=cluster.io_cpus, override_num_blocks=blocks, concurrency=io_tasks)
    data = data.map_batches(
        ExplainWorker,
        fn_constructor_args=(plan, [cluster.listing], os.getcwd(), __version__),
        batch_size=rows,
        batch_format="numpy",
        compute=ActorPoolStrategy(min_size=settings.min_workers, max_size=cluster.max_workers),
        num_cpus=settings.cpus,
        **({"num_gpus": settings.gpus} if settings.gpus else {}),
    )
    data = data.map_batches(
        write_outputs, fn_args=(plan, out, run), batch_size=None, batch_format="numpy", num_cpus=cluster.io_cpus, compute=TaskPoolStrategy(size=io_tasks)
    )
    return _gather(cluster, data, plan, inputs.count, progress, frame)


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
