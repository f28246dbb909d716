"""Deletion and insertion (--metrics), and the uninformative-baseline flag.

Checked against xplique 1.3's Deletion / Insertion on the same model, inputs and attributions;
against the axioms (IG beats a random attribution on the sample CNN; on a linear model the exact
attribution, w * x, is the best ordering there is); and against the curves' own end points."""

import csv
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from igcli import faithfulness
from tests.conftest import assert_one_line_error, save_npy
from tests.models import linear

SHAPES = Path(__file__).resolve().parents[1] / "sample_data" / "shapes"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics")
    x = np.load(SHAPES / "images.npz")["x"][::4].astype(np.float32)  # 6 images
    save_npy(root / "x.npy", x)
    return root, x, keras.saving.load_model(SHAPES / "model.keras")


def test_equal_to_xplique(igcli, sample):
    xplique = pytest.importorskip("xplique.metrics")
    root, x, model = sample
    run = igcli("explain", SHAPES / "model.keras", root / "x.npy", "--metrics", "deletion,insertion", "--metric-steps", 10, "--steps", 16)
    assert run.exit_code == 0, run.stderr
    arrays = run.arrays()
    onehot = np.eye(3)[arrays["targets"]].astype(np.float32)
    for name, reference in (("deletion", xplique.Deletion), ("insertion", xplique.Insertion)):
        metric = reference(model, x, onehot, batch_size=64, baseline_mode=0.0, steps=10)
        assert np.mean(arrays[name]) == pytest.approx(metric.evaluate(arrays["attributions"]), abs=1e-3)
        curve = list(metric.detailed_evaluate(arrays["attributions"]).values())
        np.testing.assert_allclose(arrays[f"{name}_curve"].mean(axis=0), curve, atol=1e-5)
    manifest = run.run_json()
    assert manifest["metrics"]["deletion"] == pytest.approx(np.mean(arrays["deletion"]))
    assert manifest["metric_forward_passes"] == 6 * 2 * 11


def test_ig_beats_a_random_attribution_on_the_sample_cnn(igcli, sample):
    root, x, model = sample
    run = igcli("explain", SHAPES / "model.keras", root / "x.npy", "--metrics", "deletion,insertion", "--steps", 32)
    arrays = run.arrays()
    targets, ig = arrays["targets"], arrays["attributions"]
    noise = np.random.default_rng(0).normal(size=ig.shape).astype(np.float32)

    def outputs_of(batch):
        return model(tf.constant(batch), training=False).numpy()

    zeros = np.zeros_like(x)
    for name, better in (("deletion", np.less), ("insertion", np.greater)):
        ours = faithfulness.area(faithfulness.curves(outputs_of, x, ig, zeros, targets, name, 20))
        np.testing.assert_allclose(ours, arrays[name], atol=1e-5)  # the CLI's figure
        random = faithfulness.area(faithfulness.curves(outputs_of, x, noise, zeros, targets, name, 20))
        assert better(ours.mean(), random.mean()), (name, ours.mean(), random.mean())


def test_the_exact_attribution_of_a_linear_model_is_the_best_ordering(tmp_path):
    # For F = w . x, deleting features in order of w_i x_i, most positive first, lowers F the
    # fastest of all orders (and inserting them raises it the fastest): no ordering does better.
    rng = np.random.default_rng(2)
    w, x = rng.normal(size=12), rng.normal(size=(1, 12)).astype(np.float32)

    def outputs_of(batch):
        return (batch.astype(np.float64) @ w)[:, None]

    oracle = (w * x).astype(np.float32)
    zeros, target = np.zeros_like(x), np.zeros(1, np.int64)
    best = {name: faithfulness.area(faithfulness.curves(outputs_of, x, oracle, zeros, target, name, 12))[0] for name in faithfulness.METRICS}
    for _ in range(40):
        other = rng.normal(size=oracle.shape).astype(np.float32)
        assert best["deletion"] <= faithfulness.area(faithfulness.curves(outputs_of, x, other, zeros, target, "deletion", 12))[0] + 1e-9
        assert best["insertion"] >= faithfulness.area(faithfulness.curves(outputs_of, x, other, zeros, target, "insertion", 12))[0] - 1e-9


