"""What a run reports: counts, failures, the completeness gate, timings; and run.json's content."""

from __future__ import annotations

import platform
import sys
from dataclasses import asdict, dataclass, field

import numpy as np

from igcli import __version__
from igcli.results import UNINFORMATIVE_SHARE, Results


@dataclass
class RunReport:
    out: str
    instances: int = 0
    explained: int = 0
    reused: int = 0  # --resume: taken from an earlier attempt, not computed again
    failed: int = 0
    errors: list = field(default_factory=list)  # {"id", "source", "error"}
    skipped: list = field(default_factory=list)  # files in a folder that are not images
    timings: dict = field(default_factory=dict)
    max_relative_delta: float | None = None
    over_max_delta: list = field(default_factory=list)  # ids whose relative delta exceeds --max-delta
    stopped_early: bool = False  # --fail-fast stopped at the first failure
    # --steps auto
    gradient_evaluations: int = 0  # made by this run (instances reused from a journal cost none)
    steps_histogram: dict = field(default_factory=dict)  # "lo-hi" steps -> instances
    hit_max_steps: list = field(default_factory=list)  # ids that stopped at --max-steps above the tolerance
    uninformative: list = field(default_factory=list)  # ids whose F barely changes along the path
    metric_totals: dict = field(default_factory=dict)  # --metrics: name -> [sum, count] over explained instances

    @property
    def exit_code(self) -> int:
        if self.failed:
            return 1
        return 3 if self.over_max_delta else 0

    def tally(self, results: Results, max_delta: float | None) -> None:
        self.instances += len(results.ids)
        for ident, source, error in zip(results.ids, results.sources, results.errors):
            if error is None:
                self.explained += 1
            else:
                self.failed += 1
                self.errors.append({"id": ident, "source": source, "error": error})
        ok = np.array([e is None for e in results.errors], bool)
        names = _entry_names(results)  # [b, K]: the id, or id:target with several targets
        relative = results.relative_deltas
        if max_delta is not None:
            self.over_max_delta += [str(n) for n, r in zip(names[ok].ravel(), relative[ok].ravel()) if not r <= max_delta]
        if ok.any():
            worst = float(np.max(relative[ok]))
            self.max_relative_delta = worst if self.max_relative_delta is None else max(worst, self.max_relative_delta)
        self._tally_steps(results, ok, names, max_delta)
        self.uninformative += [str(n) for n, flag in zip(names.ravel(), results.uninformative.ravel()) if flag == 1]
        for name, scores in results.metric_scores.items():
            total = self.metric_totals.setdefault(name, [0.0, 0])
            total[0] += float(np.nansum(scores[ok]))
            total[1] += int(np.isfinite(scores[ok]).sum())

    @property
    def metric_means(self) -> dict:
        return {name: (total / count if count else None) for name, (total, count) in self.metric_totals.items()}

    def _tally_steps(self, results: Results, ok: np.ndarray, names: np.ndarray, max_delta: float | None) -> None:
        steps = results.steps
        if steps is None or not np.any(steps[ok] >= 0):
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


def manifest(plan, parameters: dict, report: RunReport) -> dict:
    """run.json: the resolved configuration, versions, counts, timings, errors."""
    import h5py
    import keras
    import tensorflow as tf

    return {
        "igcli_version": __version__,
        "configuration": asdict(plan.options),
        "resolved": parameters,
        "versions": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "h5py": h5py.__version__,
        },
        "model": plan.model_facts,
        "counts": {
            "instances": report.instances,
            "explained": report.explained,
            "reused": report.reused,
            "computed": report.explained - report.reused,
            "failed": report.failed,
            "skipped_files": len(report.skipped),
            "uninformative_baselines": len(report.uninformative),
        },
        "uninformative_baselines": {"share": UNINFORMATIVE_SHARE, "ids": report.uninformative},
        "max_relative_delta": report.max_relative_delta,
        "over_max_delta": report.over_max_delta,
        "stopped_early": report.stopped_early,
        "exit_code": report.exit_code,
        **({"adaptive": _adaptive_section(plan, report)} if plan.steps is None else {}),
        **(
            {
                "metrics": report.metric_means,
                "metric_steps": plan.options.metric_steps,
                "metric_forward_passes": (report.explained - report.reused) * plan.metric_passes,
            }
            if plan.metrics
            else {}
        ),
        "timings": report.timings,
        "errors": report.errors,
        "skipped_files": report.skipped,
        "command": sys.argv,
    }


def _adaptive_section(plan, report: RunReport) -> dict:
    histogram = dict(sorted(report.steps_histogram.items(), key=lambda item: int(item[0].split("-")[0])))
    return {
        "tolerance": plan.options.tolerance,
        "max_steps": plan.options.max_steps,
        "gradient_evaluations": report.gradient_evaluations,
        "steps_histogram": histogram,
        "hit_max_steps": len(report.hit_max_steps),
        "hit_max_steps_ids": report.hit_max_steps,
    }
