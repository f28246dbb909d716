"""What runs on a Ray cluster's workers for `igcli explain --ray` (the driver is pipeline.py).

ExplainWorker, one per actor of the pool, loads the model once and turns groups of image files
(their bytes, as Ray Data's read_binary_files delivers them) into results with igcli's own engine:
decode_image and image_batch, then explain_group, the same code a local run uses. write_outputs
(writes.py), a light task after it, writes each group's shard and heatmaps straight into OUT and
hands the driver only the small per-instance values.

Everything a worker needs arrives as constructor or call arguments (the pickled plan, the
listing, the driver's working directory), never through environment variables: a running
cluster's workers do not see the driver's shell. Nothing here imports Ray at module level."""

from __future__ import annotations

import bisect
import os
import pickle
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from igcli.runner.group import REUSED

# What travels from the workers to the driver per instance (and its type): where it is, how it
# went, the worker's figures, and `record`: every value of the instance but its attributions
# (one row of Results.to_arrays, pickled), whatever the options put in it (targets, metrics, ...).
SMALL = {
    "index": np.int64,
    "id": str,
    "hash": str,
    "status": str,
    "error": str,
    "shard": str,
    "shard_row": np.int64,
    "shard_size": np.int64,
    "worker": str,
    "seconds": np.float64,
    "write_seconds": np.float64,
    "batch_size": np.int64,
    "branches": np.int64,
    "worker_started": np.float64,
    "worker_ready": np.float64,
    "call": np.int64,
    "cpu_seconds": np.float64,
    "record": object,
}


def assigned_cpus() -> int:
    """The CPUs Ray gave this worker (whole ones, at least 1), not the node's count."""
    import ray

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    return max(1, int(cpus))


