"""The cluster executor: the plan's run on a Ray cluster, its results into the frame's sinks."""

from __future__ import annotations

from typing import Any

from igcli.errors import UsageProblem
from igcli.runner.cluster.settings import check_cluster_run
from igcli.runner.frame import Closing, RunFrame


class ClusterRun:
    """The cluster executor: its options checked on creation, before the plan is made."""

    def __init__(self, options):
        self.settings = check_cluster_run(options)
        self.cluster: Any = None  # the connection (connection.Cluster), from connect() to close()

    def check(self, plan, warn) -> None:
        """What needs the plan: one model input, and a note on several GPUs per worker."""
        if self.settings.gpus > 1:
            warn(
                f"warning: --gpus-per-worker {self.settings.gpus}: igcli's engine computes on one GPU; a worker's other GPUs stay idle "
                "unless the model places itself on them"
            )
        if plan.layout:
            raise UsageProblem(f"{plan.options.inputs}: a model with several inputs runs without --ray (a cluster run splits one input's rows)")

    def connect(self, options, warn) -> None:
        """Joined (or started) before the frame opens OUT: a cluster that cannot be reached leaves OUT as it was."""
        from igcli.runner.cluster.connection import Cluster, import_ray

        self.cluster = Cluster(import_ray(), self.settings, options, warn)

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.close()

    def run(self, plan, bench, frame: RunFrame, progress, warn) -> Closing:
        from igcli.runner.cluster.pipeline import run_pipeline
        from igcli.sinks.shards import ShardIndex

        if self.cluster is None:
            self.connect(plan.options, warn)
        cluster = self.cluster
        inputs = bench.inputs
        if plan.input_kind != "images":  # arrays and tables: read here, their rows handed out (rows.py)
            from igcli.runner.cluster.rows import read_rows
            from igcli.runner.local import GROUP_SIZE

            inputs = bench.inputs = read_rows(bench.inputs, GROUP_SIZE)
        previous = ShardIndex()
        if plan.options.resume or frame.staged:  # what earlier attempts finished: shards, or attributions.zarr's group records
            from igcli.runner.cluster.pipeline import output_places
            from igcli.runner.cluster.zarr_journal import load_zarr_index

            out, arrays_at = output_places(plan, frame)
            previous = ShardIndex.load(frame.dir) if arrays_at is None else load_zarr_index(out, list(inputs.ids))
        try:
            gathered = run_pipeline(cluster, plan, inputs, previous, progress, frame)
        finally:
            cluster.close()
        return _write_results(plan, bench, frame, cluster, gathered, previous)


def _write_results(plan, bench, frame: RunFrame, cluster, gathered, previous) -> Closing:
    """The gathered rows through the run's sinks, as a local run writes its groups."""
    import time

    from igcli.runner.cluster.figures import cluster_events, cluster_timings, resolved_settings
    from igcli.runner.cluster.records import gathered_results
    from igcli.runner.local import GROUP_SIZE
    from igcli.sinks.selection import heatmap_writer, records_writer, summary_writer

    tick = time.perf_counter()
    parameters = resolved_settings(plan, gathered)
    arrays = _arrays_sink(plan, frame, {**plan.parameters, **parameters})
    heatmaps = [heatmap_writer(plan, frame.dir, files=False)] if plan.draws_heatmaps else []
    records = [records_writer(plan, frame.dir)] if plan.options.records else []
    frame.open_sinks([summary_writer(plan, frame.dir), arrays, *heatmaps, *records])
    completed = False
    try:
        for results in gathered_results(gathered, plan, bench.inputs, previous, GROUP_SIZE, _tile_reader(plan, frame)):
            frame.count(results)
            frame.write(results)
        completed = True
    finally:
        frame.close_sinks(completed)
    timings = cluster_timings(cluster, gathered, bench.load_seconds)
    timings["gather_seconds"] = round(time.perf_counter() - tick, 3)  # the driver's files at the end
    facts = {
        **cluster.facts,
        "shards": arrays.shards,
        "shards_removed": arrays.removed,
        "duplicate_rows_dropped": gathered.duplicates,
        **cluster_events(cluster, gathered),
    }
    return Closing(parameters, timings, {"cluster": facts})


def _arrays_sink(plan, frame: RunFrame, parameters: dict):
    """attributions.h5 over the workers' shards, or the attributions.zarr they wrote rows of."""
    from igcli.runner.cluster.pipeline import output_places
    from igcli.sinks.arrays import array_layout
    from igcli.sinks.shards import ShardedArrays
    from igcli.stores import is_remote

    _, arrays_at = output_places(plan, frame)
    if arrays_at is None:
        return ShardedArrays(frame.dir, array_layout(plan), parameters)
    from igcli.sinks.zarr_arrays import ClusterValues

    final = None if is_remote(plan.options.out) else frame.dir.absolute() / "attributions.zarr"
    return ClusterValues(arrays_at, array_layout(plan), parameters, final)


def _tile_reader(plan, frame: RunFrame):
    """-> read(index, shard, row): an instance's stored attributions, for the overview sheet."""
    from igcli.runner.cluster.pipeline import output_places
    from igcli.sinks.shards import read_attributions

    _, arrays_at = output_places(plan, frame)
    if arrays_at is None:
        return lambda index, shard, row: read_attributions(frame.dir, shard, row)
    from igcli.sinks.zarr_arrays import instance_maps, open_store

    group = open_store(arrays_at)  # opened once for every tile
    return lambda index, shard, row: instance_maps(group, index)
