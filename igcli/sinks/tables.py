"""summary.csv (one row per instance) and attributions.csv (table inputs: one column per feature),
streamed under a temporary name and renamed into place when the run completes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from igcli.atomic import PartialFile
from igcli.faithfulness import normalised_area
from igcli.results import Results

SUMMARY_COLUMNS = (
    "id",
    "source",
    "original_size",
    "predicted",
    "predicted_name",
    "target",
    "target_name",
    "score",
    "baseline_score",
    "attribution_sum",
    "delta",
    "relative_delta",
    "uninformative_baseline",
    "status",
    "error",
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
        try:
            self.handle.close()  # raises again on a full disk: the partial file goes all the same
        finally:
            self.file.discard()


class SummaryWriter(CsvSink):
    """summary.csv: one row per instance, or with several targets one per (instance, target) and
    a `rank` column; with --steps auto `steps`, with an error estimate (estimated) `error_estimate`
    and `incomplete`, and with --metrics a column per metric (its score in the model's units) then
    one per metric with its score normalised (`<metric>_normalised`, faithfulness.normalised_area),
    come before status."""

    OWNS = ("summary.csv",)

    def __init__(self, out: Path, adaptive: bool = False, metrics: tuple = (), several: bool = False, estimated: bool = False):
        self.adaptive, self.metrics, self.several, self.estimated = adaptive, tuple(metrics), several, estimated or adaptive
        header = list(SUMMARY_COLUMNS)
        scores = [*self.metrics, *(f"{name}_normalised" for name in self.metrics)]
        extra = (["steps"] if adaptive else []) + (["error_estimate", "incomplete"] if self.estimated else []) + scores
        header[header.index("status") : header.index("status")] = extra
        if several:
            header.insert(header.index("target"), "rank")
        super().__init__(out / "summary.csv", header)

    def rows(self, results: Results):
        relative, uninformative, incomplete = results.relative_deltas, results.uninformative, results.incomplete
        normalised = [normalised_area(results.metric_curves[name], name) for name in self.metrics]
        for row, (ident, source, extra, error) in enumerate(zip(results.ids, results.sources, results.extras, results.errors)):
            head = [ident, source, extra.get("original_size", ""), results.predicted[row], results.predicted_names[row]]
            count = results.targets.shape[1] if error is None or not self.several else 1
            for k in range(count):
                values = [
                    results.targets[row, k],
                    results.target_names[row][k],
                    results.scores[row, k],
                    results.baseline_scores[row, k],
                    results.sums[row, k],
                    results.deltas[row, k],
                    relative[row, k],
                    uninformative[row, k],
                ]
                if self.adaptive:
                    values.append(results.steps[row, k])
                if self.estimated:
                    values += [results.error_estimates[row, k], incomplete[row, k]]
                values += [results.metric_scores[name][row, k] for name in self.metrics] + [scores[row, k] for scores in normalised]
                rank = [k + 1 if error is None else ""] if self.several else []
                yield [cell(value) for value in head] + rank + [cell(value) for value in values] + ["ok" if error is None else "error", error or ""]


class TableAttributionsWriter(CsvSink):
    """attributions.csv for table inputs: id (and with several targets: rank, target), then one
    column per feature."""

    OWNS = ("attributions.csv",)

    def __init__(self, out: Path, features: list[str], several: bool = False):
        self.several = several
        super().__init__(out / "attributions.csv", ["id", *(["rank", "target"] if several else []), *features])

    def rows(self, results: Results):
        for row, ident in enumerate(results.ids):
            if not self.several:
                yield [ident, *(cell(float(v)) for v in results.attributions[row, 0])]
                continue
            for k, values in enumerate(results.attributions[row]):
                target = results.targets[row, k]
                yield [ident, k + 1 if target >= 0 else "", cell(target), *(cell(float(v)) for v in values)]


def cell(value):
    """Floats at full precision (empty for NaN), negative indices (none chosen) empty."""
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else repr(float(value))
    if isinstance(value, np.integer):
        return "" if value < 0 else int(value)
    return value
