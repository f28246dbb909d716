"""Global importance, compared as SageMaker Clarify's attribution-drift monitor compares it:
the normalized discounted cumulative gain of run B's feature ranking, with run A's mean |A| as
the relevance. DCG = sum over B's ranking of A's importance of the feature at rank i / log2(i + 1);
the ideal DCG ranks by A itself; nDCG = DCG / ideal, 1 when B ranks the features as A does.
Features that B ties share the mean of their gains (so the order among ties does not matter)."""

from __future__ import annotations

import numpy as np


def ndcg(relevance: np.ndarray, scores: np.ndarray) -> float:
    """relevance: run A's global importance per feature (>= 0); scores: run B's."""
    relevance = np.asarray(relevance, np.float64).ravel()
    scores = np.asarray(scores, np.float64).ravel()
    discount = 1.0 / np.log2(np.arange(len(relevance)) + 2.0)
    ideal = float((np.sort(relevance)[::-1] * discount).sum())
    if ideal <= 0:
        return float("nan")  # A gives no feature any importance: nothing to rank
    return _tied_dcg(relevance, scores, discount) / ideal


def _tied_dcg(relevance: np.ndarray, scores: np.ndarray, discount: np.ndarray) -> float:
    """DCG of the ranking by scores (largest first); a group of tied scores takes the mean of
    its relevances at each of the positions it spans."""
    _, group, sizes = np.unique(-scores, return_inverse=True, return_counts=True)  # groups in rank order
    mean_gain = np.bincount(group, weights=relevance) / sizes
    ends = np.cumsum(sizes)
    spans = np.concatenate([[0.0], np.cumsum(discount)])
    return float((mean_gain * (spans[ends] - spans[ends - sizes])).sum())


class GlobalImportance:
    """Sums of |A| per feature over the matched instances of both runs, pooled and per target
    class (the `classes` chosen up front, so memory is bounded): mean |A| = sum / count."""

    def __init__(self, features: int, classes: list[int]):
        self.classes = list(classes)
        self.slot = {c: i + 1 for i, c in enumerate(self.classes)}  # slot 0: every instance pooled
        self.sums = np.zeros((2, len(self.classes) + 1, features), np.float64)
        self.counts = np.zeros(len(self.classes) + 1, np.int64)

    def add(self, magnitude_a: np.ndarray, magnitude_b: np.ndarray, classes: np.ndarray) -> None:
        """[B, n] magnitudes of matched pairs and their target class (the same in both runs; -1
        where the runs explain different classes: pooled only)."""
        self.sums[0, 0] += magnitude_a.sum(axis=0)
        self.sums[1, 0] += magnitude_b.sum(axis=0)
        self.counts[0] += len(magnitude_a)
        for c in np.unique(classes):
            slot = self.slot.get(int(c))
            if slot is None:
                continue
            rows = classes == c
            self.sums[0, slot] += magnitude_a[rows].sum(axis=0)
            self.sums[1, slot] += magnitude_b[rows].sum(axis=0)
            self.counts[slot] += int(rows.sum())

    def figures(self) -> list[dict]:
        """[{class (None: pooled), instances, ndcg}], pooled first."""
        out = []
        for slot, name in enumerate([None, *self.classes]):
            if self.counts[slot] == 0:
                continue
            mean_a, mean_b = self.sums[:, slot] / self.counts[slot]
            out.append({"class": name, "instances": int(self.counts[slot]), "ndcg": ndcg(mean_a, mean_b), "mean_abs_a": mean_a, "mean_abs_b": mean_b})
        return out
