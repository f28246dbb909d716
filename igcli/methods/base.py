"""What every method shares: an instance becomes rows (one per noisy copy of the input and per
baseline sample), the method attributes each row, and the rows are averaged back per instance.

A method implements attribute(rows) -> RowResults; explain() does the rest: the average (or, for
SmoothGrad-Squared, the average of squares), F(x), F(x') and the completeness gap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from igcli.methods.estimate import gap_flags, pair_estimates
from igcli.methods.explanation import Explanation

if TYPE_CHECKING:
    from igcli.methods.core import GradientCore


@dataclass
class Rows:
    x: np.ndarray  # [R, ...] the path's end: the input, or a noisy copy of it
    baselines: np.ndarray  # [R, ...] the path's start where the method takes one (a baseline sample)
    targets: np.ndarray  # [R, K] flat output indices: each row explains K outputs
    instance: np.ndarray  # [R] the instance each row belongs to (0..G-1)


@dataclass
class RowResults:
    attributions: np.ndarray  # [R, K, ...]
    start_values: np.ndarray  # F of each target where each row's path starts, [R, K]
    steps: np.ndarray | None = None  # [G, K], methods that choose their steps
    error_estimates: np.ndarray | None = None
    hit_max_steps: np.ndarray | None = None
    # the attributions of an embedded coarser rule over the same points, [R, K, ...], and how
    # the change from them scales to the error (igcli/methods/estimate.py); None: no estimate
    coarse: np.ndarray | None = None
    kappa: float = 0.0
    # the quadrature residuals along each row's path, [R, 2, K]: their sum and the sum of their
    # squares (estimate.path_residuals), the evidence of a gap that steps do not close
    residuals: np.ndarray | None = None


class RowMethod:
    core: GradientCore  # set by each method's constructor

    def outputs(self, x: np.ndarray) -> np.ndarray:
        return self.core.outputs(x)

    def attribute(self, rows: Rows) -> RowResults:
        raise NotImplementedError

    def metric_baseline(self, x: np.ndarray, baselines: np.ndarray) -> np.ndarray:
        """What deletion and insertion put in place of removed features: where the paths start,
        averaged over the baseline samples. [G, ...]"""
        return np.asarray(baselines, np.float32).mean(axis=1)

    def explain(
        self,
        x: np.ndarray,
        baselines: np.ndarray,
        targets: np.ndarray,
        x_outputs: np.ndarray | None = None,
        copies: np.ndarray | None = None,
        squared: bool = False,
    ) -> Explanation:
        """x [G, ...]; baselines [G, S, ...] (S samples, averaged); targets [G, K] (or [G]);
        copies [G, N, ...]: noisy copies of x to average over (SmoothGrad), None for x itself;
        squared: average the squares of the rows' attributions (SmoothGrad-Squared; completeness
        then does not apply). Every array of the Explanation has a K axis after the instance, unless
        targets came as [G] (one each): then it has none."""
        groups, samples = baselines.shape[:2]
        x = np.asarray(x, np.float32)
        one = np.ndim(targets) == 1
        targets = np.asarray(targets).reshape(groups, -1)
        ends = x[:, None] if copies is None else np.asarray(copies, np.float32)
        copies_per = ends.shape[1]
        per_instance = copies_per * samples
        rows = Rows(
            x=np.repeat(ends.reshape(groups * copies_per, *x.shape[1:]), samples, axis=0),
            baselines=np.broadcast_to(np.asarray(baselines, np.float32)[:, None], (groups, copies_per, samples, *x.shape[1:])).reshape(
                groups * per_instance, *x.shape[1:]
            ),
            targets=np.repeat(targets.astype(np.int32), per_instance, axis=0),
            instance=np.repeat(np.arange(groups), per_instance),
        )
        result = self.attribute(rows)
        count = targets.shape[1]
        by_instance = result.attributions.reshape(groups, per_instance, count, *x.shape[1:])
        attributions = np.square(by_instance).mean(axis=1) if squared else by_instance.mean(axis=1)
        if x_outputs is None:
            x_outputs = self.outputs(x)
        scores = np.take_along_axis(x_outputs, targets.astype(np.int64), axis=1)
        baseline_scores = result.start_values.astype(np.float64).reshape(groups, per_instance, count).mean(axis=1)
        gap = None
        if squared:
            gap = np.full((groups, count), np.nan)
        elif copies is not None:  # the averaged attributions add up to the mean change over the copies
            end_outputs = self.outputs(rows.x[::samples])
            end_values = np.take_along_axis(end_outputs, rows.targets[::samples].astype(np.int64), axis=1)
            gap = end_values.astype(np.float64).reshape(groups, copies_per, count).mean(axis=1) - baseline_scores
        explanation = Explanation(
            attributions.astype(np.float32),
            scores,
            baseline_scores,
            steps=result.steps,
            error_estimates=result.error_estimates,
            hit_max_steps=result.hit_max_steps,
            gap=gap,
        )
        if result.coarse is not None and not squared:  # an embedded rule: the estimate at no extra gradient
            self._estimate(explanation, result, per_instance)
        return explanation.first_target() if one else explanation

    @staticmethod
    def _estimate(explanation: Explanation, result: RowResults, per_instance: int) -> None:
        """The explanation's error estimates (unless --steps auto made its own), sum errors and
        completeness gap flags, from the rows' coarse attributions and path residuals."""
        attributions = explanation.attributions
        groups, count = attributions.shape[:2]
        assert result.coarse is not None
        coarse = result.coarse.reshape(groups, per_instance, *attributions.shape[1:]).mean(axis=1)
        target = explanation.scores - explanation.baseline_scores if explanation.gap is None else explanation.gap
        incomplete = np.zeros((groups, count), bool)
        if result.residuals is not None:  # the rows' residuals pooled: their mean for the miss, all of them for the spread
            pooled = result.residuals.reshape(groups, per_instance, 2, count).sum(axis=1)
            deltas = attributions.reshape(groups, count, -1).sum(axis=2, dtype=np.float64) - target
            incomplete = gap_flags(deltas, target, pooled[:, 0] / per_instance, pooled[:, 1] / per_instance**2)
        scale = np.maximum(np.abs(explanation.scores), np.abs(explanation.baseline_scores))
        estimates, explanation.sum_errors = pair_estimates(attributions, coarse, result.kappa, target, scale, incomplete)
        if explanation.error_estimates is None:  # --steps auto estimates its own
            explanation.error_estimates = estimates
        explanation.incomplete = incomplete


