"""A run whose OUT is in an object store (stores/out.py): OUT listed and checked, its locks taken,
its journal copied down for --resume, the run made in the working copy, then put in OUT."""

from __future__ import annotations

# What a cluster's workers write straight into OUT (runner/cluster/writes.py): not in the working copy
CLUSTER_WRITES = ("heatmaps/", "attributions.zarr/", ".igcli/groups/")


def run_in_store(options, run, progress, warn):
    """run(store) -> tally: the run itself (runner._run), writing store.work."""
    from igcli.outlock import OutLock
    from igcli.sinks.selection import owned_names
    from igcli.stores.out import StoreOut

    store = StoreOut(options.out, warn, progress)
    try:
        store.check(options.overwrite, options.resume)
        with OutLock(store.lock_folder(), wait=options.wait, break_lock=options.break_lock, warn=warn, name=store.uri):
            store.take_lock(options.break_lock)
            try:
                if options.resume or options.overwrite:
                    store.pull_journal()
                tally = run(store)
                store.publish(owned_names(), CLUSTER_WRITES if options.ray is not None else ())
                return tally
            finally:
                store.release()
    finally:
        store.close()
