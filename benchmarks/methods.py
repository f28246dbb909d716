"""The path methods on the bundled shapes CNN, measured in one run: gradient evaluations per
second in igcli's engine, cost relative to plain IG at equal steps, and how much of |A| lies
inside each shape's bounding box (the box covers 17% of the image). Writes the side-by-side panel
docs/methods_panel.png with --panel.

    python benchmarks/methods.py [--steps 50] [--rounds 3] [--panel]

Each method explains the 24 sample images (logits, the predicted class, zero baseline where a
baseline applies) after one warm-up call that traces it; the median of the rounds is shown.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
SHAPES = ROOT / "sample_data" / "shapes"
COPIES = 8  # SmoothGrad's noisy copies and expected gradients' baseline draws


def methods(call, shape, steps, batch):
    """name -> (method, its rows per instance, extra arguments for explain)"""
    from igcli.methods.guided import GuidedIntegratedGradients
    from igcli.methods.ig import IntegratedGradients
    from igcli.methods.paths import BlurPath
    from igcli.methods.quadrature import alphas_and_weights

    alphas, weights = alphas_and_weights("gausslegendre", steps)

    def ig(**kwargs):
        return IntegratedGradients.build(call, shape, alphas, weights, batch, **kwargs)

    blur = BlurPath(50.0, shape)
    return {
        "IG": (ig(), 1, "plain"),
        "IG + IDGI": (ig(idgi=True), 1, "plain"),
        "Blur IG": (ig(path=blur), 1, "plain"),
        "Blur IG + IDGI": (ig(path=blur, idgi=True), 1, "plain"),
        "Guided IG": (GuidedIntegratedGradients.build(call, shape, steps, batch), 1, "plain"),
        "Guided IG + IDGI": (GuidedIntegratedGradients.build(call, shape, steps, batch, idgi=True), 1, "plain"),
        f"SmoothGrad IG (N={COPIES})": (ig(), COPIES, "smooth"),
        f"Expected gradients (K={COPIES})": (ig(), COPIES, "samples"),
    }


def explain(method, kind, x, ids, targets, outputs, reference):
    from igcli.seeds import instance_rng
    from igcli.smoothing import Smoothing

    zeros = np.zeros((len(x), 1, *x.shape[1:]), np.float32)
    if kind == "smooth":
        return method.explain(x, zeros, targets, outputs, copies=Smoothing(COPIES, 0.15).make(x, ids))
    if kind == "samples":
        drawn = np.stack([reference[instance_rng(0, i, "baseline").integers(0, len(reference), COPIES)] for i in ids])
        return method.explain(x, drawn, targets, outputs)
    return method.explain(x, zeros, targets, outputs)


def box_share(attributions, boxes):
    """Share of sum |A| (over channels) inside each image's box, averaged over images."""
    shares = []
    for a, (x0, y0, x1, y1) in zip(attributions, boxes):
        magnitude = np.abs(a).sum(axis=-1)
        shares.append(magnitude[y0:y1, x0:x1].sum() / magnitude.sum())
    return float(np.mean(shares)), float(np.min(shares))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--panel", action="store_true", help="write docs/methods_panel.png")
    args = parser.parse_args()
    import keras
    import tensorflow as tf
    from adaptive import logits_of

    from igcli.methods.core import auto_batch_size

    model = logits_of(keras.saving.load_model(SHAPES / "model.keras"))
    data = np.load(SHAPES / "images.npz")
    x, boxes = data["x"].astype(np.float32), data["boxes"]
    ids = [str(i) for i in data["ids"]]
    shape = x.shape[1:]
    outputs = model.predict(x, verbose=0)
    targets = np.argmax(outputs, axis=1)
    batch = auto_batch_size(shape)
    every = methods(lambda t: model(t, training=False), shape, args.steps, batch)
    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, TensorFlow {tf.__version__}; "
        f"{len(x)} shapes images, {args.steps} steps, logits; median of {args.rounds} rounds"
    )
    results, maps, seconds = {}, {}, {name: [] for name in every}
    for method, _, kind in every.values():
        explain(method, kind, x[:2], ids[:2], targets[:2], outputs[:2], x)  # trace outside the timing
    for _ in range(args.rounds):  # interleaved rounds: a busy second hurts every method alike
        for name, (method, rows, kind) in every.items():
            start = time.perf_counter()
            explanation = explain(method, kind, x, ids, targets, outputs, x)
            seconds[name].append(time.perf_counter() - start)
            maps[name] = explanation.attributions
            relative = np.abs(explanation.deltas) / np.abs(explanation.scores - explanation.baseline_scores)
            results[name] = {
                "evaluations": len(x) * args.steps * rows,
                "box": box_share(explanation.attributions, boxes),
                "max_relative_delta": float(np.max(relative)),
            }
    for name in every:
        results[name]["seconds"] = float(np.median(seconds[name]))
        print(f"  {name}: {results[name]}", file=sys.stderr, flush=True)
    plain = results["IG"]["seconds"]
    print("| method | gradient evaluations | seconds | evaluations/s | cost / IG | mass inside the box: mean (worst image) | max relative delta |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        print(
            f"| {name} | {r['evaluations']} | {r['seconds']:.2f} | {r['evaluations'] / r['seconds']:.0f} | {r['seconds'] / plain:.2f} "
            f"| {r['box'][0]:.2f} ({r['box'][1]:.2f}) | {r['max_relative_delta']:.2g} |"
        )
    if args.panel:
        write_panel(x, maps, ROOT / "docs" / "methods_panel.png", index=int(np.argmax([i.startswith("triangle") for i in data["ids"]])))


def write_panel(x, maps, path: Path, index: int) -> None:
    """One image under every method: the input, then each method's heatmap (absolute, inferno)."""
    from PIL import Image, ImageDraw

    from igcli import render

    tiles = [(render.render_heatmap(x[index], np.zeros_like(x[index]), alpha=0.0), "input")]
    tiles += [(render.render_heatmap(x[index], a[index], sign="absolute", alpha=1.0), name) for name, a in maps.items()]
    size = tiles[0][0].width
    columns = 3
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * (size + 8), rows * (size + 24)), "white")
    draw = ImageDraw.Draw(sheet)
    for number, (tile, caption) in enumerate(tiles):
        left, top = (number % columns) * (size + 8), (number // columns) * (size + 24)
        sheet.paste(tile, (left, top + 20))
        draw.text((left + 4, top + 4), caption, fill="black")
    render.save_png(sheet, path)


if __name__ == "__main__":
    main()
