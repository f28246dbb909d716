"""The figures behind `igcli compare`'s default gate and noise margin (docs/compare.md).

Explains the sample data several ways, compares each pair with `igcli compare`, and prints per
pair the lowest rank correlation (Spearman on A and on |A|), the lowest top-10% IoU, the verdicts
at the default gate, and the relative change over the sum of the two runs' error estimates
(median, 99.5th percentile, max). Pairs of the same model must pass; a perturbed model (seeded
noise of 0.2 or 0.5 x each weight's std on its last two weighted layers) shows how far a changed
model moves. About 4 minutes on 2 cores.

    python benchmarks/compare_gate.py
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
ROOT = Path(__file__).resolve().parent.parent
SHAPES, TABLE = ROOT / "sample_data" / "shapes", ROOT / "sample_data" / "table"
IGCLI = [sys.executable, "-m", "igcli"]
QUIET = ["--quiet", "--no-heatmap", "--no-report", "--overwrite"]
TABLE_OPTIONS = ["--id-column", "id", "--label-column", "label", "--output", "logits"]


def perturbed(path: Path, scale: float) -> Path:
    import keras

    model = keras.models.load_model(SHAPES / "model.keras")
    rng = np.random.default_rng(0)
    for layer in [layer for layer in model.layers if layer.get_weights()][-2:]:
        layer.set_weights([w + rng.normal(size=w.shape).astype(np.float32) * scale * w.std() for w in layer.get_weights()])
    model.save(path)
    return path


def explain(work: Path, name: str, model: Path, inputs: Path, *options: str) -> Path:
    subprocess.run([*IGCLI, "explain", str(model), str(inputs), "-o", str(work / name), *options, *QUIET], check=True)
    return work / name


def compare_line(work: Path, label: str, a: Path, b: Path) -> str:
    out = work / f"diff-{a.name}-{b.name}"
    subprocess.run([*IGCLI, "compare", str(a), str(b), "-o", str(out), "--quiet"], check=False)
    with open(out / "compare.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rank = min(min(float(r["spearman"]), float(r["spearman_abs"])) for r in rows)
    iou = min(float(r["iou_10"]) for r in rows)
    ratio = np.array([float(r["relative_change"]) / float(r["noise_allowance"]) for r in rows if float(r["noise_allowance"]) > 0])
    verdicts = {v: sum(r["verdict"] == v for r in rows) for v in ("same", "within noise", "changed")}
    spread = f"{np.median(ratio):.2f} / {np.percentile(ratio, 99.5):.2f} / {ratio.max():.2f}" if ratio.size else "(no estimates)"
    return f"| {label} | {len(rows)} | {rank:.3f} | {iou:.3f} | {verdicts['same']} / {verdicts['within noise']} / {verdicts['changed']} | {spread} |"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        images = SHAPES / "images"
        s16, s50, s200 = (explain(work, f"s{n}", SHAPES / "model.keras", images, "--steps", str(n)) for n in (16, 50, 200))
        gl50 = explain(work, "gl50", SHAPES / "model.keras", images, "--steps", "50", "--method", "gausslegendre")
        p2 = explain(work, "p02", perturbed(work / "p02.keras", 0.2), images, "--steps", "50")
        p5 = explain(work, "p05", perturbed(work / "p05.keras", 0.5), images, "--steps", "50")
        t16, t64 = (explain(work, f"t{n}", TABLE / "model.keras", TABLE / "table.csv", "--steps", str(n), *TABLE_OPTIONS) for n in (16, 64))
        print("| pair | maps | lowest rank correlation | lowest top-10% IoU | same / within noise / changed | change / estimates' sum: median / 99.5% / max |")
        print("| --- | --- | --- | --- | --- | --- |")
        for label, a, b in (
            ("shapes CNN, 50 vs 200 steps", s50, s200),
            ("shapes CNN, 50 vs 16 steps", s50, s16),
            ("shapes CNN, riemann_middle vs gausslegendre, 50 steps", s50, gl50),
            ("shapes CNN vs last layers perturbed 0.2 std", s50, p2),
            ("shapes CNN vs last layers perturbed 0.5 std", s50, p5),
            ("table MLP (logits), 16 vs 64 steps", t16, t64),
        ):
            print(compare_line(work, label, a, b), flush=True)


if __name__ == "__main__":
    main()
