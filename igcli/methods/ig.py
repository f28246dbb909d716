"""Integrated Gradients along a path the core builds (the straight line, or Blur IG's blur path):
the path and the quadrature rule, as data for the gradient core.

Cost is (instances x copies x baseline samples x steps) forward+backward passes, plus one
forward pass per distinct path start for F(x'). With idgi, each point's share of the step's change
in F replaces the quadrature weight (IDGI, Yang, Wang and Bilen 2023): same gradient evaluations."""

from __future__ import annotations

import numpy as np

from igcli.methods.base import RowMethod, RowResults, Rows
from igcli.methods.core import GradientCore, PathRows
from igcli.methods.estimate import path_residuals
from igcli.methods.paths import StraightLine
from igcli.methods.quadrature import Embedded

IDGI_MEMORY = 1 << 28  # bytes of per-point directions held at once; rows are taken in slices that fit


class IntegratedGradients(RowMethod):
    def __init__(self, core: GradientCore, alphas: np.ndarray, weights: np.ndarray, idgi: bool = False, embedded: Embedded | None = None):
        """embedded: a coarser rule on the same points, for the error estimate (not with IDGI,
        whose weights come from F's changes)."""
        self.core = core
        self.path = core.path
        self.alphas = np.asarray(alphas, np.float64)
        self.weights = np.asarray(weights, np.float32)
        self.idgi = idgi
        self.embedded = None if idgi else embedded
        self._shared_baseline: tuple[np.ndarray, np.ndarray] | None = None  # (baseline, its outputs): see _baseline_outputs

    @classmethod
    def build(
        cls,
        model_call,
        input_shape: tuple,
        alphas,
        weights,
        batch_size: int,
        branches: int | None = None,
        xla: bool = False,
        path=None,
        idgi: bool = False,
        targets: int = 1,
        embedded: Embedded | None = None,
    ):
        """targets: K, the outputs each row explains at once (their points are the same)."""
        core = GradientCore(model_call, input_shape, path or StraightLine(), batch_size, branches, xla, targets)
        return cls(core, alphas, weights, idgi, embedded)

    def attribute(self, rows: Rows) -> RowResults:
        tensors = self.path.row_tensors(rows.x, rows.baselines)
        if self.idgi:
            attributions, start_values = self._idgi(tensors, rows.targets)
            return RowResults(attributions, start_values)
        if self.embedded is None:
            attributions, _ = self.core.weighted_sums(PathRows.same_rule(tensors, rows.targets, self.alphas, self.weights))
            return RowResults(attributions, self._start_values(rows, tensors))
        same = PathRows.same_rule(tensors, rows.targets, self.alphas, self.weights, self.embedded.weights)
        attributions, coarse, values, slopes = self.core.weighted_pair(same)
        count, width = len(rows.targets), values.shape[1]
        total, squares = path_residuals(self.alphas, values.reshape(count, -1, width), slopes.reshape(count, -1, width))
        residuals = np.stack([total, squares], axis=1)  # [R, 2, K]
        return RowResults(attributions, self._start_values(rows, tensors), coarse=coarse, kappa=self.embedded.kappa, residuals=residuals)

    def metric_baseline(self, x: np.ndarray, baselines: np.ndarray) -> np.ndarray:
        if isinstance(self.path, StraightLine):
            return super().metric_baseline(x, baselines)
        from igcli.tfimport import tensorflow  # a curved path: its start (Blur IG: the blurred input)

        tf = tensorflow()
        start = self.path.points({name: tf.constant(x) for name in self.path.row_fields}, tf.zeros([len(x), *[1] * (x.ndim - 1)], tf.float64))
        return start.numpy()

    def _start_values(self, rows: Rows, tensors: dict) -> np.ndarray:
        if isinstance(self.path, StraightLine):
            outputs = self._baseline_outputs(rows.baselines)
            return np.take_along_axis(outputs, rows.targets.astype(np.int64), axis=1)
        return self.core.path_values(PathRows.same_rule(tensors, rows.targets, np.zeros(1), np.ones(1)))

    def _baseline_outputs(self, baselines: np.ndarray) -> np.ndarray:
        """F(x') for every row; one forward pass per run when all rows share one baseline
        (zero, black, white, a constant, a single baseline file), as they usually do."""
        first = baselines[0]
        if not (baselines == first).all():
            return self.outputs(baselines)
        if self._shared_baseline is None or not np.array_equal(self._shared_baseline[0], first):
            self._shared_baseline = (first.copy(), self.outputs(first[None])[0])
        return np.broadcast_to(self._shared_baseline[1], (len(baselines), len(self._shared_baseline[1])))

    def _idgi(self, tensors: dict, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each path point's direction g^2 / |g|^2 weighted by the change of F over its stretch of
        the path: the stretches run from point to point, the first from the start and the last to
        the end, so they add up to F(end) - F(start) exactly (completeness by construction)."""
        order = np.argsort(self.alphas, kind="stable")
        alphas = self.alphas[order]
        count, width = targets.shape
        ends = self.core.path_values(PathRows.same_rule(tensors, targets, np.array([0.0, 1.0]), np.ones(2))).reshape(count, 2, width).astype(np.float64)
        shape = next(iter(tensors.values())).shape[1:]
        size = int(np.prod(shape))
        per_slice = max(1, IDGI_MEMORY // (4 * size * len(alphas) * width))
        results = []
        for first in range(0, count, per_slice):
            part = {name: tensor[first : first + per_slice] for name, tensor in tensors.items()}
            rows = PathRows.same_rule(part, targets[first : first + per_slice], alphas, np.ones(len(alphas)))
            directions, values = self.core.point_contributions(rows, mode="idgi")
            directions = directions.reshape(-1, len(alphas), width, size)
            values = values.reshape(-1, len(alphas), width)
            ends_part = ends[first : first + per_slice]
            results.append(np.stack([idgi_sum(directions[:, :, k], values[:, :, k], ends_part[:, :, k]) for k in range(width)], axis=1))
        attributions = np.concatenate(results).reshape(count, width, *shape)
        return attributions.astype(np.float32), ends[:, 0]


def idgi_sum(directions: np.ndarray, values: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """directions [R, n, D] (rows of g^2/|g|^2, zero where g = 0), values [R, n] F at the points in
    path order, ends [R, 2] F at the start and end -> [R, D]. A point where the gradient vanishes
    spreads its stretch's change evenly, so that nothing of F's change is lost."""
    values = values.astype(np.float64)
    changes = np.concatenate([values[:, 1:], ends[:, 1:]], axis=1) - values
    changes[:, 0] += values[:, 0] - ends[:, 0]  # the stretch from the start to the first point
    empty = ~directions.any(axis=2)
    if empty.any():
        directions = directions.copy()
        directions[empty] = 1.0 / directions.shape[2]
    # a product per point and feature: float32 keeps completeness to ~1e-7 of F's change
    return np.einsum("rn,rnd->rd", changes.astype(directions.dtype), directions)
