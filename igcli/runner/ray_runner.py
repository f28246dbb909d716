"""Run a plan on a Ray cluster (`igcli explain ... --ray local|auto|ADDRESS`).

The driver (this process) checks every option and loads the model exactly as a local run does
(make_plan), lists the inputs and computes their ids once, then hands Ray Data a pipeline:

    read_binary_files (the image files' bytes)
      -> ExplainWorker actors (ray_tasks.py): the model loaded once per actor, each group of
         images decoded and explained with igcli's own engine
      -> write_outputs tasks: each group's shard (OUT/shards/*.h5) and heatmaps written into OUT

and gathers only the small per-instance values. At the end it writes one set of results as a
local run does: summary.csv and attributions.h5 in input order (the attributions a virtual
dataset over the shards, never copied), overview.png, run.json (with a `cluster` section) and
report.html. OUT must be on a file system every node shares.

Faults: Ray restarts a killed actor and retries its group; a retried write makes a new shard and
the driver keeps one row per instance. A killed driver leaves finished shards behind; --resume
reuses a row only when the instance's id and content hash match (igcli's journal, not Ray's
checkpoints, which filter by id alone) and the options' fingerprint is the same."""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import re
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from igcli import __version__
from igcli.errors import IgcliError, UsageProblem
from igcli.report import RunReport
from igcli.runner.ray_tasks import REUSED, SMALL
from igcli.sinks import owned_names

IO_CPUS = 0.1  # logical CPUs of each read and write task, when the pool leaves room for them
IO_ROOM = 0.5  # ... which it does when the largest pool leaves at least this many CPUs free
MISSING = "--ray needs Ray, which is not installed here: pip install 'igcli[ray]'"


@dataclass(frozen=True)
class ClusterSettings:
    address: str  # local, auto or the cluster's address
    min_workers: int
    max_workers: int | None  # None: as many as the cluster holds when the run starts
    cpus: int  # per worker
    gpus: int  # per worker, whole


def cluster_settings(options) -> ClusterSettings:
    """--ray, --workers, --gpus-per-worker, --cpus-per-worker, checked without importing Ray."""
    address = str(options.ray).strip()
    if not address:
        raise UsageProblem("--ray: expected local, auto or the cluster's ADDRESS (host:port or ray://host:port)")
    text = str(options.workers).strip()
    low, high = 1, None
    if text != "auto":
        parts = text.split(":")
        try:
            if len(parts) == 1:
                low = high = int(parts[0])
            elif len(parts) == 2:
                low, high = int(parts[0]), (None if parts[1].strip() == "auto" else int(parts[1]))
            else:
                raise ValueError
        except ValueError:
            raise UsageProblem(f"--workers {text!r}: expected N, MIN:MAX or auto") from None
        if low < 1 or (high is not None and high < low):
            raise UsageProblem(f"--workers {text}: needs 1 <= MIN <= MAX")
    gpus = float(options.gpus_per_worker)
    if gpus < 0 or gpus != int(gpus):
        raise UsageProblem(f"--gpus-per-worker {options.gpus_per_worker:g}: whole GPUs only (TensorFlow runs out of memory on a shared one)")
    if int(options.cpus_per_worker) < 1:
        raise UsageProblem(f"--cpus-per-worker {options.cpus_per_worker}: must be at least 1")
    return ClusterSettings(address, low, high, int(options.cpus_per_worker), int(gpus))


def check_cluster_run(options) -> ClusterSettings:
    """Everything about --ray that can be refused in milliseconds, before the plan."""
    settings = cluster_settings(options)
    if options.format != "h5":
        raise UsageProblem(
            f"--format {options.format}: a cluster run writes attributions.h5, a virtual dataset over OUT/shards/ (no copy); use --format h5 with --ray"
        )
    if Path(options.inputs).suffix.lower() in (".npy", ".npz", ".csv") and Path(options.inputs).is_file():
        raise UsageProblem(f"{options.inputs}: --ray explains images (a folder, a glob or a file); run .npy, .npz and .csv inputs without --ray")
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("pyarrow") is None:
        raise UsageProblem(MISSING)
    return settings


