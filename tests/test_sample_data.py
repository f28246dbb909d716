"""On the bundled sample data: attributions point where the answer is, outputs are complete."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SHAPES = ROOT / "sample_data" / "shapes"
TABLE = ROOT / "sample_data" / "table"


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    from click.testing import CliRunner

    from igcli.cli import cli

    out = tmp_path_factory.mktemp("shapes") / "out"
    args = [
        "explain",
        str(SHAPES / "model.keras"),
        str(SHAPES / "images"),
        "-o",
        str(out),
        "--output",
        "logits",
        "--class-names",
        str(SHAPES / "class_names.txt"),
    ]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return out


def test_attribution_mass_lies_inside_the_shapes_box(shapes_run):
    import h5py

    boxes = json.loads((SHAPES / "boxes.json").read_text())
    with h5py.File(shapes_run / "attributions.h5") as handle:
        attributions = handle["attributions"][()]
        ids = [i.decode() for i in handle["ids"][()]]
        targets = handle["targets"][()]
    fractions, area_shares = [], []
    for ident, attribution, target in zip(ids, attributions, targets):
        assert target == boxes[ident]["label"]  # every sample image is classified correctly
        x0, y0, x1, y1 = boxes[ident]["box"]
        mass = np.abs(attribution).sum(axis=-1)
        fractions.append(mass[y0:y1, x0:x1].sum() / mass.sum())
        area_shares.append((y1 - y0) * (x1 - x0) / mass.size)
    fractions, area_shares = np.array(fractions), np.array(area_shares)
    # Measured (24 images, logits, zero baseline, 50 steps): mean 0.72, worst 0.47, while the boxes
    # cover 17% of the image on average. The bars sit below those figures with some margin.
    assert fractions.mean() >= 0.65
    assert fractions.min() >= 0.40
    assert np.all(fractions >= 1.5 * area_shares)


def test_heatmaps_overview_and_summary_for_every_image(shapes_run):
    images = sorted(p.stem for p in (SHAPES / "images").glob("*.png"))
    assert sorted(p.stem for p in (shapes_run / "heatmaps").glob("*.png")) == images
    heatmap = np.asarray(Image.open(shapes_run / "heatmaps" / "circle_00.png"))
    assert heatmap.shape == (256, 256, 3)  # 64x64 input upsampled 4x for reading
    assert heatmap.std() > 10  # neither blank nor a flat colour
    assert Image.open(shapes_run / "overview.png").size[0] >= 6 * 160
    with open(shapes_run / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == images
    assert {r["original_size"] for r in rows} == {"64x64"}
    assert all(r["predicted_name"] == r["target_name"] == r["id"].split("_")[0] for r in rows)


def test_table_columns_that_decide_the_label_get_the_largest_attributions(tmp_path):
    from click.testing import CliRunner

    from igcli.cli import cli

    out = tmp_path / "table"
    args = [
        "explain",
        str(TABLE / "model.keras"),
        str(TABLE / "table.csv"),
        "-o",
        str(out),
        "--id-column",
        "id",
        "--label-column",
        "label",
        "--target",
        "label",
        "--output",
        "logits",
        "--class-names",
        str(TABLE / "class_names.txt"),
    ]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    with open(out / "attributions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 400 and rows[0]["id"] == "row000"
    features = ["f0", "f1", "f2", "f3", "f4", "f5"]
    mean_abs = {f: np.mean([abs(float(r[f])) for r in rows]) for f in features}
    ranked = sorted(features, key=mean_abs.get, reverse=True)
    assert set(ranked[:2]) == {"f1", "f4"}, mean_abs
    assert min(mean_abs["f1"], mean_abs["f4"]) > 3 * max(mean_abs[f] for f in ("f0", "f2", "f3", "f5"))
    with open(out / "summary.csv", newline="") as handle:
        summary = list(csv.DictReader(handle))
    labels = [line.split(",")[-1] for line in (TABLE / "table.csv").read_text().splitlines()[1:]]
    assert [r["target"] for r in summary] == labels  # --target label: each row's own label