def test_tables_and_curves_run_from_the_input_to_the_baseline(igcli, tmp_path):
    weights = np.array([[1.0, -1.0], [2.0, 0.5], [-0.5, 3.0]], np.float32)
    linear(weights, np.array([0.1, 0.2], np.float32)).save(tmp_path / "lin.keras")
    (tmp_path / "t.csv").write_text("a,b,c\n1,2,3\n0.5,-1,2\n3,0,1\n")
    run = igcli(
        "explain",
        tmp_path / "lin.keras",
        tmp_path / "t.csv",
        "--metrics",
        "deletion,insertion",
        "--metric-steps",
        3,
        "--baseline",
        "constant:0.5",
        "--target",
        1,
        "--steps",
        2,
    )
    assert run.exit_code == 0, run.stderr
    arrays = run.arrays()
    for deletion, insertion, score, base in zip(arrays["deletion_curve"], arrays["insertion_curve"], arrays["scores"], arrays["baseline_scores"]):
        assert deletion[0] == pytest.approx(score, abs=1e-5) and deletion[-1] == pytest.approx(base, abs=1e-5)
        assert insertion[0] == pytest.approx(base, abs=1e-5) and insertion[-1] == pytest.approx(score, abs=1e-5)
        assert len(deletion) == 4  # 3 features, steps 0..3: one removed per step
    with open(run.out / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["deletion"]) for r in rows] == pytest.approx(arrays["deletion"].tolist())


def test_token_models_delete_whole_tokens(igcli):
    text = Path(__file__).resolve().parents[1] / "sample_data" / "text"
    run = igcli(
        "explain", text / "model.keras", text / "reviews.npz", "--layer", "embedding", "--output", "logits", "--metrics", "deletion", "--metric-steps", 12
    )
    assert run.exit_code == 0, run.stderr
    arrays = run.arrays()
    assert arrays["deletion_curve"].shape == (30, 13)  # 12 tokens, one deleted per step
    np.testing.assert_allclose(arrays["deletion_curve"][:, 0], arrays["scores"], rtol=1e-5, atol=1e-5)


def test_uninformative_baselines_are_flagged(igcli, tmp_path):
    # F = 5 + (x1 - x2): for x = (0.3, 0.3001) F barely moves from the zero baseline.
    linear(np.array([[1.0], [-1.0]], np.float32), np.array([5.0], np.float32)).save(tmp_path / "lin.keras")
    save_npy(tmp_path / "x.npy", [[0.3, 0.3001], [2.0, 0.0]])
    run = igcli("explain", tmp_path / "lin.keras", tmp_path / "x.npy", "--steps", 2, "--json")
    assert run.exit_code == 0, run.stderr
    assert run.arrays()["uninformative_baseline"].tolist() == [1, 0]
    with open(run.out / "summary.csv", newline="") as handle:
        assert [r["uninformative_baseline"] for r in csv.DictReader(handle)] == ["1", "0"]
    manifest = run.run_json()
    assert manifest["counts"]["uninformative_baselines"] == 1 and manifest["uninformative_baselines"]["ids"] == ["0"]
    assert "uninformative baseline" in run.stderr and ": 0 (" in run.stderr


def test_metric_options_are_checked(igcli, sample):
    root, _, _ = sample
    assert_one_line_error(igcli("explain", SHAPES / "model.keras", root / "x.npy", "--metrics", "deletion,fidelity"), 2, "fidelity")
    assert_one_line_error(igcli("explain", SHAPES / "model.keras", root / "x.npy", "--metrics", "insertion", "--metric-steps", 0), 2, "--metric-steps")


def test_resume_keeps_the_metrics(igcli, sample):
    root, _, _ = sample
    args = ("explain", SHAPES / "model.keras", root / "x.npy", "--metrics", "deletion", "--steps", 8, "-o", root / "resumed")
    first = igcli(*args).arrays()
    again = igcli(*args, "--resume")
    assert again.run_json()["counts"]["reused"] == 6 and again.run_json()["metric_forward_passes"] == 0
    np.testing.assert_array_equal(again.arrays()["deletion_curve"], first["deletion_curve"])


