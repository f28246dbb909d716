"""A cluster run's own figures for run.json: its timings, the settings each worker resolved for
itself, and per worker process what it did and how fast."""

from __future__ import annotations

import numpy as np

from igcli.runner.group import REUSED


def cluster_timings(cluster, gathered, load_seconds: float) -> dict:
    columns = gathered.columns
    order = np.flatnonzero(gathered.got)
    computed = order[columns["status"][order] != REUSED]
    return {
        "load_seconds": round(load_seconds, 3),
        "cluster_start_seconds": round(cluster.timings.get("connect_seconds", 0.0), 3),  # connecting, or starting a local cluster
        "first_result_seconds": round(cluster.timings.get("first_result_seconds", 0.0), 3),  # pipeline start to the first group written
        # as a local run's: the wall time of the explain phase (the pipeline, first read to last row gathered)
        "compute_seconds": round(cluster.timings.get("explain_wall_seconds", 0.0), 3),
        "worker_busy_seconds": round(float(np.nansum(columns["seconds"][computed])), 3),  # decoding and explaining in the workers, all together
        "write_seconds": round(float(np.nansum(columns["write_seconds"][order])), 3),  # in the write tasks, overlapping compute
        "explain_wall_seconds": round(cluster.timings.get("explain_wall_seconds", 0.0), 3),
    }


def cluster_events(cluster, gathered) -> dict:
    """What happened to the cluster during the run: the alive nodes at the start and at each change
    (seconds after the pipeline started, node ids that joined and left), worker processes Ray
    restarted (lost_workers), tasks that ran again (retried_groups: a group's read, explain or
    write), groups whose rows came back twice (their rows dropped), and per worker process, keyed
    by node id and pid, what it did."""
    watch = cluster.watch
    return {
        "nodes": watch.nodes if watch is not None else [],
        "lost_workers": watch.lost_workers if watch is not None else 0,
        "retried_groups": watch.retried if watch is not None else None,
        "worker_processes": worker_processes(gathered, cluster.pipeline_started, watch.node_of if watch is not None else None),
    }


def resolved_settings(plan, gathered) -> dict:
    """The batch size and branches the workers resolved, as a local run records its own."""
    columns = gathered.columns
    order = np.flatnonzero(gathered.got)
    computed = order[columns["status"][order] != REUSED]
    return {
        "batch_size": _one(columns["batch_size"][computed], plan.batch_size or "auto"),
        "branches": _one(columns["branches"][computed], "auto"),
    }


def worker_processes(gathered, pipeline_started: float, node_of=None) -> dict:
    """Per worker process, keyed `<node id>:<pid>` (two nodes on one host have the same host name),
    or `<host>:<pid>` where no sample of the cluster saw that process."""
    columns = gathered.columns
    order = np.flatnonzero(gathered.got)
    found = _workers(columns, order[columns["status"][order] != REUSED], pipeline_started)
    keyed = {}
    for worker, entry in found.items():
        host, _, pid = worker.rpartition(":")
        node = node_of(worker) if node_of is not None else ""
        keyed[f"{node}:{pid}" if node else worker] = {"node_id": node or None, "host": host, "pid": int(pid) if pid.isdigit() else None, **entry}
    return keyed


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
