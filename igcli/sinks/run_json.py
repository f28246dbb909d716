"""run.json: the run's resolved configuration, versions, counts, timings and errors, written once
the run's other files are complete."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import numpy as np

from igcli import __version__
from igcli.atomic import write_text
from igcli.results import UNINFORMATIVE_SHARE
from igcli.tally import ESTIMATE_WARNING, Tally

OWNS = ("run.json",)


def write_run_json(path: Path, record: dict) -> None:
    write_text(path, json.dumps(record, indent=2, default=_run_json_value) + "\n")


def _run_json_value(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def run_record(plan, parameters: dict, tally: Tally, sections: dict | None = None) -> dict:
    """run.json's content: the resolved configuration, versions, counts, timings, errors;
    sections: an executor's own (a cluster run's `cluster`), last."""
    import h5py
    import keras
    import tensorflow as tf

    return {
        "igcli_version": __version__,
        "configuration": plan.options.as_given(),
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
            "instances": tally.instances,
            "explained": tally.explained,
            "reused": tally.reused,
            "computed": tally.explained - tally.reused,
            "failed": tally.failed,
            "skipped_files": len(tally.skipped),
            "uninformative_baselines": len(tally.uninformative),
        },
        "uninformative_baselines": {"share": UNINFORMATIVE_SHARE, "ids": tally.uninformative},
        **({"other_proportions": _proportions(plan, tally)} if tally.image_size is not None else {}),
        "max_relative_delta": tally.max_relative_delta,
        "over_max_delta": tally.over_max_delta,
        "stopped_early": tally.stopped_early,
        "exit_code": tally.exit_code,
        "gradient_evaluations": tally.gradient_evaluations,
        "error_estimate": _estimate_section(plan, tally),
        **({"adaptive": _adaptive_section(plan, tally)} if plan.steps is None else {}),
        **(
            {
                "metrics": tally.metric_means,
                "metric_steps": plan.options.metric_steps,
                "metric_forward_passes": (tally.explained - tally.reused) * plan.metric_passes,
            }
            if plan.metrics
            else {}
        ),
        "timings": tally.timings,
        "errors": tally.errors,
        "skipped_files": tally.skipped,
        "command": sys.argv,
        **(sections or {}),
    }


def _estimate_section(plan, tally: Tally) -> dict:
    """The error estimates' distribution, the instances above ESTIMATE_WARNING or --max-error, and
    those whose completeness gap the quadrature does not explain; or why the run has none."""
    if not plan.estimated:
        return {"estimated": False, "reason": plan.estimate_reason}
    values = np.asarray(tally.estimates, np.float64)
    finite = values[np.isfinite(values)]

    def quantile(q):
        return float(np.quantile(finite, q)) if finite.size else None

    return {
        "estimated": True,
        "what": "relative L1 error of the attributions: sum |A - A_exact| / sum |A| (docs/methods.md)",
        "median": quantile(0.5),
        "p95": quantile(0.95),
        "max": float(values.max()) if values.size else None,
        "above": {"threshold": ESTIMATE_WARNING, "count": len(tally.over_estimate), "ids": tally.worst_estimates},  # the worst first
        "max_error": plan.options.max_error,
        "over_max_error": tally.over_max_error,
        "incomplete": {"count": len(tally.incomplete), "ids": tally.incomplete},
    }


def _proportions(plan, tally: Tally) -> dict:
    """Images whose width/height differs from the model input's by over 1%, and what --fit did."""
    height, width = tally.image_size or (0, 0)
    return {"model_input": f"{width}x{height}", "fit": plan.options.fit, "images": tally.reshaped, "first_ids": tally.reshaped_ids}


def _adaptive_section(plan, tally: Tally) -> dict:
    histogram = dict(sorted(tally.steps_histogram.items(), key=lambda item: int(item[0].split("-")[0])))
    return {
        "tolerance": plan.options.tolerance,
        "max_steps": plan.options.max_steps,
        "gradient_evaluations": tally.gradient_evaluations,
        "steps_histogram": histogram,
        "hit_max_steps": len(tally.hit_max_steps),
        "hit_max_steps_ids": tally.hit_max_steps,
    }
