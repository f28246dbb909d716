"""A cron job's rerun over a folder that did not change: what it costs, next to a rerun that takes
the usual path (which reuses every instance from the journal but imports TensorFlow, loads the
model and rebuilds every output).

    python benchmarks/noop_rerun.py [--images 10000] [--repeats 3]

Builds a small CNN (16x16x3) and a folder of random PNGs, explains them once with
`--resume`, then times whole `igcli explain ... --resume` processes, as cron starts them:
- no change: nothing new, igcli ends without TensorFlow (igcli/uptodate.py);
- usual path: the same after removing OUT/.igcli/finished.json (as after a run that was stopped,
  or made by an igcli without it), so it takes the usual path; every instance is still reused.
Prints seconds (median of --repeats) and the ratio, measured in this one run."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def build(root: Path, images: int) -> tuple[Path, Path]:
    import keras
    import numpy as np
    from PIL import Image

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)]
    )
    model.save(root / "model.keras")
    folder = root / "images"
    rng = np.random.default_rng(0)
    for index in range(images):
        sub = folder / f"{index // 1000:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(sub / f"{index:05d}.png")
    return root / "model.keras", folder


def run(args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "igcli", "explain", *args], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"igcli failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        tick = time.perf_counter()
        model, images = build(root, args.images)
        print(f"{args.images:,} images written in {time.perf_counter() - tick:.1f} s")
        common = [str(model), str(images), "-o", str(root / "out"), "--steps", "4", "--resume", "--no-progress"]
        print(f"first run (computes every instance): {run(common):.1f} s")
        unchanged = [run(common) for _ in range(args.repeats)]
        usual = []
        for _ in range(args.repeats):
            (root / "out" / ".igcli" / "finished.json").unlink()
            usual.append(run(common))
        fast, slow = statistics.median(unchanged), statistics.median(usual)
        print(f"rerun, no change:        {fast:.2f} s (median of {args.repeats}: {', '.join(f'{s:.2f}' for s in unchanged)})")
        print(f"rerun, the usual path:   {slow:.2f} s (median of {args.repeats}: {', '.join(f'{s:.2f}' for s in usual)}), every instance reused")
        print(f"ratio no change / usual path: {fast / slow:.3f}")


if __name__ == "__main__":
    main()