def run_ray(options, progress=None, warn=print) -> RunReport:
    started = time.perf_counter()
    settings = check_cluster_run(options)
    from igcli.journal import Journal
    from igcli.plan import make_plan
    from igcli.sinks.outdir import prepare_out_dir
    from igcli.sinks.shards import ShardIndex

    plan, bench = make_plan(options, warn)
    if settings.gpus > 1:
        warn(
            f"warning: --gpus-per-worker {settings.gpus}: igcli's engine computes on one GPU; a worker's other GPUs stay idle unless the model places itself on them"
        )
    if plan.input_kind != "images":
        raise UsageProblem(f"{options.inputs}: --ray explains images; run {plan.input_kind} inputs without --ray")
    out = plan.out
    prepare_out_dir(out, options.overwrite, options.resume, owned_names())
    journal = Journal(out, plan.fingerprint, options.resume)  # the fingerprint a --resume must match, in state.json
    previous = ShardIndex.load(out) if options.resume else ShardIndex()
    report = RunReport(out=str(out), skipped=list(plan.skipped))
    for path in report.skipped:
        warn(f"igcli: skipped {path}: not an image file")
    ray = _import_ray()
    cluster = Cluster(ray, settings, options, warn)
    try:
        gathered = cluster.run(plan, bench.inputs, previous, progress, report)
    finally:
        cluster.close()
    return _finish(plan, bench, journal, previous, gathered, cluster, report, started)


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401 - ray without its data extra fails here
    except ImportError:
        raise UsageProblem(MISSING) from None
    return ray


