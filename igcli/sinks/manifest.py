"""run.json: the run's resolved configuration, versions, counts, timings and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from igcli.atomic import write_text

OWNS = ("run.json",)


def write_run_json(path: Path, manifest: dict) -> None:
    write_text(path, json.dumps(manifest, indent=2, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
