"""What every method shares: an instance becomes rows (one per noisy copy of the input and per
baseline sample), the method attributes each row, and the rows are averaged back per instance.

A method implements attribute(rows) -> RowResults; explain() does the rest: the average (or, for
SmoothGrad-Squared, the average of squares), F(x), F(x') and the completeness gap."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from igcli.methods.explanation import Explanation


@dataclass
class Rows:
    x: np.ndarray  # [R, ...] the path's end: the input, or a noisy copy of it
    baselines: np.ndarray  # [R, ...] the path's start where the method takes one (a baseline sample)
    targets: np.ndarray  # [R] flat output index
    instance: np.ndarray  # [R] the instance each row belongs to (0..G-1)


@dataclass
class RowResults:
    attributions: np.ndarray  # [R, ...]
    start_values: np.ndarray  # F where each row's path starts, [R]
    steps: np.ndarray | None = None  # per instance, methods that choose their steps
    error_estimates: np.ndarray | None = None
    hit_max_steps: np.ndarray | None = None


class RowMethod:
    core = None  # a GradientCore

    def outputs(self, x: np.ndarray) -> np.ndarray:
        return self.core.outputs(x)

    def attribute(self, rows: Rows) -> RowResults:
        raise NotImplementedError

    def metric_baseline(self, x: np.ndarray, baselines: np.ndarray) -> np.ndarray:
        """What deletion and insertion put in place of removed features: where the paths start,
        averaged over the baseline samples. [G, ...]"""
        return np.asarray(baselines, np.float32).mean(axis=1)

    def explain(self, x: np.ndarray, baselines: np.ndarray, targets: np.ndarray, x_outputs: np.ndarray | None = None,
                copies: np.ndarray | None = None, squared: bool = False) -> Explanation:
        """x [G, ...]; baselines [G, K, ...] (K samples, averaged); targets [G]; copies [G, N, ...]:
        noisy copies of x to average over (SmoothGrad), None for x itself; squared: average the
        squares of the rows' attributions (SmoothGrad-Squared; completeness then does not apply)."""
        groups, samples = baselines.shape[:2]
        x = np.asarray(x, np.float32)
        ends = x[:, None] if copies is None else np.asarray(copies, np.float32)
        copies_per = ends.shape[1]
        per_instance = copies_per * samples
        rows = Rows(
            x=np.repeat(ends.reshape(groups * copies_per, *x.shape[1:]), samples, axis=0),
            baselines=np.broadcast_to(np.asarray(baselines, np.float32)[:, None], (groups, copies_per, samples, *x.shape[1:])).reshape(groups * per_instance, *x.shape[1:]),
            targets=np.repeat(np.asarray(targets, np.int32), per_instance),
            instance=np.repeat(np.arange(groups), per_instance),
        )
        result = self.attribute(rows)
        by_instance = result.attributions.reshape(groups, per_instance, *x.shape[1:])
        attributions = np.square(by_instance).mean(axis=1) if squared else by_instance.mean(axis=1)
        if x_outputs is None:
            x_outputs = self.outputs(x)
        scores = np.take_along_axis(x_outputs, np.asarray(targets)[:, None], axis=1)[:, 0]
        baseline_scores = result.start_values.astype(np.float64).reshape(groups, per_instance).mean(axis=1)
        gap = None
        if squared:
            gap = np.full(groups, np.nan)
        elif copies is not None:  # the averaged attributions add up to the mean change over the copies
            end_values = np.take_along_axis(self.outputs(rows.x[::samples]), rows.targets[::samples, None].astype(np.int64), axis=1)[:, 0]
            gap = end_values.astype(np.float64).reshape(groups, copies_per).mean(axis=1) - baseline_scores
        return Explanation(attributions.astype(np.float32), scores, baseline_scores, steps=result.steps,
                           error_estimates=result.error_estimates, hit_max_steps=result.hit_max_steps, gap=gap)
