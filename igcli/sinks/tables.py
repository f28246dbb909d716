"""summary.csv (one row per instance) and attributions.csv (table inputs: one column per feature),
streamed under a temporary name and renamed into place when the run completes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from igcli.results import Results
from igcli.sinks.atomic import PartialFile

SUMMARY_COLUMNS = (
    "id", "source", "original_size", "predicted", "predicted_name", "target", "target_name", "score",
    "baseline_score", "attribution_sum", "delta", "relative_delta", "uninformative_baseline", "status", "error",
)


class CsvSink:
    """A CSV file written a group of rows at a time; the subclass says which rows."""

    OWNS: tuple[str, ...] = ()

    def __init__(self, path: Path, header: list[str]):
        self.file = PartialFile(path)
        self.handle = open(self.file.temporary, "w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.handle)
        self.writer.writerow(header)

    def rows(self, results: Results):
        raise NotImplementedError

    def append(self, results: Results) -> None:
        self.writer.writerows(self.rows(results))
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()
        self.file.commit()

    def abort(self) -> None:
        self.handle.close()
        self.file.discard()


class SummaryWriter(CsvSink):
    """summary.csv; with --steps auto `steps` and `error_estimate`, and with --metrics one column
    per metric, come before status."""

    OWNS = ("summary.csv",)

    def __init__(self, out: Path, adaptive: bool = False, metrics: tuple = ()):
        self.adaptive, self.metrics = adaptive, tuple(metrics)
        header = list(SUMMARY_COLUMNS)
        extra = (["steps", "error_estimate"] if adaptive else []) + list(self.metrics)
        header[header.index("status"):header.index("status")] = extra
        super().__init__(out / "summary.csv", header)

    def rows(self, results: Results):
        sizes = [extra.get("original_size", "") for extra in results.extras]
        columns = [results.ids, results.sources, sizes, results.predicted, results.predicted_names, results.targets, results.target_names, results.scores,
                   results.baseline_scores, results.sums, results.deltas, results.relative_deltas, results.uninformative]
        if self.adaptive:
            columns += [results.steps, results.error_estimates]
        columns += [results.metric_scores[name] for name in self.metrics]
        for *head, status, error in zip(*columns, results.statuses, results.errors):
            yield [cell(value) for value in head] + [status, error or ""]


class TableAttributionsWriter(CsvSink):
    """attributions.csv for table inputs: id, then one column per feature."""

    OWNS = ("attributions.csv",)

    def __init__(self, out: Path, features: list[str]):
        super().__init__(out / "attributions.csv", ["id", *features])

    def rows(self, results: Results):
        for ident, row in zip(results.ids, results.attributions):
            yield [ident, *(cell(float(v)) for v in row)]


def cell(value):
    """Floats at full precision (empty for NaN), negative indices (none chosen) empty."""
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else repr(float(value))
    if isinstance(value, np.integer):
        return "" if value < 0 else int(value)
    return value
