"""Peak memory of `igcli explain` over folders of 1,000 and 10,000 small images: it must stay flat.

    python benchmarks/memory.py            # 1000 and 10000 images
    python benchmarks/memory.py 500 2000   # other counts

Each count runs in a fresh process (heatmaps on, 4 steps, a small CNN, 32x32 PNGs); the peak
resident set size is that child's ru_maxrss.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


def make_model(path: Path) -> None:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.save(path)


def peak_rss_mib(model: Path, folder: Path, out: Path) -> tuple[float, float]:
    """Run igcli in a child and return (peak RSS in MiB, seconds)."""
    script = "import resource, subprocess, sys;subprocess.run(sys.argv[1:], check=True);print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    command = [sys.executable, "-m", "igcli", "explain", str(model), str(folder), "-o", str(out), "--steps", "4", "--quiet"]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script, *command], check=True, capture_output=True, text=True)
    return int(done.stdout.split()[-1]) / 1024, time.perf_counter() - start


def main() -> None:
    counts = [int(a) for a in sys.argv[1:]] or [1000, 10000]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        make_model(work / "model.keras")
        print("| images | peak RSS (MiB) | seconds |")
        print("| --- | --- | --- |")
        for count in counts:
            folder = work / f"images{count}"
            for i in range(count):
                sub = folder / f"{i // 1000:02d}"  # a thousand per sub-folder, like a real tree
                sub.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)).save(sub / f"{i:05d}.png")
            rss, seconds = peak_rss_mib(work / "model.keras", folder, work / f"out{count}")
            print(f"| {count} | {rss:.0f} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