class OneTargetAtATime(RowMethod):
    """For methods whose path depends on the target (Guided IG) or that refine per target
    (--steps auto): each row is split into one row per target, on a core of K = 1."""

    def attribute(self, rows: Rows) -> RowResults:
        count = rows.targets.shape[1]
        single = Rows(
            np.repeat(rows.x, count, axis=0),
            np.repeat(rows.baselines, count, axis=0),
            rows.targets.reshape(-1, 1),
            np.repeat(rows.instance, count) * count + np.tile(np.arange(count), len(rows.x)),
        )
        result = self.attribute_one(single)
        shape = rows.x.shape[1:]

        def per_target(values):  # [G * K] per (instance, target) -> [G, K]
            return None if values is None else values.reshape(-1, count)

        return RowResults(
            result.attributions.reshape(len(rows.x), count, *shape),
            result.start_values.reshape(len(rows.x), count),
            per_target(result.steps),
            per_target(result.error_estimates),
            per_target(result.hit_max_steps),
            None if result.coarse is None else result.coarse.reshape(len(rows.x), count, *shape),
            result.kappa,
            None if result.residuals is None else result.residuals.reshape(len(rows.x), count, 2).transpose(0, 2, 1),
        )

    def attribute_one(self, rows: Rows) -> RowResults:
        """rows.targets [R, 1]; rows.instance groups rows that average into one result."""
        raise NotImplementedError
