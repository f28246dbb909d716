"""--records jsonl: OUT/explanations.jsonl, a JSON line per instance in input order, its
explanation as Vertex Explainable AI's Attribution records (one per target), so that code that
read Vertex's batch explanations reads igcli's with the least change.

A line: {"id", "source", "explanation": {"attributions": [Attribution, ...]}}, or {"id",
"source", "error"} for an instance that failed. An Attribution holds outputIndex ([the target's
flat index]), outputDisplayName (its class name, else ""), outputName (the model output
explained), instanceOutputValue F(x), baselineOutputValue F(x'), approximationError (igcli's
error estimate, the relative L1 error of the attributions; absent where the run has none) and
featureAttributions: for a table, the attribution per column name; otherwise a reference into the
arrays file ({"file", "dataset", "row", "target" with several targets, "shape"}), since an
image's values belong in an array, not in JSON text."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from igcli.atomic import PartialFile
from igcli.results import Results

ARRAY_FILES = {"h5": "attributions.h5", "npz": "attributions.npz", "npy": "arrays/attributions.npy", "zarr": "attributions.zarr"}


class RecordsWriter:
    OWNS = ("explanations.jsonl",)

    def __init__(self, out: Path, *, fmt: str, features: list[str] | None, output_name: str, several: bool, shape: tuple):
        self.file = PartialFile(out / "explanations.jsonl")
        self.handle = open(self.file.temporary, "w", encoding="utf-8")
        self.array_file, self.features, self.output_name = ARRAY_FILES[fmt], features, output_name
        self.several, self.shape = several, [int(d) for d in shape]
        self.rows = 0  # the arrays' row of the next instance

    def append(self, results: Results) -> None:
        lines = []
        for row, (ident, source, error) in enumerate(zip(results.ids, results.sources, results.errors)):
            record: dict = {"id": ident, "source": source}
            if error is None:
                record["explanation"] = {"attributions": [self._attribution(results, row, k) for k in range(results.targets.shape[1])]}
            else:
                record["error"] = error
            lines.append(json.dumps(record, allow_nan=False) + "\n")
        self.handle.writelines(lines)
        self.rows += len(results.ids)

    def _attribution(self, results: Results, row: int, k: int) -> dict:
        target = int(results.targets[row, k])
        attribution: dict = {
            "outputIndex": [target],
            "outputDisplayName": results.target_names[row][k] if results.target_names else "",
            "outputName": self.output_name,
            "instanceOutputValue": float(results.scores[row, k]),
            "baselineOutputValue": float(results.baseline_scores[row, k]),
        }
        estimate = float(results.error_estimates[row, k])
        if math.isfinite(estimate):
            attribution["approximationError"] = estimate
        if self.features:
            values = np.asarray(results.attributions[row, k], np.float64).ravel()
            attribution["featureAttributions"] = {name: float(v) for name, v in zip(self.features, values)}
        else:
            where = {"file": self.array_file, "dataset": "attributions", "row": self.rows + row}
            attribution["featureAttributions"] = {**where, **({"target": k} if self.several else {}), "shape": self.shape}
        return attribution

    def close(self) -> None:
        self.handle.close()
        self.file.commit()

    def abort(self) -> None:
        self.handle.close()
        self.file.discard()
