"""Faithfulness metrics: deletion and insertion (Petsiuk et al., RISE, BMVC 2018).

Features are ranked by their attribution (signed, averaged over the last axis where an instance
has more than one: an image's channels, a token's embedding, a feature map's channels), most
positive first. Deletion starts from the input and replaces the top-k features with the baseline's
values; insertion starts from the baseline and puts the input's values back; k runs over
M + 1 counts, floor(linspace(0, features, M + 1)). The target's value F after each step is the
curve, and its area over [0, 1] by the trapezoid rule (steps taken as evenly spaced) is the score:
a good explanation drops F fast (low deletion) and restores it fast (high insertion). This is
xplique 1.3's CausalFidelity, per instance. M forward passes per instance per metric, batched.

That score is in the model's units (logits, probabilities), so it does not compare across
instances, models or runs. normalised_area puts it on the curve's own scale: the same area with
F(x), the input's output, at 1 and F(x'), the output with every feature replaced, at 0."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from igcli.errors import UsageProblem
from igcli.optiontype import Given, ParsedOption
from igcli.results import UNINFORMATIVE_SHARE

METRICS = ("deletion", "insertion")
FORWARD_BATCH = 256  # perturbed inputs per forward call


@dataclass(frozen=True)
class MetricNames(Given):
    """--metrics deletion,insertion: each named once, in the order given."""

    names: tuple[str, ...]


def parse_metrics(text: str) -> MetricNames:
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise UsageProblem(f"--metrics {text}: unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
    return MetricNames(names, text=text)


METRIC_NAMES = ParsedOption("NAMES", parse_metrics, MetricNames)  # --metrics


def feature_view(shape: tuple) -> tuple[int, int]:
    """(features, values per feature) of one instance: the last axis groups when rank > 1."""
    if len(shape) > 1:
        return int(np.prod(shape[:-1])), int(shape[-1])
    return int(np.prod(shape)), 1


def curves(outputs_of, x: np.ndarray, attributions: np.ndarray, baselines: np.ndarray, targets: np.ndarray, metric: str, steps: int) -> np.ndarray:
    """outputs_of(batch) -> [B, outputs]; x, attributions, baselines [G, ...] in the engine's
    space; -> F of the target after each step, [G, steps + 1]."""
    count = len(x)
    features, width = feature_view(x.shape[1:])
    ranking = attributions.reshape(count, features, width).mean(axis=-1)
    order = np.argsort(ranking, axis=-1)[:, ::-1]  # most positive first, as the reference sorts
    counts = np.linspace(0, features, steps + 1).astype(np.int32)
    source, replacement = (x, baselines) if metric == "deletion" else (baselines, x)
    source = source.reshape(count, features, width)
    replacement = replacement.reshape(count, features, width)
    values = np.empty((count, steps + 1))
    pending: list[np.ndarray] = []
    where: list[tuple[int, int]] = []

    def flush():
        batch = np.stack(pending).reshape(len(pending), *x.shape[1:])
        rows, columns = zip(*where)
        out = outputs_of(batch)
        values[list(rows), list(columns)] = out[np.arange(len(pending)), targets[list(rows)]]
        pending.clear()
        where.clear()

    for row in range(count):
        for column, k in enumerate(counts):
            perturbed = source[row].copy()
            chosen = order[row, :k]
            perturbed[chosen] = replacement[row, chosen]
            pending.append(perturbed)
            where.append((row, column))
            if len(pending) == FORWARD_BATCH:
                flush()
    if pending:
        flush()
    return values


def area(curve: np.ndarray) -> np.ndarray:
    """Trapezoid area over [0, 1] of curves [G, M + 1] sampled at evenly spaced steps."""
    return 0.5 * (curve[:, :-1] + curve[:, 1:]).mean(axis=1)


def normalised_area(curves: np.ndarray, metric: str) -> np.ndarray:
    """The area of curves [..., M + 1] with F(x) at 1 and F(x') at 0: (area - F(x')) / (F(x) - F(x')),
    the ends read off each curve (deletion runs from x to x', insertion from x' to x). A perfect
    deletion is near 0 and a perfect insertion near 1; a curve that overshoots its ends leaves
    [0, 1]. NaN where F barely changes, |F(x) - F(x')| under UNINFORMATIVE_SHARE of |F(x)| (the
    ratio would be noise), or the curve is missing."""
    curves = np.asarray(curves, np.float64)
    start, end = curves[..., 0], curves[..., -1]
    full, empty = (start, end) if metric == "deletion" else (end, start)
    gap = full - empty
    raw = area(curves.reshape(-1, curves.shape[-1])).reshape(curves.shape[:-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = (raw - empty) / gap
    return np.where(np.abs(gap) > UNINFORMATIVE_SHARE * np.abs(full), scaled, np.nan)
