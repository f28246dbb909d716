"""Points and weights on [0, 1] for the path integral of Integrated Gradients, and how many:
--steps (points per path) and --batch-size (points per gradient call).

Every rule returns weights that sum to exactly 1, so a path whose gradient is constant (a linear
model) is integrated without error by every rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from igcli.optiontype import Given, ParsedOption, whole_or_auto

METHODS = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")


def alphas_and_weights(method: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (alphas, weights), float64 arrays of length `steps`."""
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
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return (nodes + 1) / 2, weights / 2
    raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


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
