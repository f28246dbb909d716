"""Several targets in one pass against one run per target, measured in one run.

    python benchmarks/targets.py [--rounds 3]

(a) the engine: IG of K outputs at once (one forward pass and K backward passes per path point,
    `--target top:K` / `all` / a list) against K single-target IG runs over the same points;
(b) the whole process: `igcli explain --target all` on the 24 sample PNGs against one
    `igcli explain --target k` per class (each run decodes, loads the model and computes F(x)
    and F(x') again).
Cases for (a): the shapes CNN (3 classes, K = 3) and MobileNetV2 (alpha 0.35, 64x64, 10 classes,
random weights: speed only), K = 3 and 10. The attributions of both ways agree to float precision.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
SHAPES = ROOT / "sample_data" / "shapes"
STEPS = 50


def engine_case(model, x, count: int, rounds: int) -> dict:
    from igcli.methods.core import auto_batch_size
    from igcli.methods.ig import IntegratedGradients
    from igcli.methods.quadrature import alphas_and_weights

    alphas, weights = alphas_and_weights("gausslegendre", STEPS)
    shape, batch = x.shape[1:], auto_batch_size(x.shape[1:])

    def call(t):
        return model(t, training=False)

    together = IntegratedGradients.build(call, shape, alphas, weights, batch, targets=count)
    apart = IntegratedGradients.build(call, shape, alphas, weights, batch)
    zeros = np.zeros((len(x), 1, *shape), np.float32)
    targets = np.argsort(-model.predict(x, verbose=0), axis=1)[:, :count]  # top:K
    together.explain(x[:1], zeros[:1], targets[:1])  # trace outside the timing
    apart.explain(x[:1], zeros[:1], targets[:1, 0])
    times = {"together": [], "apart": []}
    for _ in range(rounds):
        start = time.perf_counter()
        joint = together.explain(x, zeros, targets).attributions
        times["together"].append(time.perf_counter() - start)
        start = time.perf_counter()
        single = np.stack([apart.explain(x, zeros, targets[:, k]).attributions for k in range(count)], axis=1)
        times["apart"].append(time.perf_counter() - start)
    difference = float(np.abs(joint - single).max() / np.abs(single).max())
    return {name: float(np.median(values)) for name, values in times.items()} | {"difference": difference}


def cli_case(rounds: int) -> dict:
    command = [sys.executable, "-m", "igcli", "explain", str(SHAPES / "model.keras"), str(SHAPES / "images"), "--steps", str(STEPS), "--quiet", "--overwrite"]
    times = {"together": [], "apart": []}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(rounds):
            start = time.perf_counter()
            subprocess.run(command + ["--target", "all", "-o", f"{work}/all"], check=True)
            times["together"].append(time.perf_counter() - start)
            start = time.perf_counter()
            for k in range(3):
                subprocess.run(command + ["--target", str(k), "-o", f"{work}/{k}"], check=True)
            times["apart"].append(time.perf_counter() - start)
    return {name: float(np.median(values)) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import keras
    import tensorflow as tf
    from adaptive import logits_of

    cnn = logits_of(keras.saving.load_model(SHAPES / "model.keras"))
    images = np.load(SHAPES / "images.npz")["x"].astype(np.float32)
    keras.utils.set_random_seed(0)
    mobilenet = keras.applications.MobileNetV2(input_shape=(64, 64, 3), alpha=0.35, weights=None, classes=10, classifier_activation=None)
    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, TensorFlow {tf.__version__}; "
        f"{STEPS} steps, median of {args.rounds} rounds"
    )
    print("| case | K | one pass, s | K runs, s | one pass / K runs | largest difference / largest attribution |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, model, x, count in (
        ("shapes CNN, 24 images", cnn, images, 3),
        ("MobileNetV2, 24 images", mobilenet, images, 3),
        ("MobileNetV2, 24 images", mobilenet, images, 10),
    ):
        r = engine_case(model, x, count, args.rounds)
        print(
            f"| (a) engine: {name} | {count} | {r['together']:.2f} | {r['apart']:.2f} | {r['together'] / r['apart']:.2f} | {r['difference']:.1e} |", flush=True
        )
    r = cli_case(args.rounds)
    print(f"| (b) igcli explain, 24 PNGs, --target all vs 3 runs | 3 | {r['together']:.2f} | {r['apart']:.2f} | {r['together'] / r['apart']:.2f} | |")


if __name__ == "__main__":
    main()
