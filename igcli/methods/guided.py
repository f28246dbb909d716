"""Guided Integrated Gradients (Kapishnikov et al. 2021): the path is chosen as it is walked. At
each of `steps` steps, the features whose gradient is smallest in magnitude move towards the input
first (a `fraction` of them at a time), none straying more than `max_dist` (in alpha) from the
straight line, until the path has covered 1/steps more of the L1 distance to the input.

Sequential along the path, so it is batched across rows instead: every step makes one gradient
call for all rows of a group, and the per-row bookkeeping runs in float64 on the host, as PAIR
saliency's reference does (same selection rule: the `fraction` quantile of |g|, lower value)."""

from __future__ import annotations

import math

import numpy as np

from igcli.methods.base import OneTargetAtATime, RowResults, Rows
from igcli.methods.core import GradientCore, PathRows
from igcli.methods.ig import idgi_sum
from igcli.methods.paths import GivenPoints

EPSILON = 1e-9  # when the covered L1 distance counts as reached (the reference's tolerance)


class GuidedIntegratedGradients(OneTargetAtATime):
    path = GivenPoints()

    def __init__(self, core: GradientCore, steps: int, fraction: float = 0.25, max_dist: float = 0.02, idgi: bool = False):
        self.core = core
        self.steps, self.fraction, self.max_dist, self.idgi = int(steps), float(fraction), float(max_dist), idgi

    @classmethod
    def build(cls, model_call, input_shape: tuple, steps: int, batch_size: int, branches: int | None = None, xla: bool = False, **options):
        return cls(GradientCore(model_call, input_shape, cls.path, batch_size, branches, xla), steps, **options)

    def _gradients(self, points: np.ndarray, targets: np.ndarray, mode: str = "points"):
        count = len(points)
        rows = PathRows({"point": points.astype(np.float32)}, targets, np.arange(count), np.zeros(count), np.ones(count))
        grads, values = self.core.point_contributions(rows, mode=mode)
        return grads.astype(np.float64).reshape(count, -1), values.astype(np.float64)[:, 0]

    def attribute_one(self, rows: Rows) -> RowResults:
        shape = rows.x.shape[1:]
        end = rows.x.reshape(len(rows.x), -1).astype(np.float64)
        start = rows.baselines.reshape(len(rows.x), -1).astype(np.float64)
        x = start.copy()
        attributions = np.zeros_like(end)
        total = np.abs(end - start).sum(axis=1)
        start_values = values = np.zeros(0)  # F at the first point, and at the last step's start (IDGI)
        directions = None
        for step in range(self.steps):
            grads, step_values = self._gradients(x.reshape(-1, *shape), rows.targets)
            if step == 0:
                start_values = step_values
            if self.idgi:  # the change of F over the last step, along the last step's direction
                if directions is not None:
                    attributions += idgi_sum(directions[:, None], values[:, None], np.stack([values, step_values], axis=1))
                directions, values = _directions(grads), step_values
            for row in range(len(x)):
                if total[row] == 0:
                    continue
                moved = self._step(x[row], end[row], start[row], grads[row], total[row], step)
                if not self.idgi:
                    attributions[row] += moved
        if self.idgi and directions is not None:
            final = np.take_along_axis(self.outputs(rows.x), rows.targets.astype(np.int64), axis=1)[:, 0].astype(np.float64)
            attributions += idgi_sum(directions[:, None], values[:, None], np.stack([values, final], axis=1))
        return RowResults(attributions.reshape(len(rows.x), 1, *shape).astype(np.float32), start_values[:, None])

    def _step(self, x: np.ndarray, end: np.ndarray, start: np.ndarray, grad_actual: np.ndarray, total: float, step: int) -> np.ndarray:
        """Move x (in place) one step along the guided path; -> (x_new - x_old) * gradient."""
        attribution = np.zeros_like(x)
        grad = grad_actual.copy()
        alpha = (step + 1.0) / self.steps
        alpha_min, alpha_max = max(alpha - self.max_dist, 0.0), min(alpha + self.max_dist, 1.0)
        x_min, x_max = start + (end - start) * alpha_min, start + (end - start) * alpha_max
        target = total * (1 - (step + 1) / self.steps)
        gamma = np.inf
        while gamma > 1.0:
            x_old = x.copy()
            with np.errstate(divide="ignore", invalid="ignore"):
                x_alpha = np.where(end - start != 0, (x - start) / (end - start), np.nan)
            x_alpha[np.isnan(x_alpha)] = alpha_max
            behind = x_alpha < alpha_min
            x[behind] = x_min[behind]  # features left behind the band catch up first
            current = np.abs(x - end).sum()
            if math.isclose(target, current, rel_tol=EPSILON, abs_tol=EPSILON):
                attribution += (x - x_old) * grad_actual
                break
            grad[x == x_max] = np.inf  # features at the band's front stay
            magnitude = np.abs(grad)
            # the `fraction` quantile, lower value: np.quantile(method="lower"), without its overhead
            rank = int(np.floor(self.fraction * (magnitude.size - 1)))
            threshold = np.partition(magnitude, rank)[rank]
            chosen = (magnitude <= threshold) & (grad != np.inf)
            if not chosen.any():  # every feature at the band's front: nothing can move (the reference would loop)
                break
            movable = (np.abs(x - x_max) * chosen).sum()
            gamma = (current - target) / movable if movable > 0 else np.inf
            if gamma > 1.0:
                x[chosen] = x_max[chosen]
            else:
                x[chosen] = (x + (x_max - x) * gamma)[chosen]
            attribution += (x - x_old) * grad_actual
        return attribution


def _directions(grads: np.ndarray) -> np.ndarray:
    """g^2 / |g|^2 per row, 0 where g = 0 (idgi_sum then spreads that step evenly)."""
    squares = np.square(grads)
    total = squares.sum(axis=1, keepdims=True)
    return np.divide(squares, total, out=np.zeros_like(squares), where=total > 0)
