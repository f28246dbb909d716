"""Runners: execute a run plan. local.py runs it in this process, ray_runner.py on a Ray cluster
(--ray); group.py is the per-group step every runner shares."""

from __future__ import annotations

import time


def run_explain(options, progress=None, warn=print):
    """Plan, then run locally (or on a Ray cluster with --ray): the whole `igcli explain` job.
    -> report.RunReport"""
    if options.ray is not None:
        from igcli.runner.ray_runner import run_ray

        return run_ray(options, progress=progress, warn=warn)
    from igcli.plan import make_plan
    from igcli.runner.local import run_local

    started = time.perf_counter()
    plan, bench = make_plan(options, warn)
    return run_local(plan, bench, progress=progress, warn=warn, started=started)
