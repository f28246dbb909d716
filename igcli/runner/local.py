"""Run a plan in this process: read ahead -> explain -> write behind, a group at a time."""

from __future__ import annotations

import time

from igcli.methods import build_method
from igcli.methods.core import auto_batch_size
from igcli.runner.frame import Closing, RunFrame, quietly
from igcli.runner.group import explain_group, mark_reusable
from igcli.runner.progress import EvaluationProgress
from igcli.sinks.selection import open_sinks
from igcli.streaming import BackgroundWriter, prefetch

# Instances read and explained together; their paths are then cut into --batch-size chunks.
GROUP_SIZE = 32


def run_local(plan, bench, frame: RunFrame, progress=None) -> Closing:
    """progress: a callable(total, description, unit) returning a tqdm-like bar, or None."""
    space = bench.space
    batch_size = plan.batch_size or auto_batch_size(space.shape)
    method = build_method(plan, space.model_call, space.shape, batch_size)
    parameters = {"batch_size": batch_size, "branches": method.core.branches}
    frame.open_sinks([frame.journal, *open_sinks(plan, {**plan.parameters, **parameters}, frame.dir)])
    bar = None
    if progress:
        bar = EvaluationProgress(progress(None, plan.progress_note, "grad"), bench.inputs.count, plan.points_per_instance)
        method.core.on_points = bar.add_points
    compute_seconds = 0.0
    writer = BackgroundWriter(frame.write)
    batches = prefetch(bench.inputs.batches(GROUP_SIZE))
    compute_started = time.perf_counter()
    completed = False
    try:
        for batch in batches:
            tick = time.perf_counter()
            reused = mark_reusable(batch, frame.journal.reusable)
            results = explain_group(method, space, batch, plan)
            for row in reused:
                frame.journal.fill(results, row)
                results.extras[row]["reused"] = True
            compute_seconds += time.perf_counter() - tick
            writer.submit(results)
            frame.count(results)
            if bar is not None:
                bar.add_group(len(batch.ids) - len(reused), len(reused))
            if plan.options.fail_fast and frame.tally.failed:
                frame.tally.stopped_early = True
                break
        writer.close()  # every group written; raises the first write error
        completed = True
    finally:
        batches.close()
        if not completed:
            quietly(writer.close)  # the writer thread stops before its sinks are aborted
        if bar is not None:
            bar.close()
        frame.close_sinks(completed)
    timings = {
        "load_seconds": round(bench.load_seconds, 3),
        "compute_seconds": round(compute_seconds, 3),  # in the engine
        "write_seconds": round(frame.write_seconds, 3),  # in the background writer, overlapping compute
        "explain_wall_seconds": round(time.perf_counter() - compute_started, 3),  # first batch read to last file closed
    }
    return Closing(parameters, timings)
