"""Sinks: everything a run writes (files appear only when complete: igcli/atomic.py). Each receives every group of results in input order.

The contract every sink keeps:
    OWNS       the names (or glob patterns) in OUT it writes; --overwrite removes exactly these
    append(r)  take one group of Results
    close()    the run completed: its files take their final names
    abort()    the run failed or was interrupted: what is partial is removed; complete files
               that --resume reuses (journal chunks, heatmaps) stay

arrays.py     attributions.h5 / .npz / arrays/*.npy
tables.py     summary.csv, attributions.csv
heatmaps.py   heatmaps/<id>.png, overview.png
tokens.py     tokens.csv, tokens/<id>.html
manifest.py   run.json
report.py     report.html, written from the finished files (summary.csv, run.json, heatmaps)
shards.py     a cluster run's shards/*.h5 and the virtual attributions.h5 over them (--ray)
outdir.py     the output directory, --overwrite and --resume
"""

from __future__ import annotations

from typing import Protocol

from igcli.journal import Journal
from igcli.results import Results
from igcli.sinks import manifest, report
from igcli.sinks.arrays import H5Writer, NumpyWriter, array_layout, open_array_writer
from igcli.sinks.heatmaps import HeatmapWriter
from igcli.sinks.shards import ShardOwner
from igcli.sinks.tables import SummaryWriter, TableAttributionsWriter
from igcli.sinks.tokens import TokenWriter


class Sink(Protocol):
    OWNS: tuple[str, ...]

    def append(self, results: Results) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


SINK_TYPES = (Journal, H5Writer, NumpyWriter, SummaryWriter, TableAttributionsWriter, HeatmapWriter, TokenWriter, ShardOwner)


def owned_names() -> tuple[str, ...]:
    """Every name igcli may write in OUT, whichever sinks this run uses: an earlier run's
    tokens.csv goes with --overwrite even when this run writes none."""
    return tuple(name for sink in SINK_TYPES for name in sink.OWNS) + manifest.OWNS + report.OWNS


def summary_writer(plan) -> SummaryWriter:
    return SummaryWriter(plan.out, plan.steps is None, plan.metrics, plan.targets.several)


def heatmap_writer(plan, out=None) -> HeatmapWriter:
    return HeatmapWriter(plan.out if out is None else out, plan.options, plan.preprocess, plan.targets.several)


def open_sinks(plan, parameters: dict) -> list:
    """The sinks this plan writes to, after the journal. Heatmaps and the feature table are for
    attributions in input space; token tables for token models with --vocab."""
    options, out = plan.options, plan.out
    several = plan.targets.several
    sinks = []
    try:
        sinks.append(open_array_writer(out, options.format, array_layout(plan), parameters))
        sinks.append(summary_writer(plan))
        if plan.input_kind == "table" and options.layer is None:
            sinks.append(TableAttributionsWriter(out, list(plan.features), several))
        if plan.draws_heatmaps:
            sinks.append(heatmap_writer(plan))
        if options.vocab:
            sinks.append(TokenWriter(out, options.vocab, several))
    except BaseException:
        for sink in sinks:
            sink.abort()
        raise
    return sinks
