"""Several targets in one pass (--target top:K, all, a list, labels:FILE with several per line).

A K-target run equals K single-target runs; on a linear model every target has its closed form;
outputs gain a target axis while a single target keeps today's layout."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from igcli.methods.adaptive import AdaptiveIntegratedGradients
from igcli.methods.guided import GuidedIntegratedGradients
from igcli.sinks.tables import SUMMARY_COLUMNS
from tests.conftest import assert_one_line_error, save_npy
from tests.models import bright_quadrant_data, linear, trained_cnn

RNG = np.random.default_rng(12)
W = RNG.normal(size=(5, 10)).astype(np.float32)
B = RNG.normal(size=10).astype(np.float32)
X = RNG.uniform(size=(4, 5)).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("targets")
    linear(W, B).save(root / "lin.keras")
    save_npy(root / "x.npy", X)
    model = trained_cnn(seed=3)
    model.save(root / "cnn.keras")
    images, _ = bright_quadrant_data(4, seed=5)
    save_npy(root / "images.npy", images)
    folder = root / "pngs"
    folder.mkdir()
    for number, image in enumerate(images):
        Image.fromarray((image * 255).astype(np.uint8)).save(folder / f"p{number}.png")
    (root / "names.txt").write_text("top_left\ntop_right\nbottom\n")
    return root, model


def test_all_targets_of_a_linear_model_have_their_closed_forms(igcli, files):
    root, _ = files
    run = igcli("explain", root / "lin.keras", root / "x.npy", "--target", "all", "--steps", 2, "--baseline", "constant:0.25")
    assert run.exit_code == 0, run.stderr
    arrays = run.arrays()
    assert arrays["attributions"].shape == (4, 10, 5) and arrays["targets"].tolist() == [list(range(10))] * 4
    expected = np.transpose(W[None] * (X - 0.25)[:, :, None], (0, 2, 1))  # A[n, k, i] = W[i, k] (x_i - 0.25)
    np.testing.assert_allclose(arrays["attributions"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arrays["scores"], X @ W + B, rtol=1e-5)


def test_a_k_target_run_equals_k_single_runs_on_a_cnn(igcli, files):
    root, model = files
    together = igcli("explain", root / "cnn.keras", root / "images.npy", "--target", "2,0,1", "--steps", 16, "--output", "logits").arrays()
    for k, target in enumerate((2, 0, 1)):
        single = igcli("explain", root / "cnn.keras", root / "images.npy", "--target", target, "--steps", 16, "--output", "logits").arrays()
        assert single["attributions"].ndim == 4  # one target: no target axis
        scale = np.abs(single["attributions"]).max()
        np.testing.assert_allclose(together["attributions"][:, k], single["attributions"], rtol=0, atol=1e-6 * scale)
        np.testing.assert_allclose(together["scores"][:, k], single["scores"], rtol=1e-6)
        np.testing.assert_allclose(together["baseline_scores"][:, k], single["baseline_scores"], rtol=1e-6)
        np.testing.assert_allclose(together["deltas"][:, k], single["deltas"], atol=1e-6)


def test_top_k_picks_the_highest_outputs_in_order(igcli, files):
    root, model = files
    run = igcli("explain", root / "cnn.keras", root / "images.npy", "--target", "top:2", "--steps", 4, "--class-names", root / "names.txt")
    assert run.exit_code == 0, run.stderr
    arrays = run.arrays()
    outputs = model.predict(np.load(root / "images.npy"), verbose=0)
    np.testing.assert_array_equal(arrays["targets"], np.argsort(-outputs, axis=1)[:, :2])
    assert np.all(arrays["scores"][:, 0] >= arrays["scores"][:, 1])
    names = ["top_left", "top_right", "bottom"]
    assert [[n.decode() for n in row] for row in arrays["target_names"]] == [[names[t] for t in row] for row in arrays["targets"]]
    with open(run.out / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["id"], r["rank"], int(r["target"])) for r in rows] == [(str(n), str(k + 1), arrays["targets"][n, k]) for n in range(4) for k in range(2)]


def test_single_target_layout_is_unchanged(igcli, files):
    root, _ = files
    run = igcli("explain", root / "cnn.keras", root / "pngs", "--target", 1, "--steps", 4)
    with open(run.out / "summary.csv", newline="") as handle:
        header = list(SUMMARY_COLUMNS)
        header[header.index("status") : header.index("status")] = ["error_estimate", "incomplete"]  # every run estimates its error (0.3)
        assert next(csv.reader(handle)) == header
    arrays = run.arrays()
    assert arrays["attributions"].shape == (4, 16, 16, 3) and arrays["targets"].shape == (4,) and arrays["target_names"].shape == (4,)
    assert sorted(p.name for p in (run.out / "heatmaps").iterdir()) == [f"p{n}.png" for n in range(4)]


def test_heatmaps_panels_and_tables_per_target(igcli, files, tmp_path):
    root, _ = files
    run = igcli("explain", root / "cnn.keras", root / "pngs", "--target", "top_left,bottom", "--class-names", root / "names.txt", "--panel", "--steps", 4)
    assert run.exit_code == 0, run.stderr
    heatmaps = run.out / "heatmaps"
    for n in range(4):
        assert sorted(p.name for p in (heatmaps / f"p{n}").iterdir()) == ["bottom.png", "top_left.png"]
        single, panel = Image.open(heatmaps / f"p{n}" / "bottom.png"), Image.open(heatmaps / f"p{n}.png")
        assert panel.width == 3 * single.width + 2 * 8  # the input and a column per target
    report = (run.out / "report.html").read_text()
    assert "p0/bottom" in report  # the page finds each target's heatmap
    (tmp_path / "t.csv").write_text("a,b,c,d,e\n1,2,3,4,5\n5,4,3,2,1\n")
    table = igcli("explain", root / "lin.keras", tmp_path / "t.csv", "--target", "top:3", "--steps", 2)
    with open(table.out / "attributions.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "rank", "target", "a", "b", "c", "d", "e"] and len(rows) == 1 + 2 * 3


def test_labels_file_with_several_per_line_and_max_delta_per_target(igcli, files, tmp_path):
    root, _ = files
    (tmp_path / "labels.txt").write_text("0,3\n1,3\n2,9\n4,5\n")
    run = igcli("explain", root / "lin.keras", root / "x.npy", "--target", f"labels:{tmp_path / 'labels.txt'}", "--steps", 2)
    assert run.exit_code == 0, run.stderr
    assert run.arrays()["targets"].tolist() == [[0, 3], [1, 3], [2, 9], [4, 5]]
    (tmp_path / "ragged.txt").write_text("0,3\n1\n2,9\n4,5\n")
    assert_one_line_error(igcli("explain", root / "lin.keras", root / "x.npy", "--target", f"labels:{tmp_path / 'ragged.txt'}"), 2, "as many labels")
    # riemann_left at 1 step misses the quadratic's change: every (instance, target) is over the gate
    gated = igcli(
        "explain", root / "cnn.keras", root / "images.npy", "--target", "0,1", "--method", "riemann_left", "--steps", 1, "--max-delta", 1e-6, "--json"
    )
    assert gated.exit_code == 3
    assert json.loads(gated.stdout)["over_max_delta"][:2] == ["0:0", "0:1"]


def test_limits_and_bad_lists(igcli, files, tmp_path):
    root, _ = files
    linear(np.ones((2, 101), np.float32), np.zeros(101, np.float32)).save(tmp_path / "wide.keras")
    save_npy(tmp_path / "x.npy", [[1.0, 2.0]])
    assert_one_line_error(igcli("explain", tmp_path / "wide.keras", tmp_path / "x.npy", "--target", "all"), 2, "101 outputs", "top:K")
    assert_one_line_error(igcli("explain", root / "lin.keras", root / "x.npy", "--target", "top:11"), 2, "top:11")
    assert_one_line_error(igcli("explain", root / "lin.keras", root / "x.npy", "--target", "1,1"), 2, "twice")
    assert_one_line_error(igcli("explain", root / "lin.keras", root / "x.npy", "--target", "1,12"), 2, "12")


def test_guided_and_adaptive_explain_each_target_as_alone(files):
    _, model = files
    images = np.asarray(bright_quadrant_data(3, seed=8)[0], np.float32)

    def call(t):
        return model(t, training=False)

    zeros = np.zeros((3, 1, 16, 16, 3), np.float32)
    targets = np.array([[0, 2], [1, 0], [2, 1]])
    for method in (
        GuidedIntegratedGradients.build(call, (16, 16, 3), 8, batch_size=64),
        AdaptiveIntegratedGradients.build(call, (16, 16, 3), 0.05, 256, batch_size=64),
    ):
        together = method.explain(images, zeros, targets)
        for k in range(2):
            alone = method.explain(images, zeros, targets[:, k])
            np.testing.assert_allclose(together.attributions[:, k], alone.attributions, rtol=1e-5, atol=1e-7)
            if together.steps is not None:
                np.testing.assert_array_equal(together.steps[:, k], alone.steps)


def test_with_layer_baseline_samples_resume_and_tokens(igcli, files):
    from pathlib import Path

    root, model = files
    layer = igcli("explain", root / "cnn.keras", root / "images.npy", "--target", "top:2", "--layer", model.layers[2].name, "--steps", 4)
    assert layer.exit_code == 0 and layer.arrays()["attributions"].shape[:2] == (4, 2)
    args = (
        "explain",
        root / "cnn.keras",
        root / "images.npy",
        "--target",
        "all",
        "--baseline",
        "uniform",
        "--baseline-samples",
        2,
        "--steps",
        4,
        "-o",
        root / "resumed",
    )
    first = igcli(*args).arrays()
    again = igcli(*args, "--resume")
    assert again.run_json()["counts"]["reused"] == 4
    np.testing.assert_array_equal(again.arrays()["attributions"], first["attributions"])
    text = Path(__file__).resolve().parents[1] / "sample_data" / "text"
    tokens = igcli(
        "explain",
        text / "model.keras",
        text / "reviews.npz",
        "--layer",
        "embedding",
        "--vocab",
        text / "vocab.txt",
        "--target",
        "all",
        "--class-names",
        text / "class_names.txt",
        "--output",
        "logits",
    )
    assert tokens.exit_code == 0, tokens.stderr
    assert sorted(p.name for p in (tokens.out / "tokens" / "0").iterdir()) == ["negative.html", "positive.html"]
    with open(tokens.out / "tokens.csv", newline="") as handle:
        assert next(csv.reader(handle))[:2] == ["id", "target"]
