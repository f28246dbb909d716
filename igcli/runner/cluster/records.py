"""The gathered rows of a cluster run as Results, a group at a time in input order: what the run's
sinks and tally take, as from a local run. Attributions stay in the shards (each row's place is in
its extras, `shard`), except for the first images of the overview sheet, read back for it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from igcli.results import Results
from igcli.runner.cluster.worker import unpickled_row
from igcli.runner.group import REUSED
from igcli.sinks.heatmaps import OVERVIEW_TILES

GONE = "its earlier result is gone from OUT/shards; run again with --resume"


def gathered_results(gathered, plan, inputs, previous, size: int, read_tile) -> Iterator[Results]:
    """Results of every gathered instance in input order, `size` at a time. read_tile(index,
    shard, row): an instance's stored attributions (from its shard, or attributions.zarr)."""
    order = np.flatnonzero(gathered.got)
    tiles = OVERVIEW_TILES if plan.draws_heatmaps else 0
    for start in range(0, len(order), size):
        results = _group(gathered.columns, order[start : start + size], plan, inputs, previous)
        if tiles:
            tiles -= _read_tiles(results, plan, inputs, tiles, read_tile)
        yield results


def _group(columns: dict, indices: np.ndarray, plan, inputs, previous) -> Results:
    records = []
    for index in indices:
        record = None
        if columns["status"][index] == REUSED:  # the values an earlier attempt finished, from its shard
            entry = previous.get(str(columns["id"][index]), str(columns["hash"][index]))
            if entry is None:  # the shard went away since the workers looked: an error, not a guess
                columns["status"][index], columns["error"][index] = "error", GONE
            else:
                record = entry.record
        records.append(record if record is not None else unpickled_row(columns["record"][index]))
    status = columns["status"][indices]
    arrays = {name: np.stack([record[name] for record in records]) for name in records[0]}
    arrays["attributions"] = np.zeros((len(indices), plan.targets.count, 0), np.float32)  # in the shards, not here
    arrays["sources"] = np.array([str(inputs.files[i]) for i in indices], dtype=str)
    arrays["statuses"] = np.array(["ok" if s in ("ok", REUSED) else "error" for s in status], dtype=str)
    arrays["errors"] = np.array(["" if s in ("ok", REUSED) else (columns["error"][i] or "failed") for s, i in zip(status, indices)], dtype=str)
    results = Results.from_arrays(arrays, reused=status == REUSED)
    for row, index in enumerate(indices):
        results.extras[row]["shard"] = (str(columns["shard"][index]), int(columns["shard_row"][index]), int(columns["shard_size"][index]))
    return results


def _read_tiles(results: Results, plan, inputs, wanted: int, read_tile) -> int:
    """The model inputs and attributions of the group's first `wanted` explained images, for the
    overview sheet (decoded again here, read back from their shards); -> how many were read."""
    rows = [row for row, error in enumerate(results.errors) if error is None][:wanted]
    if not rows:
        return 0
    results.attributions = np.full((len(results.ids), plan.targets.count, *plan.stored_shape), np.nan, np.float32)
    results.inputs = np.zeros((len(results.ids), *plan.instance_shape), np.float32)
    for row in rows:
        pixels, error, _, _ = inputs.decode(int(results.indices[row]))
        if error is not None:
            continue  # changed since the worker read it: no tile
        shard, shard_row, _ = results.extras[row]["shard"]
        stored = read_tile(int(results.indices[row]), shard, shard_row)
        results.attributions[row] = stored if plan.targets.several else stored[None]
        results.inputs[row] = plan.preprocess.apply(pixels[None])[0]
    return len(rows)
