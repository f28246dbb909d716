"""Executors of a run plan, inside one frame (frame.py): local.py computes it in this process,
cluster/ on a Ray cluster (--ray); group.py is the per-group step both share."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path


def run_explain(options, progress=None, warn=print):
    """The whole `igcli explain` job: options and OUT checked, OUT's lock taken, nothing done when
    OUT is up to date, else the plan made once, the frame opened, the executor run, the frame
    closed. -> tally.Tally"""
    from igcli.checks import check_combinations
    from igcli.outlock import OutLock
    from igcli.sinks.outdir import check_out_dir, refuse_results

    started = time.perf_counter()
    cluster = None
    if options.ray is not None:
        from igcli.runner.cluster.executor import ClusterRun

        cluster = ClusterRun(options)  # its options checked in milliseconds, before the plan
    combination = check_combinations(options)
    from igcli.stores import is_remote

    if is_remote(options.out):
        from igcli.runner.in_store import run_in_store

        return run_in_store(options, lambda store: _run(options, combination, cluster, progress, warn, started, store), progress, warn)
    out = Path(options.out)
    check_out_dir(out, options.overwrite, options.resume)
    with OutLock(out, wait=options.wait, break_lock=options.break_lock, warn=warn):
        refuse_results(out, options.overwrite, options.resume)
        if options.resume:
            from igcli.uptodate import up_to_date

            tally = up_to_date(options, started)
            if tally is not None:
                return tally
        return _run(options, combination, cluster, progress, warn, started)


def _run(options, combination, cluster, progress, warn, started: float, store=None):
    """store: OUT in an object store (stores/out.py): the sinks write its working copy."""
    from igcli.plan import make_plan
    from igcli.runner.frame import RunFrame
    from igcli.stopping import Stopped, output_errno, unwritable

    plan = bench = frame = None
    try:
        plan, bench = make_plan(options, warn, combination, progress)
        if store is not None:
            plan = replace(plan, work=str(store.work))
        if cluster is not None:
            cluster.check(plan, warn)
            cluster.connect(options, warn)  # before the frame writes into OUT
        frame = RunFrame(plan, warn, started)
        if store is not None:
            frame.after_write = store.put_group
        if cluster is not None:
            closing = cluster.run(plan, bench, frame, progress, warn)
        else:
            from igcli.runner.local import run_local

            closing = run_local(plan, bench, frame, progress)
        return frame.finish(closing)
    except Stopped as stop:
        stop.progress = _progress(frame, bench, options)
        raise
    except (OSError, RuntimeError) as error:  # h5py's write errors are RuntimeErrors
        if output_errno(error) is None:
            raise
        raise unwritable(options.out, error, _progress(frame, bench, options, "once OUT can be written again, ")) from error
    finally:
        if cluster is not None:
            cluster.close()


def _progress(frame, bench, options, when: str = "") -> str:
    """What a stopped run has saved, and how to continue from it."""
    saved = frame.saved if frame is not None else 0
    total = bench.inputs.count if bench is not None else None
    again = "run the same command again" if options.resume or (frame is not None and frame.staged) else "run it again with --resume"
    if not saved:
        return f"no instance was saved yet; {when}{again}"
    return f"{saved:,} of {total:,} instances are saved; {when}{again} to continue" if total else f"{saved:,} instances are saved; {when}{again} to continue"
