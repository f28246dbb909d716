"""One group of instances, explained or failed, in input order: what the runner hands every sink.

Every per-target array has a target axis after the instance axis: K targets per instance (K = 1
unless --target asks for several; the sinks then write today's layout, without that axis)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# A baseline is uninformative when F barely changes along the path: |F(x) - F(x')| under this
# share of |F(x)|. The attributions then explain almost nothing, and the relative delta, a ratio to
# that small change, means little (seen on a real SavedModel: F(x) - F(x') = 0.0002, relative delta 11.7).
UNINFORMATIVE_SHARE = 0.01


@dataclass
class Results:
    indices: np.ndarray
    ids: list[str]
    sources: list[str]
    inputs: np.ndarray  # what the model saw, [b, ...]
    extras: list[dict]  # per instance: original_size, label, hash, reused
    attributions: np.ndarray  # float32 [b, K, ...]; NaN for failed instances
    targets: np.ndarray  # int64 [b, K], -1 where failed before a target was chosen
    predicted: np.ndarray  # int64 [b] argmax of the output, -1 where not computed
    scores: np.ndarray  # float64 [b, K], NaN where failed
    baseline_scores: np.ndarray
    sums: np.ndarray
    deltas: np.ndarray
    errors: list[str | None]  # [b]
    target_names: list[list[str]] = field(default_factory=list)  # [b][K]
    predicted_names: list[str] = field(default_factory=list)
    # --steps auto: gradient evaluations per (instance, target) (-1 where none), the error
    # estimate, and whether it stopped at --max-steps above the tolerance
    steps: np.ndarray | None = None
    error_estimates: np.ndarray | None = None
    hit_max_steps: np.ndarray | None = None
    # --metrics: per metric, the score [b, K] (NaN where failed) and the curve [b, K, M + 1]
    metric_scores: dict = field(default_factory=dict)
    metric_curves: dict = field(default_factory=dict)

    @classmethod
    def empty(cls, batch, shape: tuple, count: int = 1, metrics: tuple = (), metric_steps: int = 0) -> Results:
        """Every instance failed or not yet computed: NaN values, the batch's read errors.
        shape: one instance's attributions (the input's, or a layer's with --layer); count: K."""
        size = len(batch.ids)

        def nan(*more):
            return np.full((size, count, *more), np.nan)

        return cls(
            indices=batch.indices, ids=list(batch.ids), sources=list(batch.sources), inputs=batch.arrays, extras=batch.extras,
            attributions=np.full((size, count, *shape), np.nan, np.float32), targets=np.full((size, count), -1, np.int64),
            predicted=np.full(size, -1, np.int64), scores=nan(), baseline_scores=nan(), sums=nan(), deltas=nan(),
            errors=list(batch.errors), target_names=[[""] * count for _ in range(size)], predicted_names=[""] * size,
            steps=np.full((size, count), -1, np.int64), error_estimates=nan(), hit_max_steps=np.zeros((size, count), bool),
            metric_scores={name: nan() for name in metrics}, metric_curves={name: nan(metric_steps + 1) for name in metrics},
        )

    @property
    def statuses(self) -> list[str]:
        return ["ok" if error is None else "error" for error in self.errors]

    def target_labels(self, row: int) -> list[str]:
        """Each target of an instance as a file name part: its class name, else its index."""
        from igcli.data.ids import safe_component

        return [safe_component(name) if name else str(int(t)) for name, t in zip(self.target_names[row], self.targets[row])]

    @property
    def uninformative(self) -> np.ndarray:
        """[b, K]: 1 where the baseline is uninformative (see UNINFORMATIVE_SHARE), 0 where not,
        -1 where the instance failed."""
        gap = np.abs(self.scores - self.baseline_scores)
        flags = (gap < UNINFORMATIVE_SHARE * np.abs(self.scores)).astype(np.int64)
        flags[np.isnan(self.scores)] = -1
        return flags

    @property
    def relative_deltas(self) -> np.ndarray:
        """|delta| relative to |F(x) - F(x')|, [b, K]; 0/0 counts as exact, x/0 as infinite."""
        gap = np.abs(self.scores - self.baseline_scores)
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.abs(self.deltas) / gap
        relative[(gap == 0) & (self.deltas == 0)] = 0.0
        return relative
