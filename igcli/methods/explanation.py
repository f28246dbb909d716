"""What every method returns for a group of instances."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Explanation:
    """Results for a group of instances; arrays are numpy, first axis is the instance."""

    attributions: np.ndarray  # [G, K, ...engine-space shape]
    scores: np.ndarray  # F(x) at each target, [G, K]
    baseline_scores: np.ndarray  # F(x') at each target, averaged over baseline samples, [G, K]
    # --steps auto: gradient evaluations per instance (all its baseline samples), the final
    # relative L1 error estimate, and whether it stopped at --max-steps above the tolerance
    steps: np.ndarray | None = None
    error_estimates: np.ndarray | None = None
    hit_max_steps: np.ndarray | None = None
    # what the attributions must add up to when it is not F(x) - F(x'): over noisy copies
    # (SmoothGrad) the mean change along their paths; NaN where completeness does not apply
    gap: np.ndarray | None = None
    # how far the quadrature alone may leave the sum of the attributions from complete, [G, K]
    # (igcli/methods/estimate.py); None where the method has no embedded rule
    sum_errors: np.ndarray | None = None
    incomplete: np.ndarray | None = None  # bool [G, K]: a completeness gap that is no quadrature error

    target_axis: bool = True  # False: one target per instance, no K axis (first_target)

    def first_target(self) -> Explanation:
        """The same without the K axis (one target each)."""

        def first(values):
            return None if values is None else values[:, 0]

        return Explanation(
            self.attributions[:, 0],
            self.scores[:, 0],
            self.baseline_scores[:, 0],
            first(self.steps),
            first(self.error_estimates),
            first(self.hit_max_steps),
            first(self.gap),
            first(self.sum_errors),
            first(self.incomplete),
            target_axis=False,
        )

    @property
    def sums(self) -> np.ndarray:
        if not self.target_axis:
            return self.attributions.reshape(len(self.attributions), -1).sum(axis=1, dtype=np.float64)
        groups, count = self.attributions.shape[:2]
        return self.attributions.reshape(groups, count, -1).sum(axis=2, dtype=np.float64)

    @property
    def deltas(self) -> np.ndarray:
        """Completeness error: sum(A) - (F(x) - F(x')), or sum(A) - gap."""
        if self.gap is not None:
            return self.sums - self.gap
        return self.sums - (self.scores.astype(np.float64) - self.baseline_scores)
