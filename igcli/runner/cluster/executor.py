"""The cluster executor: the plan's run on a Ray cluster, its results into the frame's sinks."""

from __future__ import annotations

from igcli.errors import UsageProblem
from igcli.runner.cluster.settings import check_cluster_run
from igcli.runner.frame import Closing, RunFrame


class ClusterRun:
    """The cluster executor: its options checked on creation, before the plan is made."""

    def __init__(self, options):
        self.settings = check_cluster_run(options)

    def check(self, plan, warn) -> None:
        """What needs the plan: images only, and a note on several GPUs per worker."""
        if self.settings.gpus > 1:
            warn(
                f"warning: --gpus-per-worker {self.settings.gpus}: igcli's engine computes on one GPU; a worker's other GPUs stay idle "
                "unless the model places itself on them"
            )
        if plan.input_kind != "images":
            raise UsageProblem(f"{plan.options.inputs}: --ray explains images; run {plan.input_kind} inputs without --ray")

    def run(self, plan, bench, frame: RunFrame, progress, warn) -> Closing:
        from igcli.runner.cluster.connection import Cluster, import_ray
        from igcli.runner.cluster.pipeline import run_pipeline
        from igcli.sinks.shards import ShardIndex

        previous = ShardIndex.load(frame.dir) if plan.options.resume or frame.staged else ShardIndex()
        cluster = Cluster(import_ray(), self.settings, plan.options, warn)
        try:
            gathered = run_pipeline(cluster, plan, bench.inputs, previous, progress, frame)
        finally:
            cluster.close()
        return _write_results(plan, bench, frame, cluster, gathered, previous)


def _write_results(plan, bench, frame: RunFrame, cluster, gathered, previous) -> Closing:
    """The gathered rows through the run's sinks, as a local run writes its groups."""
    import time

    from igcli.runner.cluster.figures import cluster_timings, resolved_settings, worker_processes
    from igcli.runner.cluster.records import gathered_results
    from igcli.runner.local import GROUP_SIZE
    from igcli.sinks.arrays import array_layout
    from igcli.sinks.selection import heatmap_writer, records_writer, summary_writer
    from igcli.sinks.shards import ShardedArrays

    tick = time.perf_counter()
    parameters = resolved_settings(plan, gathered)
    arrays = ShardedArrays(frame.dir, array_layout(plan), {**plan.parameters, **parameters})
    heatmaps = [heatmap_writer(plan, frame.dir, files=False)] if plan.draws_heatmaps else []
    records = [records_writer(plan, frame.dir)] if plan.options.records else []
    frame.open_sinks([summary_writer(plan, frame.dir), arrays, *heatmaps, *records])
    completed = False
    try:
        for results in gathered_results(gathered, plan, bench.inputs, previous, GROUP_SIZE, frame.dir):
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
        "worker_processes": worker_processes(gathered, getattr(cluster, "pipeline_started", 0.0)),
    }
    return Closing(parameters, timings, {"cluster": facts})
