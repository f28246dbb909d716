"""The run's tally: counts, failures, the completeness gate, steps and metrics, added up a group
at a time by whichever executor computes the run (run.json and the closing line are made from it)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from igcli.data.images import changes_aspect
from igcli.results import Results

RESHAPED_SHOWN = 20
ESTIMATE_WARNING = 0.05  # an error estimate above this is named on stderr (Vertex AI's advice stood at 0.05 too)


@dataclass
class Tally:
    out: str
    max_delta: float | None = None  # the gates (--max-delta, --max-error): exit 3 above them
    max_error: float | None = None
    points_per_instance: int = 0  # gradient evaluations of a computed instance, fixed steps (auto counts its own)
    instances: int = 0
    explained: int = 0
    reused: int = 0  # --resume: taken from an earlier attempt, not computed again
    failed: int = 0
    errors: list = field(default_factory=list)  # {"id", "source", "error"}
    skipped: list = field(default_factory=list)  # files in a folder that are not images
    timings: dict = field(default_factory=dict)
    max_relative_delta: float | None = None
    over_max_delta: list = field(default_factory=list)  # ids whose relative delta exceeds --max-delta
    estimates: list = field(default_factory=list)  # every explained (instance, target)'s error estimate
    over_estimate: list = field(default_factory=list)  # (estimate, id) of those above ESTIMATE_WARNING
    over_max_error: list = field(default_factory=list)  # ids whose estimate exceeds --max-error
    incomplete: list = field(default_factory=list)  # ids whose completeness gap is not the quadrature's
    over_delta: list = field(default_factory=list)  # (relative delta, id) above ESTIMATE_WARNING, the gap not flagged incomplete
    stopped_early: bool = False  # --fail-fast stopped at the first failure
    up_to_date: bool = False  # --resume found nothing new: OUT left as the last run wrote it (uptodate.py)
    gradient_evaluations: int = 0  # made by this run (instances reused from a journal cost none)
    # --steps auto
    steps_histogram: dict = field(default_factory=dict)  # "lo-hi" steps -> instances
    hit_max_steps: list = field(default_factory=list)  # ids that stopped at --max-steps above the tolerance
    uninformative: list = field(default_factory=list)  # ids whose F barely changes along the path
    metric_totals: dict = field(default_factory=dict)  # --metrics: name -> [sum, count] over explained instances
    # image inputs: those whose proportions differ from the model's input (H, W), --fit's business
    image_size: tuple | None = None
    reshaped: int = 0
    reshaped_ids: list = field(default_factory=list)  # the first RESHAPED_SHOWN, as "id (WxH)"

    @property
    def exit_code(self) -> int:
        if self.failed:
            return 1
        return 3 if self.over_max_delta or self.over_max_error else 0

    def add(self, results: Results) -> None:
        """Count one group of results (reused rows, marked in their extras, included)."""
        self.instances += len(results.ids)
        self.reused += sum(1 for extra in results.extras if extra.get("reused"))
        for ident, source, error in zip(results.ids, results.sources, results.errors):
            if error is None:
                self.explained += 1
            else:
                self.failed += 1
                self.errors.append({"id": ident, "source": source, "error": error})
        ok = np.array([e is None for e in results.errors], bool)
        names = _entry_names(results)  # [b, K]: the id, or id:target with several targets
        relative = results.relative_deltas
        if self.max_delta is not None:
            self.over_max_delta += [str(n) for n, r in zip(names[ok].ravel(), relative[ok].ravel()) if not r <= self.max_delta]
        if ok.any():
            worst = float(np.max(relative[ok]))
            self.max_relative_delta = worst if self.max_relative_delta is None else max(worst, self.max_relative_delta)
        computed = ok & ~np.array([bool(extra.get("reused")) for extra in results.extras], bool)
        self.gradient_evaluations += self.points_per_instance * int(computed.sum())
        self._tally_estimates(results, ok, names)
        self._tally_steps(results, ok, names, self.max_delta)
        self.uninformative += [str(n) for n, flag in zip(names.ravel(), results.uninformative.ravel()) if flag == 1]
        if self.image_size is not None:
            for ident, extra in zip(results.ids, results.extras):
                if changes_aspect(extra.get("original_size", ""), self.image_size):
                    self.reshaped += 1
                    if len(self.reshaped_ids) < RESHAPED_SHOWN:
                        self.reshaped_ids.append(f"{ident} ({extra['original_size']})")
        for name, scores in results.metric_scores.items():
            total = self.metric_totals.setdefault(name, [0.0, 0])
            total[0] += float(np.nansum(scores[ok]))
            total[1] += int(np.isfinite(scores[ok]).sum())

    @property
    def worst_estimates(self) -> list[str]:
        """The ids above ESTIMATE_WARNING, the largest estimate first."""
        return [name for _, name in sorted(self.over_estimate, key=lambda pair: -pair[0])]

    @property
    def metric_means(self) -> dict:
        return {name: (total / count if count else None) for name, (total, count) in self.metric_totals.items()}

    def _tally_estimates(self, results: Results, ok: np.ndarray, names: np.ndarray) -> None:
        estimates = results.error_estimates[ok]
        known = np.isfinite(estimates) | np.isinf(estimates)
        self.estimates += [float(e) for e in estimates[known]]
        relative, flat = results.relative_deltas[ok].ravel(), results.uninformative[ok].ravel()  # flat: the delta means little
        for name, estimate, flag, delta, still in zip(names[ok].ravel(), estimates.ravel(), results.incomplete[ok].ravel(), relative, flat):
            if delta > ESTIMATE_WARNING and flag != 1 and still != 1:
                self.over_delta.append((float(delta), str(name)))
            if estimate > ESTIMATE_WARNING:
                self.over_estimate.append((float(estimate), str(name)))
            if self.max_error is not None and estimate > self.max_error:
                self.over_max_error.append(str(name))
            if flag == 1:
                self.incomplete.append(str(name))

    def _tally_steps(self, results: Results, ok: np.ndarray, names: np.ndarray, max_delta: float | None) -> None:
        steps = results.steps
        if not np.any(steps[ok] >= 0):
            return
        reused = np.array([bool(extra.get("reused")) for extra in results.extras])
        for row in np.flatnonzero(ok):
            for name, count, hit in zip(names[row], steps[row], results.hit_max_steps[row]):
                if not reused[row]:
                    self.gradient_evaluations += int(count)
                bin_name = _steps_bin(int(count))
                self.steps_histogram[bin_name] = self.steps_histogram.get(bin_name, 0) + 1
                if hit:
                    self.hit_max_steps.append(str(name))
                    if max_delta is not None and name not in self.over_max_delta:
                        self.over_max_delta.append(str(name))


def _entry_names(results: Results) -> np.ndarray:
    """How an (instance, target) is named in lists: its id, or id:target with several targets."""
    count = results.targets.shape[1]
    if count == 1:
        return np.array(results.ids, dtype=object).reshape(-1, 1)
    return np.array([[f"{ident}:{label}" for label in results.target_labels(row)] for row, ident in enumerate(results.ids)], dtype=object).reshape(-1, count)


def _steps_bin(steps: int) -> str:
    """Powers of two: 1-16, 17-32, 33-64, ..."""
    high = max(16, 1 << (max(steps, 1) - 1).bit_length())
    return f"{1 if high == 16 else high // 2 + 1}-{high}"
