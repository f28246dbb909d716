"""Run a plan in this process: read ahead -> explain -> write behind, a group at a time."""

from __future__ import annotations

import time

from igcli.journal import Journal
from igcli.methods import build_method
from igcli.methods.core import auto_batch_size
from igcli.report import RunReport, manifest
from igcli.runner.group import explain_group, mark_reusable
from igcli.sinks import open_sinks, owned_names
from igcli.sinks.manifest import write_run_json
from igcli.sinks.outdir import prepare_out_dir
from igcli.streaming import BackgroundWriter, prefetch

# Instances read and explained together; their paths are then cut into --batch-size chunks.
GROUP_SIZE = 32


def run_local(plan, bench, progress=None, warn=print, started: float | None = None) -> RunReport:
    """progress: a callable(total, description) returning an object with update(n) and close(), or None."""
    started = time.perf_counter() if started is None else started
    options, out = plan.options, plan.out
    space = bench.space
    batch_size = plan.batch_size or auto_batch_size(space.shape)
    method = build_method(plan, space.model_call, space.shape, batch_size)
    branches = method.core.branches
    parameters = {**plan.parameters, "batch_size": batch_size, "branches": branches}
    prepare_out_dir(out, options.overwrite, options.resume, owned_names())
    journal = Journal(out, plan.fingerprint, options.resume)
    report = RunReport(out=str(out), skipped=list(plan.skipped))
    for path in report.skipped:
        warn(f"igcli: skipped {path}: not an image file")
    sinks = [journal, *open_sinks(plan, parameters)]
    bar = progress(bench.inputs.count, plan.progress_note) if progress else None
    timings = {"compute": 0.0, "write": 0.0}

    def write(results):
        tick = time.perf_counter()
        for sink in sinks:
            sink.append(results)
        timings["write"] += time.perf_counter() - tick

    writer = BackgroundWriter(write)
    batches = prefetch(bench.inputs.batches(GROUP_SIZE))
    compute_started = time.perf_counter()
    completed = False
    try:
        for batch in batches:
            tick = time.perf_counter()
            reused = mark_reusable(batch, journal)
            results = explain_group(method, space, batch, plan)
            for row in reused:
                journal.fill(results, row)
                results.extras[row]["reused"] = True
            report.reused += len(reused)
            timings["compute"] += time.perf_counter() - tick
            writer.submit(results)
            report.tally(results, options.max_delta)
            if bar is not None:
                bar.update(len(batch.ids))
            if options.fail_fast and report.failed:
                report.stopped_early = True
                break
        writer.close()  # every group written; raises the first write error
        completed = True
    finally:
        batches.close()
        if not completed:
            _quietly(writer.close)  # the writer thread stops before its sinks are aborted
        if bar is not None:
            bar.close()
        _finish(sinks, completed)
    if not report.stopped_early:
        journal.finish()
    finished = time.perf_counter()
    report.timings = {
        "load_seconds": round(bench.load_seconds, 3),
        "compute_seconds": round(timings["compute"], 3),  # in the engine
        "write_seconds": round(timings["write"], 3),  # in the background writer, overlapping compute
        "explain_wall_seconds": round(finished - compute_started, 3),  # first batch read to last file closed
        "total_seconds": round(finished - started, 3),
    }
    write_run_json(out / "run.json", manifest(plan, parameters, report))
    if plan.writes_report:
        from igcli.sinks.report import write_report

        write_report(out)
    return report


def _finish(sinks: list, completed: bool) -> None:
    """Close every sink after a completed run, abort every one otherwise. When a close fails,
    the sinks not yet closed are aborted and that error is raised."""
    for number, sink in enumerate(sinks):
        if not completed:
            _quietly(sink.abort)
            continue
        try:
            sink.close()
        except BaseException:
            for rest in sinks[number + 1 :]:
                _quietly(rest.abort)
            raise


def _quietly(action) -> None:
    """Clean-up on a path that is already failing: its own errors must not hide the first."""
    try:
        action()
    except Exception:
        pass
