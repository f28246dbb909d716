"""Integrated Gradients along the straight line: the path and the quadrature rule, as data for
the gradient core.

Cost is (instances x baseline samples x steps) forward+backward passes, plus one forward pass
per instance for F(x) and per distinct baseline for F(x')."""

from __future__ import annotations

import numpy as np

from igcli.methods.core import GradientCore, PathRows
from igcli.methods.explanation import Explanation
from igcli.methods.paths import StraightLine


class IntegratedGradients:
    path = StraightLine()

    def __init__(self, core: GradientCore, alphas: np.ndarray, weights: np.ndarray):
        self.core = core
        self.alphas = np.asarray(alphas, np.float32)
        self.weights = np.asarray(weights, np.float32)
        self._shared_baseline = None  # (baseline, its outputs): see _baseline_outputs

    @classmethod
    def build(cls, model_call, input_shape: tuple, alphas, weights, batch_size: int, branches: int | None = None, xla: bool = False):
        return cls(GradientCore(model_call, input_shape, cls.path, batch_size, branches, xla), alphas, weights)

    def outputs(self, x: np.ndarray) -> np.ndarray:
        return self.core.outputs(x)

    def explain(self, x: np.ndarray, baselines: np.ndarray, targets: np.ndarray, x_outputs: np.ndarray | None = None) -> Explanation:
        """x [G, ...], baselines [G, K, ...] (K baseline samples, averaged), targets [G] flat output indices."""
        groups, samples = baselines.shape[:2]
        x = np.asarray(x, np.float32)
        rows_x = np.repeat(x, samples, axis=0)
        rows_baseline = np.asarray(baselines, np.float32).reshape(rows_x.shape)
        rows_target = np.repeat(np.asarray(targets, np.int32), samples)
        rows = PathRows.same_rule({"start": rows_baseline, "delta": rows_x - rows_baseline}, rows_target, self.alphas, self.weights)
        attributions, _ = self.core.weighted_sums(rows)
        attributions = attributions.reshape(groups, samples, *x.shape[1:]).mean(axis=1)
        if x_outputs is None:
            x_outputs = self.outputs(x)
        scores = np.take_along_axis(x_outputs, np.asarray(targets)[:, None], axis=1)[:, 0]
        baseline_outputs = self._baseline_outputs(rows_baseline)
        baseline_scores = np.take_along_axis(baseline_outputs, rows_target[:, None].astype(np.int64), axis=1)[:, 0]
        baseline_scores = baseline_scores.astype(np.float64).reshape(groups, samples).mean(axis=1)
        return Explanation(attributions.astype(np.float32), scores, baseline_scores)

    def _baseline_outputs(self, baselines: np.ndarray) -> np.ndarray:
        """F(x') for every row; one forward pass per run when all rows share one baseline
        (zero, black, white, a constant, a single baseline file), as they usually do."""
        first = baselines[0]
        if not (baselines == first).all():
            return self.outputs(baselines)
        if self._shared_baseline is None or not np.array_equal(self._shared_baseline[0], first):
            self._shared_baseline = (first.copy(), self.outputs(first[None])[0])
        return np.broadcast_to(self._shared_baseline[1], (len(baselines), len(self._shared_baseline[1])))