class Cluster:
    """The connection to the cluster and the Ray Data pipeline of one run."""

    def __init__(self, ray, settings: ClusterSettings, options, warn):
        self.ray, self.settings, self.options, self.warn = ray, settings, options, warn
        self.owned = False
        self.timings: dict = {}
        self.facts: dict = {}
        self.levels = {}
        self.quiet = None if options.debug else QuietRay()
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        ray, settings, options, warn = self.ray, self.settings, self.options, self.warn
        tick = time.perf_counter()
        if not options.debug:
            for name in ("ray", "ray.data"):
                self.levels[name] = logging.getLogger(name).level
                logging.getLogger(name).setLevel(logging.ERROR)
        if ray.is_initialized():  # a program that calls igcli with Ray already connected
            pass
        else:
            common = {"include_dashboard": False, "log_to_driver": bool(options.debug), "logging_level": logging.INFO if options.debug else logging.ERROR}
            try:
                if settings.address == "local":
                    from igcli.cpus import usable_cpus

                    ray.init(address="local", num_cpus=usable_cpus(), **common)
                else:
                    _answers(settings.address)
                    ray.init(address=settings.address, **common)
            except (ConnectionError, ValueError, RuntimeError) as error:
                hint = ""
                if settings.address not in ("local", "auto") and os.environ.get("RAY_AUTH_MODE") is None:
                    hint = "; a cluster with token authentication needs RAY_AUTH_MODE=token here, and its token in ~/.ray/auth_token or RAY_AUTH_TOKEN"
                raise IgcliError(f"--ray {settings.address}: cannot connect to a Ray cluster ({' '.join(str(error).split())[:300]}{hint})") from None
            self.owned = True
        self.timings["connect_seconds"] = time.perf_counter() - tick
        resources = ray.cluster_resources()
        self.cpus, self.gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
        high = settings.max_workers
        if high is None:
            high = int(self.cpus // settings.cpus)
            if settings.gpus:
                high = min(high, int(self.gpus // settings.gpus))
            high = max(settings.min_workers, high)
        self.max_workers = high
        short = settings.min_workers * settings.cpus > self.cpus or settings.min_workers * settings.gpus > self.gpus
        if short:
            what = f"{settings.min_workers} worker(s) of {settings.cpus} CPU(s)" + (f" and {settings.gpus} GPU(s)" if settings.gpus else "")
            have = f"{self.cpus:g} CPUs and {self.gpus:g} GPUs"
            if settings.address == "local":
                raise UsageProblem(f"--workers {options.workers}: {what} do not fit this machine's {have}")
            warn(f"warning: {what} do not fit the cluster's {have} now: waiting for it to grow")
        spare = self.cpus - self.max_workers * settings.cpus
        self.io_cpus = IO_CPUS if spare >= IO_ROOM else 0.0
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        context.enable_auto_log_stats = False
        self.facts = {
            "ray": settings.address,
            "ray_version": ray.__version__,
            "address": ray.get_runtime_context().gcs_address,
            "nodes": sum(1 for node in ray.nodes() if node.get("Alive")),
            "cluster_cpus": self.cpus,
            "cluster_gpus": self.gpus,
            "workers": {"min": settings.min_workers, "max": self.max_workers},
            "cpus_per_worker": settings.cpus,
            "gpus_per_worker": settings.gpus,
            "io_task_cpus": self.io_cpus,
        }

    def run(self, plan, inputs, previous, progress, report) -> Gathered:
        """The pipeline, its rows gathered by instance index, as they arrive."""
        import pyarrow as pa
        from ray.data import ActorPoolStrategy, TaskPoolStrategy

        from igcli.runner.ray_tasks import ExplainWorker, write_outputs

        ray, settings = self.ray, self.settings
        count = inputs.count
        files = [os.path.abspath(str(path)) for path in inputs.files]
        known = previous.known()
        entries = []
        for ident in inputs.ids:
            found = []
            for digest in known.get(ident, ()):
                entry = previous.get(ident, digest)
                found.append(f"{digest}:{entry.shard}:{entry.row}:{entry.size}")
            entries.append(" ".join(found))
        order = sorted(range(count), key=lambda i: files[i])
        listing = pa.table(
            {
                "path": pa.array([files[i] for i in order], pa.string()),
                "index": pa.array(order, pa.int64()),
                "id": pa.array([inputs.ids[i] for i in order], pa.string()),
                "known": pa.array([entries[i] for i in order], pa.string()),
            }
        )
        self.listing = ray.put(listing)  # kept by the driver for the whole run: the actors' restarts read it
        rows = group_rows(count, self.max_workers)
        io_tasks = max(2, self.max_workers)
        run = uuid.uuid4().hex[:8]
        out = os.path.abspath(str(plan.out))
        data = ray.data.read_binary_files(files, include_paths=True, num_cpus=self.io_cpus, override_num_blocks=math.ceil(count / rows), concurrency=io_tasks)
        data = data.map_batches(
            ExplainWorker,
            fn_constructor_args=(plan, [self.listing], os.getcwd(), __version__),
            batch_size=rows,
            batch_format="numpy",
            compute=ActorPoolStrategy(min_size=settings.min_workers, max_size=self.max_workers),
            num_cpus=settings.cpus,
            **({"num_gpus": settings.gpus} if settings.gpus else {}),
        )
        data = data.map_batches(
            write_outputs, fn_args=(plan, out, run), batch_size=None, batch_format="numpy", num_cpus=self.io_cpus, compute=TaskPoolStrategy(size=io_tasks)
        )
        gathered = Gathered(count)
        bar = progress(count, plan.progress_note) if progress else None
        tick = time.perf_counter()
        self.pipeline_started = time.time()
        try:
            for batch in data.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=0):
                if "first_result_seconds" not in self.timings:
                    self.timings["first_result_seconds"] = time.perf_counter() - tick
                added = gathered.add(batch)
                if bar is not None:
                    bar.update(added)
                if self.options.fail_fast and gathered.failed:
                    report.stopped_early = True
                    break
        except Exception as error:
            raise IgcliError(f"the cluster run failed: {_cause(error)}") from error
        finally:
            if bar is not None:
                bar.close()
        self.timings["explain_wall_seconds"] = time.perf_counter() - tick
        return gathered

    def close(self) -> None:
        try:
            if self.owned and self.ray.is_initialized():
                self.ray.shutdown()
                self.owned = False
        finally:
            if self.quiet is not None:
                self.quiet.restore()
                self.quiet = None
            for name, level in self.levels.items():
                logging.getLogger(name).setLevel(level)


class QuietRay:
    """Ray talks on its own while connected: its core worker in this process writes log lines
    (C++, e.g. a warning for every actor with restarts) straight to file descriptor 2, and a
    thread of it prints every retried task's traceback to sys.stdout, where --json's output goes.
    While the cluster is connected, descriptor 2 goes to /dev/null, sys.stdout to nowhere, and
    sys.stderr (the progress bar, igcli's notes) to where descriptor 2 went before. A failure
    still reaches the user, as igcli's one line; --debug keeps everything."""

    def __init__(self):
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = os.dup(2)
        self.stdout, self.stderr = sys.stdout, sys.stderr
        try:
            swap = sys.stderr.fileno() == 2
        except (AttributeError, OSError, ValueError):  # a captured stream (tests): it is not descriptor 2
            swap = False
        if swap:
            sys.stderr = open(self.saved, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8", errors="backslashreplace", closefd=False)
        sys.stdout = open(os.devnull, "w")
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)

    def restore(self) -> None:
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        sys.stdout.close()
        sys.stdout, sys.stderr = self.stdout, self.stderr


def group_rows(count: int, workers: int) -> int:
    """Instances per group (a block of Ray Data, a call of a worker, a shard): a local run's
    GROUP_SIZE, or fewer so that every worker gets several groups of a small job."""
    from igcli.runner.local import GROUP_SIZE

    return max(1, min(GROUP_SIZE, math.ceil(count / (4 * workers))))


def _answers(address: str, timeout: float = 10.0) -> None:
    """Fail in seconds when nothing listens at HOST:PORT (Ray itself retries for minutes)."""
    host, _, port = address.split("://")[-1].rpartition(":")
    if not host or not port.isdigit():
        return  # not host:port: Ray says what it makes of it
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        raise IgcliError(f"--ray {address}: no Ray cluster answers there ({error.strerror or error})") from None


def _cause(error: BaseException) -> str:
    """What went wrong in a worker, as one line: the exception a Ray error wraps (a task's), or
    the last `Name: message` line of the traceback Ray puts in its text (an actor's start)."""
    while isinstance(getattr(error, "cause", None), BaseException):
        error = error.cause
    text = str(error)
    found = re.findall(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt): .+)$", text, flags=re.M)
    line = found[-1] if found else f"{type(error).__name__}: {text}"
    return " ".join(line.split())[:400]


class Gathered:
    """The small per-instance values, by instance index; each instance kept once."""

    def __init__(self, count: int):
        self.count = count
        self.got = np.zeros(count, bool)
        self.columns = {
            name: np.full(
                count,
                None if kind is object else ("" if kind is str else (-1 if kind is np.int64 else np.nan)),
                dtype=object if kind in (str, object) else kind,
            )
            for name, kind in SMALL.items()
        }
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


def _finish(plan, bench, journal, previous, gathered: Gathered, cluster: Cluster, report: RunReport, started: float) -> RunReport:
    """One set of results from the gathered rows: summary.csv, attributions.h5 (virtual),
    overview.png, run.json, report.html."""
    from igcli.report import manifest
    from igcli.results import Results
    from igcli.runner.ray_tasks import unpickled_row
    from igcli.sinks import summary_writer
    from igcli.sinks.arrays import array_layout
    from igcli.sinks.manifest import write_run_json
    from igcli.sinks.shards import remove_unused, write_virtual_file

    tick = time.perf_counter()
    options, out, inputs = plan.options, plan.out, bench.inputs
    columns = gathered.columns
    order = np.flatnonzero(gathered.got)
    records = []
    for index in order:
        record = None
        if columns["status"][index] == REUSED:  # the values an earlier attempt finished, from its shard
            entry = previous.get(str(columns["id"][index]), str(columns["hash"][index]))
            if entry is None:  # the shard went away since the workers looked: an error, not a guess
                columns["status"][index], columns["error"][index] = "error", "its earlier result is gone from OUT/shards; run again with --resume"
            else:
                record = entry.record
        records.append(record if record is not None else unpickled_row(columns["record"][index]))
    reused = columns["status"][order] == REUSED
    report.reused = int(reused.sum())
    count = len(order)
    arrays = {name: np.stack([record[name] for record in records]) for name in (records[0] if records else {})}
    arrays["attributions"] = np.zeros((count, plan.targets.count, 0), np.float32)  # in the shards, not here
    arrays["sources"] = np.array([str(inputs.files[i]) for i in order], dtype=str)
    arrays["statuses"] = np.array(["ok" if status in ("ok", REUSED) else "error" for status in columns["status"][order]], dtype=str)
    arrays["errors"] = np.array(["" if columns["status"][i] in ("ok", REUSED) else (columns["error"][i] or "failed") for i in order], dtype=str)
    results = Results.from_arrays(arrays, reused=reused) if count else None
    if results is not None:
        report.tally(results, options.max_delta)
    computed = order[columns["status"][order] != REUSED]
    parameters = {
        **plan.parameters,
        "batch_size": _one(columns["batch_size"][computed], plan.batch_size or "auto"),
        "branches": _one(columns["branches"][computed], "auto"),
    }
    summary = summary_writer(plan)
    try:
        if results is not None:
            summary.append(results)
    except BaseException:
        summary.abort()
        raise
    summary.close()
    layout = array_layout(plan)
    shard_of, row_of = columns["shard"][order], columns["shard_row"][order].astype(np.int64)
    sizes = {str(name): int(size) for name, size in zip(columns["shard"][order], columns["shard_size"][order])}
    write_virtual_file(out, count, shard_of, row_of, sizes, layout, layout.columns(results) if results is not None else _no_rows(layout), parameters)
    removed = remove_unused(out, set(sizes))
    if results is not None and plan.draws_heatmaps:
        _overview(plan, inputs, results)
    if not report.stopped_early:
        journal.finish()
    finished = time.perf_counter()
    workers = _workers(columns, computed, getattr(cluster, "pipeline_started", 0.0))
    report.timings = {
        "load_seconds": round(bench.load_seconds, 3),
        "cluster_start_seconds": round(cluster.timings.get("connect_seconds", 0.0), 3),  # connecting, or starting a local cluster
        "first_result_seconds": round(cluster.timings.get("first_result_seconds", 0.0), 3),  # pipeline start to the first group written
        "compute_seconds": round(float(np.nansum(columns["seconds"][computed])), 3),  # in the workers, all together
        "write_seconds": round(float(np.nansum(columns["write_seconds"][order])), 3),  # in the write tasks, overlapping compute
        "explain_wall_seconds": round(cluster.timings.get("explain_wall_seconds", 0.0), 3),
        "gather_seconds": round(finished - tick, 3),  # the driver's files at the end
        "total_seconds": round(finished - started, 3),
    }
    facts = {**cluster.facts, "shards": len(sizes), "shards_removed": removed, "duplicate_rows_dropped": gathered.duplicates, "worker_processes": workers}
    write_run_json(out / "run.json", {**manifest(plan, parameters, report), "cluster": facts})
    if plan.writes_report:
        from igcli.sinks.report import write_report

        write_report(out)
    return report


def _one(values: np.ndarray, default):
    """A setting every worker resolved for itself: the value, or all of them when they differ."""
    seen = sorted({int(v) for v in values if v >= 1})  # -1: a worker that had nothing to compute
    if not seen:
        return default
    return seen[0] if len(seen) == 1 else ",".join(str(v) for v in seen)


def _workers(columns: dict, computed: np.ndarray, pipeline_started: float) -> dict:
    """Per worker process: when it started and was ready (seconds after the pipeline started;
    TensorFlow imported, the model loaded), instances computed, seconds busy (decoding and
    explaining) and its process's CPU seconds meanwhile (fewer when other processes took the CPU),
    instances per busy second, and once its first group (which traces the gradient function) is
    done, instances per busy second and per CPU second."""
    found: dict = {}
    for index in computed:
        entry = found.setdefault(
            str(columns["worker"][index]),
            {
                "started_seconds": _seconds(columns["worker_started"][index] - pipeline_started),
                "ready_seconds": _seconds(columns["worker_ready"][index] - pipeline_started),
                "instances": 0,
                "busy_seconds": 0.0,
            },
        )
        entry["instances"] += 1
        entry["busy_seconds"] += float(columns["seconds"][index])
        entry["cpu_seconds"] = entry.get("cpu_seconds", 0.0) + float(columns["cpu_seconds"][index])
        if columns["call"][index] > 1:  # after the group that traced the gradient function
            entry["steady_instances"] = entry.get("steady_instances", 0) + 1
            entry["steady_seconds"] = entry.get("steady_seconds", 0.0) + float(columns["seconds"][index])
            entry["steady_cpu_seconds"] = entry.get("steady_cpu_seconds", 0.0) + float(columns["cpu_seconds"][index])
    for entry in found.values():
        steady = entry.pop("steady_instances", 0)
        entry["instances_per_second"] = _rate(entry["instances"], entry["busy_seconds"])
        entry["steady_instances_per_second"] = _rate(steady, entry.pop("steady_seconds", 0.0))
        entry["steady_instances_per_cpu_second"] = _rate(steady, entry.pop("steady_cpu_seconds", 0.0))
        entry["busy_seconds"] = round(entry["busy_seconds"], 3)
        entry["cpu_seconds"] = round(entry["cpu_seconds"], 3)
    return found


def _rate(instances: int, seconds: float) -> float | None:
    return round(instances / seconds, 3) if instances and seconds > 0 else None


def _seconds(value) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 3)


