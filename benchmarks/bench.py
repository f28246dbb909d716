"""Speed of igcli against the model's own gradient throughput, measured in one run.

    python benchmarks/bench.py                 # both cases
    python benchmarks/bench.py --case cnn      # the small CNN only

For each model it measures, on the same machine and in this one run:
  (a) limit:  a compiled tf.function gradient loop at batch 32 (no IG around it)
  (b) engine: igcli's IntegratedGradients on in-memory arrays (interpolation, gradients, sums)
  (c) CLI:    the whole `igcli explain` process on a folder of PNG files, heatmaps on,
              start-up, model loading and all writing included
and prints gradient evaluations per second (instances x steps / seconds) and the ratios b/a, c/a.
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
from PIL import Image  # noqa: E402

STEPS = 50


def small_cnn():
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((64, 64, 3)),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])


def mobilenet():
    import keras

    keras.utils.set_random_seed(0)
    return keras.applications.MobileNetV2(input_shape=(96, 96, 3), weights=None, classes=10)


CASES = {
    # name: (builder, images: instances x 50 steps gives the evaluation count)
    "cnn": (small_cnn, 200),
    "mobilenetv2-96": (mobilenet, 60),
}


def raw_gradient_rate(model, shape, evaluations: int, batch: int = 32) -> float:
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, *shape], tf.float32)])
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = model(x, training=False)[:, 0]
        return tape.gradient(y, x)

    pool = [tf.random.uniform([batch, *shape], seed=i) for i in range(4)]
    gradient(pool[0])  # trace outside the timing
    calls = -(-evaluations // batch)
    start = time.perf_counter()
    for i in range(calls):
        gradient(pool[i % 4]).numpy()
    return calls * batch / (time.perf_counter() - start)


def engine_rate(model, images: np.ndarray) -> float:
    from igcli.attribution import IntegratedGradients, auto_batch_size
    from igcli.quadrature import alphas_and_weights

    alphas, weights = alphas_and_weights("gausslegendre", STEPS)
    engine = IntegratedGradients(lambda x: model(x, training=False), images.shape[1:], alphas, weights, auto_batch_size(images.shape[1:]))
    baselines = np.zeros((len(images), 1, *images.shape[1:]), np.float32)
    engine.explain(images[:32], baselines[:32], np.zeros(32, np.int64))  # trace outside the timing
    start = time.perf_counter()
    for group in range(0, len(images), 32):  # the pipeline's group size
        x = images[group : group + 32]
        outputs = engine.outputs(x)
        engine.explain(x, baselines[group : group + 32], outputs.argmax(axis=1), x_outputs=outputs)
    return len(images) * STEPS / (time.perf_counter() - start)


def cli_rate(model_path: Path, folder: Path, out: Path, count: int) -> float:
    command = [sys.executable, "-m", "igcli", "explain", str(model_path), str(folder), "-o", str(out), "--steps", str(STEPS), "--quiet"]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return count * STEPS / (time.perf_counter() - start)


def run_case(name: str, work: Path) -> dict:
    builder, count = CASES[name]
    model = builder()
    shape = tuple(model.inputs[0].shape[1:])
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(count, *shape), dtype=np.uint8)
    folder = work / name / "images"
    folder.mkdir(parents=True)
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"{i:05d}.png")
    model_path = work / name / "model.keras"
    model.save(model_path)
    images = pixels.astype(np.float32) / 255
    evaluations = count * STEPS
    limit = raw_gradient_rate(model, shape, evaluations)
    engine = engine_rate(model, images)
    cli = cli_rate(model_path, folder, work / name / "out", count)
    return {"case": name, "input": "x".join(map(str, shape)), "evaluations": evaluations, "limit": limit, "engine": engine, "cli": cli}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=[*CASES, "all"], default="all")
    args = parser.parse_args()
    names = list(CASES) if args.case == "all" else [args.case]
    import tensorflow as tf

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, TensorFlow {tf.__version__}, {STEPS} steps")
    print("| case | input | evaluations | (a) limit eval/s | (b) engine eval/s | (c) igcli explain eval/s | b/a | c/a |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as work:
        for name in names:
            r = run_case(name, Path(work))
            print(f"| {r['case']} | {r['input']} | {r['evaluations']} | {r['limit']:.0f} | {r['engine']:.0f} | {r['cli']:.0f} | {r['engine'] / r['limit']:.2f} | {r['cli'] / r['limit']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
