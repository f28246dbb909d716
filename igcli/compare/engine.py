"""igcli compare: two runs' maps matched by id and target position, compared a chunk at a time
(figures.py), told apart from integration noise by their error estimates, and gated.

A figure below its threshold is a change only where the maps differ by more than the two runs'
quadrature errors allow: relative_change > NOISE_MARGIN x (estimate A + estimate B). Two
approximations of one integral differ by at most the sum of their errors (the triangle
inequality), and each run's estimate is its relative L1 error: so a smaller difference cannot be
told from integration noise. A run without estimates allows none."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from igcli.compare.figures import batch_figures, features
from igcli.compare.ndcg import GlobalImportance
from igcli.compare.runs import Run

CHUNK = 128  # instances read and compared together: memory is CHUNK x both maps
TOP_CLASSES = 20  # global importance per class, for the classes with the most matched instances
MIN_CLASS_INSTANCES = 10  # a class's nDCG is gated from this many instances on
# Measured (docs/compare.md): the same model at other steps, change / the estimates' sum: median
# 0.75, at most 0.97 (sample CNN) and 4.2 in 1 of 400 (sample table at 16 steps, 99.5th percentile
# 2.9); a perturbed model's changed maps: 8 to 37.
NOISE_MARGIN = 3.0


@dataclass(frozen=True)
class Thresholds:
    min_rank_corr: float = 0.9  # Spearman, on |A| and on A
    min_top_iou: float = 0.7  # overlap of the top 10% features
    min_ndcg: float = 0.9  # global importance (SageMaker Clarify's drift threshold)


@dataclass
class Pairing:
    """The instances both runs explained, by id, in run A's order."""

    rows_a: np.ndarray
    rows_b: np.ndarray
    targets: int  # target positions compared per instance
    only_a: list[str]
    only_b: list[str]
    failed: list[str]  # in both runs, but failed in one or both


def pair_runs(a: Run, b: Run) -> Pairing:
    where_b = {ident: row for row, ident in enumerate(b.ids)}
    rows_a, rows_b, failed = [], [], []
    for row, ident in enumerate(a.ids):
        other = where_b.get(ident)
        if other is None:
            continue
        if a.ok[row] and b.ok[other]:
            rows_a.append(row)
            rows_b.append(other)
        else:
            failed.append(ident)
    in_a = set(a.ids)
    only_a = [ident for ident in a.ids if ident not in where_b]
    only_b = [ident for ident in b.ids if ident not in in_a]
    targets = min(a.targets.shape[1], b.targets.shape[1])
    return Pairing(np.array(rows_a, np.int64), np.array(rows_b, np.int64), targets, only_a, only_b, failed)


@dataclass
class Comparison:
    """Every matched (instance, target)'s figures, in pairing order, and the global figures."""

    ids: list[str] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    figures: dict[str, list] = field(default_factory=dict)
    verdicts: list[str] = field(default_factory=list)
    globals: list[dict] = field(default_factory=list)


