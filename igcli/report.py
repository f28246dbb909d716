"""What a run reports: counts, failures, the completeness gate, timings; and run.json's content."""

from __future__ import annotations

import platform
import sys
from dataclasses import asdict, dataclass, field

import numpy as np

from igcli import __version__
from igcli.results import Results


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
        ok = np.array([e is None for e in results.errors])
        relative = results.relative_deltas[ok]
        if max_delta is not None:
            self.over_max_delta += [i for i, r in zip(np.array(results.ids)[ok], relative) if not r <= max_delta]
        if relative.size:
            worst = float(np.max(relative))
            self.max_relative_delta = worst if self.max_relative_delta is None else max(worst, self.max_relative_delta)


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
            "python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "h5py": h5py.__version__,
        },
        "model": plan.model_facts,
        "counts": {"instances": report.instances, "explained": report.explained, "reused": report.reused, "computed": report.explained - report.reused, "failed": report.failed, "skipped_files": len(report.skipped)},
        "max_relative_delta": report.max_relative_delta,
        "over_max_delta": report.over_max_delta,
        "stopped_early": report.stopped_early,
        "exit_code": report.exit_code,
        "timings": report.timings,
        "errors": report.errors,
        "skipped_files": report.skipped,
        "command": sys.argv,
    }
