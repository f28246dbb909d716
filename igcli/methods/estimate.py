"""How wrong the attributions may be, from what a run computes anyway.

A rule with an embedded coarser rule (quadrature.Embedded) gives, from the same gradients, the
attributions A of the rule and A' of the coarser one; --steps auto has the same pair in every
leaf (its fine and coarse trapezoids). Per instance and target:

    error_estimate = max(||A - A'||_1 / kappa, completeness defect) / ||A||_1

the relative L1 error of the attributions: what refining from A' to A changed, scaled to the
error of A (kappa: quadrature.Embedded), and at least the completeness defect |F(x) - F(x') -
sum A| beyond float32 rounding, a lower bound of the L1 error when the integral is complete.

    sum_error = |sum A - sum A'| / kappa

the same for the sum of the attributions: how far the quadrature alone may leave sum A from
F(x) - F(x').

A completeness gap that is no quadrature error (the gradients do not account for the output's
change: a gradient-blocking or non-differentiable operation) shows along the path itself. Between
two consecutive points a and b of a path, F(b) - F(a) - (b - a) (F'(a) + F'(b)) / 2 (F' = dF/dalpha,
from the gradients) is a quadrature residual: on a ReLU network a kink inside the stretch makes it
positive or negative as the kink falls, and where F is smooth it is O((b - a)^3). Where the
gradients miss part of F's change, every stretch misses its share, always with the same sign. An
instance is `incomplete` when its attributions miss F(x) - F(x') by more than INCOMPLETE_SHARE of
it, the residuals carry at least half of that miss, and their sum stands out of their spread:
|sum r| > CONSISTENCY x sqrt(sum r^2), which residuals of random signs pass with a probability of
about 6e-5 (4 standard deviations). More steps will not close such a gap."""

from __future__ import annotations

import numpy as np

ROUNDING = 4 * float(np.finfo(np.float32).eps)  # relative rounding of float32 values of F
INCOMPLETE_SHARE = 0.05  # a completeness gap worth a diagnosis: 5% of F(x) - F(x')
CONSISTENCY = 4.0  # standard deviations: how far the residuals' sum must stand out of their spread


def beyond_rounding(defect: float, *values: float) -> float:
    """|defect| less what float32 rounding of the F values alone can produce: where F barely
    changes along the path, its values' last bits would otherwise pass for a quadrature error."""
    return max(0.0, abs(float(defect)) - ROUNDING * max(abs(v) for v in values))


def path_residuals(alphas: np.ndarray, values: np.ndarray, slopes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """alphas [n] ascending; values F and slopes dF/dalpha at them, [R, n, K] -> (the sum of the
    residuals of the stretches between consecutive points, and the sum of their squares), [R, K]."""
    order = np.argsort(alphas, kind="stable")
    alphas, values, slopes = alphas[order], values[:, order].astype(np.float64), slopes[:, order].astype(np.float64)
    widths = np.diff(alphas)[None, :, None]
    residuals = np.diff(values, axis=1) - widths * (slopes[:, 1:] + slopes[:, :-1]) / 2
    return residuals.sum(axis=1), np.square(residuals).sum(axis=1)


def gap_flags(deltas: np.ndarray, gaps: np.ndarray, residual_sums: np.ndarray, residual_squares: np.ndarray) -> np.ndarray:
    """Where a completeness gap is no quadrature error (see above): bool, [G, K]."""
    miss = np.abs(deltas)
    with np.errstate(invalid="ignore"):
        return (
            (miss > INCOMPLETE_SHARE * np.abs(gaps)) & (np.abs(residual_sums) >= miss / 2) & (np.abs(residual_sums) > CONSISTENCY * np.sqrt(residual_squares))
        )


def pair_estimates(
    attributions: np.ndarray, coarse: np.ndarray, kappa: float, gaps: np.ndarray, scale: np.ndarray, incomplete: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """attributions, coarse [G, K, ...]; gaps [G, K]: what the attributions should add up to (NaN
    where completeness does not apply); scale [G, K]: the largest |F| involved (for rounding);
    incomplete [G, K]: where the gap is no quadrature error (left out of the estimate).
    -> (error estimates [G, K], sum errors [G, K])."""
    groups, count = attributions.shape[:2]
    flat = attributions.reshape(groups, count, -1).astype(np.float64)
    rough = coarse.reshape(groups, count, -1).astype(np.float64)
    change = np.abs(flat - rough).sum(axis=2) / kappa
    sums = flat.sum(axis=2)
    sum_errors = np.abs(sums - rough.sum(axis=2)) / kappa
    defects = np.abs(gaps - sums)
    beyond = np.where(np.isfinite(defects), np.maximum(defects - ROUNDING * np.abs(scale), 0.0), 0.0)
    error = np.where(incomplete, change, np.maximum(change, beyond))
    norm = np.abs(flat).sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        estimates = np.where(norm > 0, error / norm, np.where(error == 0, 0.0, np.inf))
    return estimates, sum_errors