def compare(a: Run, b: Run, pairing: Pairing, thresholds: Thresholds, write_rows) -> Comparison:
    """write_rows(rows: list[dict]) receives each chunk's rows (compare.csv) as they are made."""
    result = Comparison()
    importance = None
    shape_a, shape_b = a.arrays.map_shape(a.several), b.arrays.map_shape(b.several)
    if shape_a != shape_b:
        raise ValueError(f"the runs' attributions differ in shape: {shape_a} and {shape_b}")
    for start in range(0, len(pairing.rows_a), CHUNK):
        rows_a, rows_b = pairing.rows_a[start : start + CHUNK], pairing.rows_b[start : start + CHUNK]
        k = pairing.targets
        maps_a = a.arrays.attributions(rows_a, a.several)[:, :k]
        maps_b = b.arrays.attributions(rows_b, b.several)[:, :k]
        flat_a, flat_b = maps_a.reshape(-1, *maps_a.shape[2:]), maps_b.reshape(-1, *maps_b.shape[2:])
        features_a, features_b = features(flat_a, a.image), features(flat_b, b.image)  # (signed, magnitude) each
        figures = batch_figures(features_a, features_b, tuple(flat_a.shape[1:3]) if a.image else None)
        same_class = np.where(a.targets[rows_a, :k] == b.targets[rows_b, :k], a.targets[rows_a, :k], -1).ravel()
        if importance is None:
            importance = GlobalImportance(features_a[1].shape[1], _top_classes(a, b, pairing))
        importance.add(features_a[1], features_b[1], same_class)
        allowance = np.nan_to_num(a.estimates[rows_a, :k]).ravel() + np.nan_to_num(b.estimates[rows_b, :k]).ravel()
        verdicts = verdict(figures, allowance, thresholds)
        rows = _rows(a, b, rows_a, rows_b, k, figures, allowance, verdicts, (flat_a, flat_b))
        write_rows(rows)
        for name, values in figures.items():
            result.figures.setdefault(name, []).extend(values.tolist())
        result.ids += [row["id"] for row in rows]
        result.positions += [row["position"] for row in rows]
        result.verdicts += verdicts
    result.globals = importance.figures() if importance is not None else []
    return result


def verdict(figures: dict[str, np.ndarray], allowance: np.ndarray, thresholds: Thresholds) -> list[str]:
    """'same', 'within noise' (below a threshold, but no further apart than the runs' errors allow)
    or 'changed', per pair. An undefined figure (a constant map) is never below."""
    with np.errstate(invalid="ignore"):
        rank = np.fmin(figures["spearman_abs"], figures["spearman"])
        below = (rank < thresholds.min_rank_corr) | (figures["iou_10"] < thresholds.min_top_iou)
        noise = figures["relative_change"] <= NOISE_MARGIN * allowance
    return ["same" if not low else "within noise" if quiet else "changed" for low, quiet in zip(below, noise)]


def _top_classes(a: Run, b: Run, pairing: Pairing) -> list[int]:
    k = pairing.targets
    ta, tb = a.targets[pairing.rows_a, :k], b.targets[pairing.rows_b, :k]
    classes, counts = np.unique(ta[ta == tb], return_counts=True)
    order = np.argsort(-counts, kind="stable")[:TOP_CLASSES]
    return [int(c) for c in classes[order]]


def _rows(a: Run, b: Run, rows_a, rows_b, k: int, figures: dict, allowance: np.ndarray, verdicts: list[str], maps) -> list[dict]:
    """compare.csv's rows of one chunk, in pairing order: instance by instance, target by target."""
    out = []
    for i, (ra, rb) in enumerate(zip(rows_a, rows_b)):
        ident = a.ids[ra]
        predicted_a, predicted_b = a.predicted.get(ident, ("", "")), b.predicted.get(ident, ("", ""))
        for position in range(k):
            flat = i * k + position
            row = {"id": ident, "position": position, "target_a": int(a.targets[ra, position]), "target_b": int(b.targets[rb, position])}
            row.update(target_name_a=a.target_names[ra, position], target_name_b=b.target_names[rb, position])
            row.update(predicted_a=predicted_a[1] or predicted_a[0], predicted_b=predicted_b[1] or predicted_b[0])
            row["prediction_changed"] = int(predicted_a[0] != predicted_b[0])
            row.update(score_a=float(a.scores[ra, position]), score_b=float(b.scores[rb, position]))
            row["score_change"] = row["score_b"] - row["score_a"]
            row.update({name: float(values[flat]) for name, values in figures.items()})
            if a.feature_names:
                change = np.abs(maps[1][flat].ravel() - maps[0][flat].ravel())
                column = int(np.argmax(change))
                row["most_changed_feature"] = a.feature_names[column] if column < len(a.feature_names) else str(column)
                row["feature_change"] = float(maps[1][flat].ravel()[column] - maps[0][flat].ravel()[column])
            row.update(noise_allowance=float(allowance[flat]), verdict=verdicts[flat])
            out.append(row)
    return out
