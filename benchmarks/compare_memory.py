"""Peak memory and time of `igcli compare` as runs grow (docs/compare.md#size-and-memory).

Writes pairs of synthetic image runs (32x32x3 maps, the arrays igcli writes, a summary.csv and a
run.json) of 10,000 and 100,000 instances, the second run a noisy copy of the first, and runs
`igcli compare` on each pair in a process of its own, reporting its peak resident memory
(getrusage of that child) and its wall time. Needs about 2.6 GB of disk; about 3 minutes.

    python benchmarks/compare_memory.py [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

SIDE = 32
WRITE_CHUNK = 2_000


def synthetic_run(folder: Path, count: int, noise: float, seed: int) -> None:
    """A run as igcli explain leaves it, without heatmaps: attributions.h5, summary.csv, run.json."""
    folder.mkdir(parents=True)
    ids = [f"img{i:06d}" for i in range(count)]
    text = h5py.string_dtype()
    with h5py.File(folder / "attributions.h5", "w") as arrays:
        maps = arrays.create_dataset("attributions", (count, SIDE, SIDE, 3), np.float32, chunks=(64, SIDE, SIDE, 3))
        for start in range(0, count, WRITE_CHUNK):  # the same base maps in both runs, seeded by position
            rows = min(WRITE_CHUNK, count - start)
            base = np.random.default_rng(start).normal(size=(rows, SIDE, SIDE, 3)).astype(np.float32)
            maps[start : start + rows] = base + noise * np.random.default_rng([seed, start]).normal(size=base.shape).astype(np.float32)
        arrays["ids"] = np.array(ids, dtype=object).astype(text)
        arrays["status"] = np.array(["ok"] * count, dtype=object).astype(text)
        arrays["sources"] = np.array(ids, dtype=object).astype(text)
        arrays["targets"] = np.arange(count, dtype=np.int64) % 10
        arrays["target_names"] = np.array([""] * count, dtype=object).astype(text)
        for name in ("scores", "baseline_scores", "deltas", "relative_deltas"):
            arrays[name] = np.zeros(count)
        arrays["error_estimate"] = np.full(count, 0.01)
    with open(folder / "summary.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "predicted", "predicted_name"])
        writer.writerows([ident, i % 10, ""] for i, ident in enumerate(ids))
    (folder / "run.json").write_text(json.dumps({"resolved": {"image_size": f"{SIDE}x{SIDE}", "steps": 50, "model_sha256": "0" * 64}}))


def measured_compare(a: Path, b: Path, out: Path) -> tuple[float, float]:
    """(peak resident MiB, wall seconds) of one `igcli compare` process."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "igcli", "compare", str(a), str(b), "-o", str(out), "--quiet"])
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) not in (0, 3):
        raise SystemExit(f"igcli compare failed on {a}")
    return usage.ru_maxrss / 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    print("| instances | maps | peak resident memory | wall time |\n| --- | --- | --- | --- |")
    for count in sizes:
        with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as folder:
            work = Path(folder)
            synthetic_run(work / "a", count, 0.0, 1)
            synthetic_run(work / "b", count, 0.1, 2)
            peak, seconds = measured_compare(work / "a", work / "b", work / "diff")
            size = (work / "a" / "attributions.h5").stat().st_size / 2**20
            print(f"| {count:,} | {SIDE}x{SIDE}x3 float32, {size:,.0f} MiB a run | {peak:,.0f} MiB | {seconds:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
