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
# The numeric values of a record (with attributions, and the metrics' scores and curves).
RECORD_NUMBERS = (
    "targets",
    "predicted",
    "scores",
    "baseline_scores",
    "sums",
    "deltas",
    "steps",
    "error_estimates",
    "hit_max_steps",
    "sum_errors",
    "incomplete",
)


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
    # --steps auto: gradient evaluations per (instance, target) (-1 where none), the error
    # estimate, and whether it stopped at --max-steps above the tolerance
    steps: np.ndarray
    error_estimates: np.ndarray  # relative L1 error estimate [b, K]; NaN where the method has none
    hit_max_steps: np.ndarray
    sum_errors: np.ndarray  # how far the quadrature alone may leave sum A from complete [b, K]; NaN: unknown
    # [b, K]: 1 where the attributions miss F(x) - F(x') by more than the quadrature explains
    # (igcli/methods/estimate.py: more steps will not close it), 0 where not, -1 where unknown
    incomplete: np.ndarray
    target_names: list[list[str]] = field(default_factory=list)  # [b][K]
    predicted_names: list[str] = field(default_factory=list)
    # --metrics: per metric, the score [b, K] (NaN where failed) and the curve [b, K, M + 1]
    metric_scores: dict = field(default_factory=dict)
    metric_curves: dict = field(default_factory=dict)
    xrai: np.ndarray | None = None  # --xrai: each target's region map [b, K, H, W], NaN where none

    @classmethod
    def empty(cls, batch, shape: tuple, count: int = 1, metrics: tuple = (), metric_steps: int = 0, xrai: bool = False) -> Results:
        """Every instance failed or not yet computed: NaN values, the batch's read errors.
        shape: one instance's attributions (the input's, or a layer's with --layer); count: K."""
        size = len(batch.ids)

        def nan(*more):
            return np.full((size, count, *more), np.nan)

        return cls(
            indices=batch.indices,
            ids=list(batch.ids),
            sources=list(batch.sources),
            inputs=batch.arrays,
            extras=batch.extras,
            attributions=np.full((size, count, *shape), np.nan, np.float32),
            targets=np.full((size, count), -1, np.int64),
            predicted=np.full(size, -1, np.int64),
            scores=nan(),
            baseline_scores=nan(),
            sums=nan(),
            deltas=nan(),
            errors=list(batch.errors),
            target_names=[[""] * count for _ in range(size)],
            predicted_names=[""] * size,
            steps=np.full((size, count), -1, np.int64),
            error_estimates=nan(),
            hit_max_steps=np.zeros((size, count), bool),
            sum_errors=nan(),
            incomplete=np.full((size, count), -1, np.int64),
            metric_scores={name: nan() for name in metrics},
            metric_curves={name: nan(metric_steps + 1) for name in metrics},
            xrai=nan(*shape[:2]) if xrai else None,
        )

    def to_arrays(self) -> dict:
        """Every value but the inputs, as arrays of one row per instance: the record the journal
        and a cluster run's shards keep, and from_arrays reads back."""
        arrays = {name: getattr(self, name) for name in ("attributions", *RECORD_NUMBERS)}
        arrays.update({f"metric_{name}": values for name, values in self.metric_scores.items()})
        arrays.update({f"curve_{name}": values for name, values in self.metric_curves.items()})
        if self.xrai is not None:
            arrays["xrai"] = self.xrai
        arrays.update(
            indices=np.asarray(self.indices, np.int64),
            ids=np.array(self.ids, dtype=str),
            sources=np.array(self.sources, dtype=str),
            target_names=np.array(self.target_names, dtype=str).reshape(self.targets.shape),
            predicted_names=np.array(self.predicted_names, dtype=str),
            hashes=np.array([e.get("hash", "") for e in self.extras], dtype=str),
            original_sizes=np.array([e.get("original_size", "") for e in self.extras], dtype=str),
            statuses=np.array(self.statuses, dtype=str),
            errors=np.array([e or "" for e in self.errors], dtype=str),
        )
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict, inputs=None, reused=None) -> Results:
        """The inverse of to_arrays; reused [b]: rows an earlier attempt finished (extras' flag)."""
        count = len(arrays["ids"])
        reused = np.zeros(count, bool) if reused is None else reused
        text = {name: [str(v) for v in arrays[name]] for name in ("ids", "sources", "predicted_names", "hashes", "original_sizes")}
        return cls(
            indices=np.asarray(arrays["indices"], np.int64),
            ids=text["ids"],
            sources=text["sources"],
            inputs=inputs,
            extras=[{"original_size": size, "hash": digest, "reused": bool(r)} for size, digest, r in zip(text["original_sizes"], text["hashes"], reused)],
            attributions=arrays["attributions"],
            **{name: np.asarray(arrays[name]) for name in RECORD_NUMBERS},
            errors=[None if status == "ok" else (str(error) or "failed") for status, error in zip(arrays["statuses"], arrays["errors"])],
            target_names=[[str(v) for v in row] for row in np.asarray(arrays["target_names"]).reshape(count, -1)],
            predicted_names=text["predicted_names"],
            metric_scores={name[7:]: np.asarray(values) for name, values in arrays.items() if name.startswith("metric_")},
            metric_curves={name[6:]: np.asarray(values) for name, values in arrays.items() if name.startswith("curve_")},
            xrai=np.asarray(arrays["xrai"]) if "xrai" in arrays else None,
        )

    def fill(self, row: int, arrays: dict, source: int) -> None:
        """results[row] = record `source` of a successful earlier attempt (to_arrays' layout)."""
        for name in ("attributions", *RECORD_NUMBERS):
            getattr(self, name)[row] = arrays[name][source]
        for name in self.metric_scores:  # --metrics: the fingerprint guarantees they were computed
            self.metric_scores[name][row] = arrays[f"metric_{name}"][source]
            self.metric_curves[name][row] = arrays[f"curve_{name}"][source]
        if self.xrai is not None:  # --xrai: the fingerprint guarantees the earlier attempt made them
            self.xrai[row] = arrays["xrai"][source]
        self.target_names[row] = [str(name) for name in np.atleast_1d(arrays["target_names"][source])]
        self.predicted_names[row] = str(arrays["predicted_names"][source])
        self.errors[row] = None

    @property
    def statuses(self) -> list[str]:
        return ["ok" if error is None else "error" for error in self.errors]

    def target_labels(self, row: int) -> list[str]:
        """Each target of an instance as a file name part: its class name, else its index."""
        from igcli.data.ids import target_label

        return [target_label(name, int(t)) for name, t in zip(self.target_names[row], self.targets[row])]

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