class ExplainWorker:
    """One actor of the pool: the model loaded once, groups of images explained with igcli's own
    engine. listing: a pyarrow table sorted by path (path, index, id, known: the content hashes an
    earlier attempt finished, shard and row of each)."""

    def __init__(self, plan, listing, cwd: str | None, version: str):
        from igcli import __version__

        self.started = time.time()  # wall clock: the driver compares it with its own (same machine, or synchronised clocks)
        if version != __version__:
            raise RuntimeError(f"this worker has igcli {__version__}, the driver {version}: install the same igcli on every node")
        if cwd is not None and not Path(cwd).is_dir():
            raise RuntimeError(
                f"{cwd} (the driver's working directory) does not exist on {socket.gethostname()}: "
                "--ray needs MODEL, INPUTS and OUT on a file system every node shares"
            )
        if cwd is not None:  # None: every path of the plan is a URI, no disk is shared
            os.chdir(cwd)  # relative paths in the plan mean what they meant on the driver
        self.plan = plan
        self.images = plan.image_options
        self.shape = tuple(plan.instance_shape)
        if isinstance(listing, list):  # [an object reference]: read from the object store, not copied per actor
            import ray

            listing = ray.get(listing[0])
        self.listing = listing
        self.paths = _Sorted(listing.column("path"))
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.cpus = assigned_cpus()
        self.decoder = ThreadPoolExecutor(max_workers=self.cpus)  # decoding in as many threads as this worker has CPUs
        self.method: Any = None  # loaded with the first group that has work: a --resume with nothing new needs no TensorFlow
        self.batch_size = self.branches = -1
        self.ready = float("nan")
        self.calls = 0  # groups that needed the model: the first one also traces the gradient function

    def _load(self) -> None:
        """TensorFlow with thread pools of this worker's CPUs, the model, the method: once."""
        from igcli.methods import build_method
        from igcli.methods.core import auto_batch_size, auto_branches
        from igcli.plan import open_model
        from igcli.tfimport import set_debug, tensorflow

        set_debug(self.plan.options.debug)
        tf = tensorflow()
        try:  # TensorFlow's thread pools sized to this worker's share, not the node
            tf.config.threading.set_intra_op_parallelism_threads(self.cpus)
            tf.config.threading.set_inter_op_parallelism_threads(self.cpus)
        except RuntimeError:  # already initialised in this process
            pass
        self.model, self.space = open_model(self.plan)
        self.batch_size = self.plan.batch_size or auto_batch_size(self.space.shape)
        self.method = build_method(self.plan, self.space.model_call, self.space.shape, self.batch_size, auto_branches(cpus=self.cpus))
        self.branches = self.method.core.branches
        self.ready = time.time()

    def __call__(self, batch: dict) -> dict:
        from igcli.results import Results
        from igcli.runner.group import explain_group

        started, cpu = time.perf_counter(), time.process_time()
        group, previous = self._group(batch)
        loading = cpu_loading = 0.0
        if any(error is None for error in group.errors):
            if self.method is None:
                tick, cpu_tick = time.perf_counter(), time.process_time()
                self._load()
                loading, cpu_loading = time.perf_counter() - tick, time.process_time() - cpu_tick
            results = explain_group(self.method, self.space, group, self.plan)
            self.calls += 1
        else:  # nothing to compute: every row reused or unreadable
            plan = self.plan
            results = Results.empty(group, tuple(plan.stored_shape), plan.targets.count, plan.metrics, plan.options.metric_steps)
        seconds = time.perf_counter() - started - loading  # decoding and explaining; the model's loading is in worker_ready
        cpu = time.process_time() - cpu - cpu_loading  # this process's CPU time meanwhile: less than seconds when others took the CPU
        return self._values(results, previous, seconds, cpu)

    def _group(self, batch: dict):
        """-> (the group's images decoded as a Batch in input order, rows an earlier attempt
        finished marked reused; per row the (hash, shard, row, size) of that attempt, or None)."""
        from igcli.data.images import decode_image, image_batch
        from igcli.runner.group import mark_reusable

        rows = sorted((*self._locate(path), position) for position, path in enumerate(batch["path"]))  # input order
        indices = np.array([index for index, _, _ in rows], np.int64)
        ids = [self.listing.column("id")[row].as_py() for _, row, _ in rows]
        known = [self.listing.column("known")[row].as_py() for _, row, _ in rows]
        positions = [position for _, _, position in rows]
        if self.plan.input_kind == "images":
            decoded = list(self.decoder.map(lambda p: decode_image(bytes(batch["bytes"][p]), self.shape[-1], self.shape[:2], self.images), positions))
            group = image_batch(indices, ids, [str(batch["path"][p]) for p in positions], decoded, self.shape, self.plan.preprocess)
        else:  # rows of an array or a table, as the driver's reader made them
            from igcli.runner.cluster.rows import row_batch

            group = row_batch(batch, positions, indices, ids, self.shape)
        found = {ident: _previous(earlier, extra["hash"]) for ident, earlier, extra in zip(ids, known, group.extras)}
        reused = set(mark_reusable(group, lambda ident, _: found[ident] is not None))
        for row in reused:
            group.extras[row]["reused"] = True
        return group, [found[ident] if row in reused else None for row, ident in enumerate(ids)]

    def _values(self, results, previous: list, seconds: float, cpu: float) -> dict:
        """What goes on to the write task: SMALL's columns, the attributions and the model inputs."""
        size = len(results.ids)
        statuses = [REUSED if extra.get("reused") else status for extra, status in zip(results.extras, results.statuses)]
        arrays = results.to_arrays()
        attributions = arrays.pop("attributions").astype(np.float32)
        return {
            "index": np.asarray(results.indices, np.int64),
            "id": np.array(results.ids, dtype=str),
            "hash": np.array([e["hash"] for e in results.extras], dtype=str),
            "status": np.array(statuses, dtype=str),
            "error": np.array(["" if e in (None, REUSED) else e for e in results.errors], dtype=str),
            "shard": np.array([m[1] if m else "" for m in previous], dtype=str),
            "shard_row": np.array([m[2] if m else -1 for m in previous], np.int64),
            "shard_size": np.array([m[3] if m else 0 for m in previous], np.int64),
            "worker": np.array([self.worker] * size, dtype=str),
            "seconds": np.full(size, seconds / max(size, 1)),
            "write_seconds": np.zeros(size),
            "batch_size": np.full(size, self.batch_size, np.int64),
            "branches": np.full(size, self.branches, np.int64),
            "worker_started": np.full(size, self.started),
            "worker_ready": np.full(size, self.ready),
            "call": np.full(size, self.calls, np.int64),
            "cpu_seconds": np.full(size, cpu / max(size, 1)),
            "record": _pickled_rows(arrays),
            "attributions": attributions,
            "inputs": results.inputs,
        }

    def _locate(self, path) -> tuple[int, int]:
        """A file's (index in the input order, row of the listing)."""
        path = str(path)
        row = bisect.bisect_left(self.paths, path)
        if row == len(self.paths) or self.paths[row] != path:
            raise RuntimeError(f"{path}: not a file of this run's listing")
        return self.listing.column("index")[row].as_py(), row


class _Sorted:
    """A sorted pyarrow string column, searchable with bisect without copying it per worker."""

    def __init__(self, column):
        self.column = column

    def __len__(self) -> int:
        return len(self.column)

    def __getitem__(self, row: int) -> str:
        return self.column[row].as_py()


def _previous(known: str, digest: str):
    """known: 'hash:shard:row:size' entries separated by spaces -> the one for this content."""
    for entry in known.split():
        earlier, shard, row, size = entry.split(":")
        if earlier == digest:
            return earlier, shard, int(row), int(size)
    return None


def _pickled_rows(arrays: dict) -> np.ndarray:
    """One bytes object per instance: its row of every array (within a cluster run's own processes)."""
    count = len(arrays["ids"])
    rows = np.empty(count, dtype=object)
    for row in range(count):
        rows[row] = pickle.dumps({name: values[row] for name, values in arrays.items()}, protocol=pickle.HIGHEST_PROTOCOL)
    return rows


def unpickled_row(row) -> dict:
    return pickle.loads(bytes(row))


def unpickled_rows(rows) -> dict:
    """The inverse of _pickled_rows: the arrays, one row per instance."""
    records = [unpickled_row(row) for row in rows]
    return {name: np.stack([record[name] for record in records]) for name in records[0]} if records else {}