def test_several_targets_cost_a_curve_each(igcli, sample):
    root, _, _ = sample
    run = igcli("explain", SHAPES / "model.keras", root / "x.npy", "--metrics", "deletion", "--metric-steps", 4, "--target", "top:2", "--steps", 4)
    assert run.exit_code == 0, run.stderr
    assert run.arrays()["deletion_curve"].shape == (6, 2, 5)
    assert run.run_json()["metric_forward_passes"] == 6 * 2 * 5  # (M + 1) passes per curve, a curve per target


def independent_normalised(curves: np.ndarray, metric: str) -> np.ndarray:
    """Each curve rescaled first, F(x) -> 1 and F(x') -> 0, then integrated by numpy over [0, 1]."""
    full, empty = (curves[..., 0], curves[..., -1]) if metric == "deletion" else (curves[..., -1], curves[..., 0])
    scaled = (curves - empty[..., None]) / (full - empty)[..., None]
    return np.trapezoid(scaled, dx=1 / (curves.shape[-1] - 1), axis=-1)


def test_normalised_area_by_hand_and_against_numpy():
    # deletion 4 -> 2 -> 0: a straight fall, half the area; insertion 0 -> 4 -> 4: three quarters
    assert faithfulness.normalised_area(np.array([[4.0, 2.0, 0.0]]), "deletion") == pytest.approx([0.5])
    assert faithfulness.normalised_area(np.array([[0.0, 4.0, 4.0]]), "insertion") == pytest.approx([0.75])
    rng = np.random.default_rng(5)
    curves = rng.normal(size=(7, 3, 11)) * 3
    for metric in faithfulness.METRICS:
        ours = faithfulness.normalised_area(curves, metric)
        assert ours.shape == (7, 3)
        np.testing.assert_allclose(ours, independent_normalised(curves, metric), rtol=1e-12, atol=1e-12)
        assert np.isfinite(ours).all()
        # the model's units do not matter: F -> a F + b leaves the figure as it was (a != 0), where
        # F still moves by more than 1% of |F(x)| (the offset makes some changes too small)
        for a, b in ((-0.01, 0.0), (250.0, 0.0), (2.0, 3.0)):
            moved = faithfulness.normalised_area(a * curves + b, metric)
            kept = np.isfinite(moved)
            assert kept.sum() >= 15
            np.testing.assert_allclose(moved[kept], ours[kept], rtol=1e-9, atol=1e-12)


def test_normalised_area_is_nan_where_f_barely_moves():
    flat = np.array([[5.0, 9.0, 5.0], [5.0, 1.0, 5.0 - 0.049], [np.nan] * 3, [5.0, 1.0, 4.9]])
    ours = faithfulness.normalised_area(flat, "deletion")
    assert np.isnan(ours[:3]).all()  # no change, under 1% of |F(x)|, failed
    assert ours[3] == pytest.approx(independent_normalised(flat[3], "deletion"))


def test_summary_normalises_the_metrics_and_the_arrays_keep_the_raw_scores(igcli, sample):
    root, _, _ = sample
    run = igcli("explain", SHAPES / "model.keras", root / "x.npy", "--metrics", "deletion,insertion", "--metric-steps", 6, "--steps", 8, "--output", "logits")
    assert run.exit_code == 0, run.stderr
    arrays = run.arrays()
    with open(run.out / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[-6:] == ["deletion", "insertion", "deletion_normalised", "insertion_normalised", "status", "error"]
    for name in ("deletion", "insertion"):
        assert [float(r[name]) for r in rows] == pytest.approx(arrays[name].tolist())  # raw, as before
        expected = independent_normalised(arrays[f"{name}_curve"].astype(np.float64), name)
        assert [float(r[f"{name}_normalised"]) for r in rows] == pytest.approx(expected.tolist(), rel=1e-9)
    normalised = np.array([[float(r["deletion_normalised"]), float(r["insertion_normalised"])] for r in rows])
    assert np.all(normalised[:, 0] < normalised[:, 1])  # on this CNN, IG's deletion falls faster than its insertion rises
