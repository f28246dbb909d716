"""Speed of igcli against the model's own gradient throughput, measured in one run.

    python benchmarks/bench.py                      # both cases, 3 rounds
    python benchmarks/bench.py --case cnn --rounds 5

For each model it measures, on the same machine and in this one run:
  (a)  limit:  a compiled tf.function gradient loop at batch 32 (no IG around it)
  (a2) the same loop with each batch of 32 run as two independent halves, which the runtime
       executes side by side (the trick igcli's engine uses on a CPU): the best raw loop we know
  (b)  engine: igcli's IntegratedGradients on in-memory arrays (interpolation, gradients, sums)
  (c)  CLI:    the whole `igcli explain` process on a folder of PNG files, heatmaps on,
               start-up, model loading and all writing included, for 10,000 evaluations
and prints gradient evaluations per second (instances x steps / seconds) and the ratios.

Shared machines are noisy (here a bare gradient loop swung between 340 and 480 evaluations/s from
one second to the next). So every measurement does the same number of evaluations as the CLI job,
they are interleaved (a, a2, b, c, a, a2, ...) for --rounds rounds, and the median round of each
is reported. Every round's figures go to stderr.
"""

from __future__ import annotations

import argparse
import json
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
RAW_BATCH = 32


def small_cnn():
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((64, 64, 3)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def mobilenet():
    import keras

    keras.utils.set_random_seed(0)
    return keras.applications.MobileNetV2(input_shape=(96, 96, 3), weights=None, classes=10)


CASES = {
    # name: (builder, images: x 50 steps = evaluations per measurement)
    "cnn": (small_cnn, 200),
    "mobilenetv2-96": (mobilenet, 200),
}


def raw_gradient_loop(model, shape, halves: bool):
    """A callable(evaluations) -> evaluations/s of a bare compiled gradient loop."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, *shape], tf.float32)])
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            parts = tf.split(x, 2) if halves else [x]
            outputs = [model(part, training=False)[:, 0] for part in parts]
        return tape.gradient(outputs, x)

    pool = [tf.random.uniform([RAW_BATCH, *shape], seed=i) for i in range(4)]
    gradient(pool[0])  # trace outside the timing

    def rate(evaluations: int) -> float:
        calls = -(-evaluations // RAW_BATCH)
        start = time.perf_counter()
        for i in range(calls):
            gradient(pool[i % 4]).numpy()
        return calls * RAW_BATCH / (time.perf_counter() - start)

    return rate


def engine_loop(model, images: np.ndarray):
    """A callable() -> evaluations/s of igcli's engine over `images`, as the pipeline drives it."""
    from igcli.methods.core import auto_batch_size
    from igcli.methods.ig import IntegratedGradients
    from igcli.methods.quadrature import alphas_and_weights
    from igcli.runner.local import GROUP_SIZE as GROUP

    alphas, weights = alphas_and_weights("gausslegendre", STEPS)
    shape = images.shape[1:]
    engine = IntegratedGradients.build(lambda x: model(x, training=False), shape, alphas, weights, auto_batch_size(shape))
    baselines = np.zeros((len(images), 1, *shape), np.float32)
    engine.explain(images[:1], baselines[:1], np.zeros(1, np.int64))  # trace outside the timing

    def rate() -> float:
        start = time.perf_counter()
        for group in range(0, len(images), GROUP):
            x = images[group : group + GROUP]
            outputs = engine.outputs(x)
            engine.explain(x, baselines[group : group + GROUP], outputs.argmax(axis=1), x_outputs=outputs)
        return len(images) * STEPS / (time.perf_counter() - start)

    return rate, engine.core.branches


def cli_run(model_path: Path, folder: Path, out: Path, count: int) -> tuple[float, dict]:
    command = [sys.executable, "-m", "igcli", "explain", str(model_path), str(folder), "-o", str(out), "--steps", str(STEPS), "--quiet", "--overwrite"]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - start
    timings = json.loads((out / "run.json").read_text())["timings"]
    return count * STEPS / seconds, {**timings, "process_seconds": seconds}


def run_case(name: str, work: Path, rounds: int) -> dict:
    builder, count = CASES[name]
    model = builder()
    shape = tuple(model.inputs[0].shape[1:])
    pixels = np.random.default_rng(0).integers(0, 256, size=(count, *shape), dtype=np.uint8)
    folder = work / name / "images"
    folder.mkdir(parents=True)
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"{i:05d}.png")
    model_path = work / name / "model.keras"
    model.save(model_path)
    evaluations = count * STEPS

    raw, raw_halves = raw_gradient_loop(model, shape, halves=False), raw_gradient_loop(model, shape, halves=True)
    engine, branches = engine_loop(model, pixels.astype(np.float32) / 255)
    measured = {"limit": [], "halves": [], "engine": [], "cli": []}
    cli_timings = []
    for r in range(rounds):
        measured["limit"].append(raw(evaluations))
        measured["halves"].append(raw_halves(evaluations))
        measured["engine"].append(engine())
        rate, timings = cli_run(model_path, folder, work / name / "out", count)
        measured["cli"].append(rate)
        cli_timings.append(timings)
        print(f"  {name} round {r + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in measured.items()) + " eval/s", file=sys.stderr, flush=True)
    median_cli_round = int(np.argsort(measured["cli"])[(rounds - 1) // 2])
    return {
        "case": name,
        "input": "x".join(map(str, shape)),
        "evaluations": evaluations,
        "branches": branches,
        **{k: float(np.median(v)) for k, v in measured.items()},
        "cli_timings": cli_timings[median_cli_round],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=[*CASES, "all"], default="all")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions; the median of each is reported")
    args = parser.parse_args()
    names = list(CASES) if args.case == "all" else [args.case]
    import tensorflow as tf

    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}, {STEPS} steps, median of {args.rounds} interleaved rounds"
    )
    results = []
    with tempfile.TemporaryDirectory() as work:
        for name in names:
            results.append(run_case(name, Path(work), args.rounds))
    print("| case | input | evaluations | (a) limit eval/s | (a2) halves eval/s | (b) engine eval/s | (c) igcli explain eval/s | b/a | c/a | b/a2 | c/a2 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r['case']} | {r['input']} | {r['evaluations']} | {r['limit']:.0f} | {r['halves']:.0f} | {r['engine']:.0f} | {r['cli']:.0f} "
            f"| {r['engine'] / r['limit']:.2f} | {r['cli'] / r['limit']:.2f} | {r['engine'] / r['halves']:.2f} | {r['cli'] / r['halves']:.2f} |"
        )
    print()
    print("(c) seconds, median round: | case | process | load (import, model) | compute | write (overlapping) |")
    for r in results:
        t = r["cli_timings"]
        print(f"| {r['case']} | {t['process_seconds']:.1f} | {t['load_seconds']:.1f} | {t['compute_seconds']:.1f} | {t['write_seconds']:.1f} |")
    print(f"engine branches per call: {', '.join(str(r['branches']) for r in results)}")


if __name__ == "__main__":
    main()
