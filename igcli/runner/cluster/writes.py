"""The light task after a cluster run's workers: each group's shard and heatmaps into OUT."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np

from igcli.runner.cluster.worker import SMALL, unpickled_rows
from igcli.runner.group import REUSED


def write_outputs(batch: dict, plan, out: str, run: str) -> dict:
    """This group's shard and heatmaps into OUT; the small
    per-instance values go on to the driver. A retried task writes a new shard (never over one
    the driver may already point at) and rewrites the same heatmaps."""
    from igcli.results import Results
    from igcli.sinks.shards import read_attributions, write_shard

    started = time.perf_counter()
    folder = Path(out)
    size = len(batch["index"])
    reused = batch["status"] == REUSED
    computed = np.flatnonzero(~reused)
    several = plan.targets.several
    arrays = unpickled_rows(batch["record"])
    arrays["attributions"] = np.array(batch["attributions"])  # Ray hands batches read-only
    results = Results.from_arrays(arrays, inputs=batch["inputs"], reused=reused)
    shard, shard_row, shard_size = batch["shard"].astype(object), batch["shard_row"].copy(), batch["shard_size"].copy()
    if plan.draws_heatmaps:  # first: a shard on disk means its heatmaps are too
        from igcli.sinks.selection import heatmap_writer

        heatmaps = heatmap_writer(plan, folder, whole_run=False)  # the driver, which sees every instance, draws overview.png
        missing = [row for row in np.flatnonzero(reused) if not heatmaps.drawn(results, int(row))]
        for row in missing:  # --resume: a heatmap deleted since is drawn again, from the shard that holds the row
            stored = read_attributions(folder, str(shard[row]), int(shard_row[row]))
            results.attributions[row] = stored if several else stored[None]
        errors = [None if r else e for r, e in zip(reused, results.errors)]  # reused: drawn when missing
        heatmaps.append(replace(results, errors=errors))
    if computed.size:  # then the shard, written once under a name of its own: the group's commit
        name = f"{int(batch['index'][computed].min()):09d}-{run}-{uuid.uuid4().hex[:8]}.h5"
        rows = {key: values[computed] for key, values in results.to_arrays().items()}
        if not several:  # attributions.h5's layout: without the target axis for one target
            rows["attributions"] = rows["attributions"][:, 0]
        write_shard(folder, name, rows)
        shard[computed] = name
        shard_row[computed] = np.arange(computed.size)
        shard_size[computed] = computed.size
    small = {name: batch[name] for name in SMALL if name in batch}
    small.update(
        shard=shard.astype(str), shard_row=shard_row, shard_size=shard_size, write_seconds=np.full(size, (time.perf_counter() - started) / max(size, 1))
    )
    return small
