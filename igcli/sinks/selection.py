"""Which sinks a plan writes to, and every name in OUT that a sink owns (--overwrite)."""

from __future__ import annotations

from pathlib import Path

from igcli import report_page
from igcli.journal import Journal
from igcli.sinks import run_json
from igcli.sinks.arrays import H5Writer, NumpyWriter, array_layout, open_array_writer
from igcli.sinks.heatmaps import HeatmapWriter
from igcli.sinks.records import RecordsWriter
from igcli.sinks.shards import ShardedArrays
from igcli.sinks.tables import SummaryWriter, TableAttributionsWriter
from igcli.sinks.tokens import TokenWriter
from igcli.sinks.zarr_arrays import ZarrWriter

SINK_TYPES = (Journal, H5Writer, NumpyWriter, ZarrWriter, SummaryWriter, TableAttributionsWriter, HeatmapWriter, TokenWriter, ShardedArrays, RecordsWriter)


def owned_names() -> tuple[str, ...]:
    """Every name igcli may write in OUT, whichever sinks this run uses: an earlier run's
    tokens.csv goes with --overwrite even when this run writes none."""
    return tuple(name for sink in SINK_TYPES for name in sink.OWNS) + run_json.OWNS + report_page.OWNS


def summary_writer(plan, out: Path) -> SummaryWriter:
    return SummaryWriter(out, plan.steps is None, plan.metrics, plan.targets.several, plan.estimated)


def heatmap_writer(plan, out: Path, files: bool = True, whole_run: bool = True) -> HeatmapWriter:
    return HeatmapWriter(out, plan.options, plan.preprocess, plan.targets.several, files=files, whole_run=whole_run)


def records_writer(plan, out: Path) -> RecordsWriter:
    """--records jsonl: a table's records name its columns; other records point into the arrays."""
    table = plan.input_kind == "table" and plan.options.layer is None
    features = list(plan.features) if table else None
    output = plan.model_facts.get("output_name", "")
    return RecordsWriter(out, fmt=plan.options.format, features=features, output_name=output, several=plan.targets.several, shape=plan.stored_shape)


def open_sinks(plan, parameters: dict, out: Path) -> list:
    """The sinks this plan writes to, after the journal. Heatmaps and the feature table are for
    attributions in input space; token tables for token models with --vocab."""
    options = plan.options
    several = plan.targets.several
    sinks = []
    try:
        sinks.append(open_array_writer(out, options.format, array_layout(plan), parameters))
        sinks.append(summary_writer(plan, out))
        if plan.input_kind == "table" and options.layer is None:
            sinks.append(TableAttributionsWriter(out, list(plan.features), several))
        if plan.draws_heatmaps:
            sinks.append(heatmap_writer(plan, out))
        if options.vocab:
            sinks.append(TokenWriter(out, options.vocab, several))
        if options.records:
            sinks.append(records_writer(plan, out))
    except BaseException:
        for sink in sinks:
            sink.abort()
        raise
    return sinks
