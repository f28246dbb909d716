"""Points and weights on [0, 1] for the path integral of Integrated Gradients, and how many:
--steps (points per path) and --batch-size (points per gradient call).

Every rule returns weights that sum to exactly 1, so a path whose gradient is constant (a linear
model) is integrated without error by every rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from igcli.optiontype import Given, ParsedOption, whole_or_auto

METHODS = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")
MOST_POINTS = 1 << 18  # path points per instance (steps x baseline samples x noisy copies): a group's bookkeeping stays in memory
MOST_GAUSS = 1 << 14  # Gauss-Legendre points: Newton's iteration costs O(n^2) time (16,384: a few seconds)
EIGEN_MOST = 1000  # Gauss-Legendre from numpy up to here: every run of today's step counts keeps its exact nodes


@cache
def alphas_and_weights(method: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (alphas, weights), float64 arrays of length `steps`, computed once per run (read-only)."""
    alphas, weights = _rule(method, steps)
    alphas.flags.writeable = weights.flags.writeable = False
    return alphas, weights


def _rule(method: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    n = steps
    k = np.arange(n, dtype=np.float64)
    if method == "riemann_left":
        return k / n, np.full(n, 1.0 / n)
    if method == "riemann_right":
        return (k + 1) / n, np.full(n, 1.0 / n)
    if method == "riemann_middle":
        return (k + 0.5) / n, np.full(n, 1.0 / n)
    if method == "riemann_trapezoid":
        if n < 2:
            raise ValueError("riemann_trapezoid needs at least 2 steps")
        # n points spaced 1/(n-1): interior weight 1/(n-1), ends half that; the sum is exactly 1.
        weights = np.full(n, 1.0 / (n - 1))
        weights[[0, -1]] /= 2
        return k / (n - 1), weights
    if method == "gausslegendre":
        # numpy's nodes come from an n x n eigenproblem (5,000 points: 6 s and 200 MB); above
        # EIGEN_MOST, Newton's iteration on the Legendre recurrence, O(n) memory
        nodes, weights = np.polynomial.legendre.leggauss(n) if n <= EIGEN_MOST else _legendre_newton(n)
        return (nodes + 1) / 2, weights / 2
    raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def _legendre_newton(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [-1, 1] by Newton's iteration from the asymptotic
    guesses cos(pi (i - 1/4) / (n + 1/2)), P_n by its three-term recurrence, all nodes at once."""
    guess = np.cos(np.pi * (np.arange(1, n + 1) - 0.25) / (n + 0.5))
    for _ in range(100):
        p_previous, p = np.ones_like(guess), guess.copy()
        for k in range(2, n + 1):
            p_previous, p = p, ((2 * k - 1) * guess * p - (k - 1) * p_previous) / k
        derivative = n * (guess * p - p_previous) / (guess * guess - 1)
        step = p / derivative
        guess = guess - step
        if np.max(np.abs(step)) < 1e-15:
            break
    weights = 2 / ((1 - guess * guess) * derivative * derivative)
    return guess[::-1].copy(), weights[::-1].copy()


@dataclass(frozen=True)
class Embedded:
    """A coarser rule on a subset of a rule's own points, for the error estimate of fixed steps:
    weights over the same points (zero off the subset; a last stretch the coarse rule cannot pair
    keeps the fine weights), and kappa: what the refinement from the coarse rule to the fine one
    changes, over the fine rule's error, in root mean square, where the gradient along the path
    jumps (a ReLU network's kinks) at places spread uniformly over each interval:
      - trapezoid, intervals halved: the change is 0 or h/2 x a jump, the error uniform in
        [-h/4, h/4] of it: sqrt(3) (the same as --steps auto's);
      - left or right Riemann, intervals halved: change 0 or h, error uniform in [0, h]: sqrt(3/2);
      - midpoint, intervals cut in three (only thirds nest): change 0 or h, error uniform in
        [-h/2, h/2]: sqrt(8).
    Where the integrand is smooth the fine rule's error falls faster and the estimate overstates
    it (the trapezoid: by 3 / sqrt(3) = 1.7). Gauss-Legendre's points hold no coarser rule."""

    weights: np.ndarray
    kappa: float


@cache
def embedded_rule(method: str, steps: int) -> Embedded | None:
    n = steps
    coarse = np.zeros(n)
    if method in ("riemann_left", "riemann_right") and n >= 2:
        paired = n - n % 2
        coarse[np.arange(0 if method == "riemann_left" else 1, paired, 2)] = 2.0 / n
        coarse[paired:] = 1.0 / n
        return Embedded(coarse, float(np.sqrt(1.5)))
    if method == "riemann_middle" and n >= 3:
        tripled = n - n % 3
        coarse[np.arange(1, tripled, 3)] = 3.0 / n
        coarse[tripled:] = 1.0 / n
        return Embedded(coarse, float(np.sqrt(8.0)))
    if method == "riemann_trapezoid" and n >= 3:
        intervals = n - 1
        paired = intervals - intervals % 2  # the intervals the coarse rule covers, two at a time
        coarse[0 : paired + 1 : 2] = 2.0 / intervals
        coarse[0] = coarse[paired] = 1.0 / intervals
        if paired < intervals:  # the last interval, as the fine rule weighs it
            coarse[paired] += 0.5 / intervals
            coarse[-1] = 0.5 / intervals
        return Embedded(coarse, float(np.sqrt(3.0)))
    return None


def parse_steps(text: str) -> int | str:
    """--steps N -> N (at least 1); --steps auto -> "auto"."""
    steps = whole_or_auto(text, "--steps", "a whole number")
    return "auto" if steps is None else steps


STEPS = ParsedOption("N|auto", parse_steps, int)  # --steps


@dataclass(frozen=True)
class BatchSize(Given):
    """--batch-size: path points per gradient call; None for auto (chosen by the runner for its device)."""

    points: int | None


def parse_batch_size(text: str) -> BatchSize:
    return BatchSize(whole_or_auto(text, "--batch-size", "a positive integer"), text=text)


BATCH_SIZE = ParsedOption("N|auto", parse_batch_size, BatchSize)  # --batch-size
