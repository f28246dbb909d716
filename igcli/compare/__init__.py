"""igcli compare RUN_A RUN_B -o DIFF: did the maps change between two runs?

runs.py     one output directory read: run.json, summary.csv's predictions, the arrays by rows
figures.py  per-instance figures of matched maps (rank correlations, overlaps, cosine, change)
ndcg.py     global importance (mean |A| per feature) compared by nDCG, as SageMaker Clarify does
engine.py   the instances matched, compared a chunk at a time, told apart from integration noise
report.py   compare.csv, compare.json, the closing lines
"""

from __future__ import annotations

from pathlib import Path

from igcli.compare.engine import Thresholds, compare, pair_runs
from igcli.compare.report import CsvRows, summary, write_json
from igcli.compare.runs import open_run
from igcli.errors import UsageProblem

__all__ = ["Thresholds", "run_compare"]


def run_compare(run_a: str, run_b: str, diff: str, thresholds: Thresholds) -> dict:
    """Compare two output directories into DIFF; -> compare.json's record."""
    a, b = open_run(run_a), open_run(run_b)
    out = Path(diff)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageProblem(f"{out}: cannot create the output directory ({error.strerror or error})") from None
    pairing = pair_runs(a, b)
    rows = CsvRows(out / "compare.csv")
    completed = False
    try:
        result = compare(a, b, pairing, thresholds, rows)
        completed = True
    except ValueError as error:
        raise UsageProblem(f"{run_a} and {run_b}: {error}") from None
    finally:
        rows.close(completed)
    record = summary(a, b, pairing, result, thresholds, out)
    write_json(out / "compare.json", record)
    from igcli.compare_page import write_compare_page

    write_compare_page(out)
    return record
