"""A cron soak: one OUT, 20 scheduled runs of the same `igcli explain ... --resume` over a folder
that gains, changes and loses images between them; some runs overlap (the second stops with exit
75, or queues with --wait), some are stopped (SIGTERM) or killed (SIGKILL) midway. At the end the
outputs must equal one clean run over the final folder.

    python benchmarks/cron_soak.py [--runs 20] [--start 60]

Prints a line per run (what changed, how it ended, its closing line) and the comparison; exits 1
when the outputs differ. Not part of the test suite: about 6 minutes on 2 cores."""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

# what happens at run k (1-based): the others just run
OVERLAP_REFUSED, OVERLAP_QUEUED, STOPPED, KILLED = {4, 13}, {7, 16}, {5, 11, 18}, {9, 15}


def make_model(root: Path) -> Path:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(8, 3, activation="tanh"), keras.layers.Flatten(), keras.layers.Dense(3)])
    model.save(root / "model.keras")
    return root / "model.keras"


def save_image(path: Path, rng) -> None:
    from PIL import Image

    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(path)


def mutate(folder: Path, rng, run: int) -> str:
    """Between runs: 6 new images, 3 changed, 2 removed."""
    names = sorted(p.name for p in folder.glob("*.png"))
    changed = list(rng.choice(names, size=3, replace=False))
    removed = [n for n in rng.choice(names, size=2, replace=False) if n not in changed]
    for name in changed:
        save_image(folder / name, rng)
    for name in removed:
        (folder / name).unlink()
    for k in range(6):
        save_image(folder / f"r{run:02d}_{k}.png", rng)
    return f"+6 ~3 -{len(removed)}"


def command(model: Path, folder: Path, out: Path, *more: str) -> list[str]:
    return [sys.executable, "-m", "igcli", "explain", str(model), str(folder), "-o", str(out), "--resume", "--steps", "16", "--no-progress", *more]


def holds(out: Path, pid: int) -> bool:
    try:
        return json.loads((out / ".igcli" / "lock").read_text() or "{}").get("pid") == pid
    except (OSError, ValueError):
        return False


def wait_until(condition, seconds: float = 120) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def one_run(number: int, args: list[str], out: Path, rng) -> str:
    """A scheduled run, and what the schedule does to it; -> its outcome."""
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    note = ""
    if number in OVERLAP_REFUSED | OVERLAP_QUEUED:
        wait_until(lambda: holds(out, process.pid))
        second = subprocess.run(args + (["--wait"] if number in OVERLAP_QUEUED else []), capture_output=True, text=True)
        note = f"; an overlapping run{' queued and' if number in OVERLAP_QUEUED else ''} ended {second.returncode}: {last_line(second.stderr)}"
    if number in STOPPED | KILLED:  # at some moment of the run: loading the model, or computing
        wait_until(lambda: holds(out, process.pid))
        time.sleep(float(rng.uniform(0.5, 5.0)))
        process.send_signal(signal.SIGTERM if number in STOPPED else signal.SIGKILL)
    _, stderr = process.communicate(timeout=600)
    return f"exit {process.returncode}: {last_line(stderr) or '(nothing on stderr)'}{note}"


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith("igcli")]
    return lines[-1] if lines else ""


def compare(soaked: Path, clean: Path) -> list[str]:
    import h5py

    problems = []
    with open(soaked / "summary.csv") as a, open(clean / "summary.csv") as b:
        rows_a, rows_b = list(csv.reader(a)), list(csv.reader(b))
    if [r[:7] + r[-2:] for r in rows_a] != [r[:7] + r[-2:] for r in rows_b]:
        problems.append("summary.csv: other ids, targets or statuses")
    with h5py.File(soaked / "attributions.h5") as a, h5py.File(clean / "attributions.h5") as b:
        x, y = a["attributions"][()], b["attributions"][()]
        worst = float(np.abs(x - y).max() / np.abs(y).max()) if x.shape == y.shape else float("inf")
    if worst > 1e-5:
        problems.append(f"attributions differ by {worst:.2e} of the largest")
    names_a = sorted(str(p.relative_to(soaked)) for p in (soaked / "heatmaps").rglob("*.png"))
    names_b = sorted(str(p.relative_to(clean)) for p in (clean / "heatmaps").rglob("*.png"))
    if names_a != names_b:
        problems.append(f"heatmaps differ: {sorted(set(names_a) ^ set(names_b))[:5]}")
    leftovers = [str(p) for p in soaked.rglob(".*.partial")] + ([".igcli/next"] if (soaked / ".igcli" / "next").exists() else [])
    if leftovers:
        problems.append(f"left behind: {leftovers[:5]}")
    print(f"largest attribution difference: {worst:.2e} of the largest attribution; {len(names_a)} heatmaps each")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--start", type=int, default=60, help="images in the folder before the first run")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        model, folder, out = make_model(root), root / "images", root / "out"
        folder.mkdir()
        for k in range(args.start):
            save_image(folder / f"s{k:03d}.png", rng)
        for number in range(1, args.runs + 1):
            change = mutate(folder, rng, number) if number > 1 else f"{args.start} images"
            outcome = one_run(number, command(model, folder, out), out, rng)
            print(f"run {number:2d} ({change}): {outcome}", flush=True)
        final = subprocess.run(command(model, folder, out), capture_output=True, text=True)
        print(f"final run: exit {final.returncode}: {last_line(final.stderr)}")
        clean = subprocess.run(command(model, folder, root / "clean"), capture_output=True, text=True)
        print(f"clean run over the final folder: exit {clean.returncode}: {last_line(clean.stderr)}")
        problems = compare(out, root / "clean")
        print("outputs equal the clean run's" if not problems else "DIFFER: " + "; ".join(problems))
        sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
