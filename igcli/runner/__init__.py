"""Executors of a run plan, inside one frame (frame.py): local.py computes it in this process,
cluster/ on a Ray cluster (--ray); group.py is the per-group step both share."""

from __future__ import annotations

import time


def run_explain(options, progress=None, warn=print):
    """The whole `igcli explain` job: the plan made once, the frame opened, the executor run, the
    frame closed. -> tally.Tally"""
    from igcli.plan import make_plan
    from igcli.runner.frame import RunFrame

    started = time.perf_counter()
    cluster = None
    if options.ray is not None:
        from igcli.runner.cluster.executor import ClusterRun

        cluster = ClusterRun(options)  # its options checked in milliseconds, before the plan
    plan, bench = make_plan(options, warn)
    if cluster is not None:
        cluster.check(plan, warn)
    frame = RunFrame(plan, warn, started)
    if cluster is not None:
        closing = cluster.run(plan, bench, frame, progress, warn)
    else:
        from igcli.runner.local import run_local

        closing = run_local(plan, bench, frame, progress)
    return frame.finish(closing)