def _no_rows(layout) -> dict:
    """layout.columns of a run with no instance."""
    return {name: np.zeros((0, *shape)) for name, shape in layout.shapes().items()}


def _overview(plan, inputs, results) -> None:
    """overview.png from the first explained images, as a local run draws it: their inputs
    decoded again here, their attributions read through attributions.h5."""
    from dataclasses import replace

    import h5py

    from igcli.sinks import heatmap_writer
    from igcli.sinks.heatmaps import OVERVIEW_TILES

    rows = [row for row, error in enumerate(results.errors) if error is None][:OVERVIEW_TILES]
    if not rows:
        return
    writer = heatmap_writer(plan)
    with h5py.File(plan.out / "attributions.h5", "r") as handle:
        dataset = handle["attributions"]
        for row in rows:
            index = int(results.indices[row])
            pixels, error, _, _ = inputs._decode(index)
            if error is not None:
                continue
            stored = dataset[row : row + 1]
            one = results_row(results, row)
            one = replace(
                one, inputs=plan.preprocess.apply(pixels[None]), attributions=stored if plan.targets.several else stored[:, None], extras=[{"reused": True}]
            )  # its heatmaps are on disk: only the tile is drawn
            writer.append(one)
    writer.close()


def results_row(results, row: int):
    """Results of the one instance at `row`."""
    from dataclasses import fields

    picked = {}
    for field in fields(results):
        value = getattr(results, field.name)
        if isinstance(value, np.ndarray):
            picked[field.name] = value[row : row + 1]
        elif isinstance(value, list):
            picked[field.name] = value[row : row + 1]
        elif isinstance(value, dict):
            picked[field.name] = {name: values[row : row + 1] for name, values in value.items()}
        else:
            picked[field.name] = value
    return type(results)(**picked)
