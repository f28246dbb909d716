"""Blur IG, Guided IG, SmoothGrad, IDGI and expected-gradient baselines.

Blur IG and Guided IG are checked against PAIR saliency's reference implementations with the same
model, input, target and discretization (to 1e-4 of the largest attribution); SmoothGrad against
its definition with the same noise draws and, statistically, against saliency's GetSmoothedMask;
IDGI against its formula computed here, and for completeness to float precision; expected
gradients against the closed form of a linear model."""

import csv
import types

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from igcli.methods.guided import GuidedIntegratedGradients
from igcli.methods.ig import IntegratedGradients
from igcli.methods.paths import BlurPath
from igcli.methods.quadrature import alphas_and_weights
from igcli.seeds import instance_rng
from igcli.smoothing import Smoothing
from tests.conftest import assert_one_line_error, save_npy
from tests.models import bright_quadrant_data, linear, trained_cnn


@pytest.fixture(scope="module")
def saliency():
    """PAIR saliency, the reference for Blur IG, Guided IG and SmoothGrad: only the tests that
    compare with it skip where it is not installed."""
    return pytest.importorskip("saliency.core")


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    root = tmp_path_factory.mktemp("methods")
    model = trained_cnn(seed=6)
    model.save(root / "cnn.keras")
    x, _ = bright_quadrant_data(3, seed=31)
    save_npy(root / "x.npy", x)
    targets = np.argmax(model.predict(x, verbose=0), axis=1)
    return root, model, x, targets


def reference_gradients(saliency, model, target):
    """PAIR saliency's call_model_function: gradients of one output, computed in float32."""

    @tf.function
    def gradients(points):
        with tf.GradientTape() as tape:
            tape.watch(points)
            value = model(points, training=False)[:, target]
        return tape.gradient(value, points)

    def call(points, call_model_args=None, expected_keys=None):
        return {saliency.INPUT_OUTPUT_GRADIENTS: gradients(tf.constant(np.asarray(points), tf.float32)).numpy()}

    return call


def call_of(model):
    return lambda t: model(t, training=False)


def scaled_error(got, expected):
    return np.abs(np.asarray(got, np.float64) - expected).max() / np.abs(expected).max()


@pytest.mark.parametrize("steps, sigma", [(20, 8.0), (40, 50.0)])
def test_blur_ig_matches_pair_saliency(saliency, cnn, steps, sigma):
    _, model, x, targets = cnn
    # the reference's discretization: sigma_i = i max/steps, i = 0..steps-1 (riemann_right in our
    # alpha = 1 - sigma / max), velocity by forward difference with step 0.01
    alphas, weights = alphas_and_weights("riemann_right", steps)
    method = IntegratedGradients.build(call_of(model), (16, 16, 3), alphas, weights, batch_size=64, path=BlurPath(sigma, (16, 16, 3), finite_step=0.01))
    ours = method.explain(x, np.zeros((3, 1, 16, 16, 3), np.float32), targets).attributions
    for row in range(3):
        expected = saliency.BlurIG().GetMask(
            x[row].astype(np.float64), reference_gradients(saliency, model, targets[row]), max_sigma=sigma, steps=steps, grad_step=0.01, batch_size=64
        )
        assert scaled_error(ours[row], expected) <= 1e-4


def numpy2_shim():
    """saliency 0.2.1's GuidedIG calls np.quantile(..., interpolation=...), a keyword NumPy 2
    removed; the same computation under its new name."""
    shim = types.SimpleNamespace(**{name: getattr(np, name) for name in dir(np) if not name.startswith("__")})
    shim.quantile = lambda a, q, interpolation="linear", **kwargs: np.quantile(a, q, method=interpolation, **kwargs)
    return shim


@pytest.mark.parametrize("steps, fraction, max_dist", [(16, 0.25, 0.02), (30, 0.1, 0.5)])
def test_guided_ig_matches_pair_saliency(saliency, cnn, monkeypatch, steps, fraction, max_dist):
    from saliency.core import guided_ig

    monkeypatch.setattr(guided_ig, "np", numpy2_shim())
    _, model, x, targets = cnn
    baselines = np.full((3, 1, 16, 16, 3), 0.1, np.float32)
    method = GuidedIntegratedGradients.build(call_of(model), (16, 16, 3), steps, batch_size=64, fraction=fraction, max_dist=max_dist)
    ours = method.explain(x, baselines, targets).attributions
    for row in range(3):
        expected = saliency.GuidedIG().GetMask(
            x[row].astype(np.float64),
            reference_gradients(saliency, model, targets[row]),
            x_baseline=baselines[row, 0].astype(np.float64),
            x_steps=steps,
            fraction=fraction,
            max_dist=max_dist,
        )
        assert scaled_error(ours[row], expected) <= 1e-4


def test_smoothgrad_is_the_mean_over_its_noise_draws(igcli, cnn):
    root, model, x, targets = cnn
    run = igcli("explain", root / "cnn.keras", root / "x.npy", "--smooth", 5, "--noise", 0.2, "--steps", 8, "--seed", 3)
    assert run.exit_code == 0, run.stderr
    copies = Smoothing(5, 0.2, seed=3).make(x, ["0", "1", "2"])  # array inputs: ids are row numbers
    assert not np.allclose(copies[0, 0], copies[0, 1])
    alphas, weights = alphas_and_weights("riemann_middle", 8)  # the default rule
    plain = IntegratedGradients.build(call_of(model), (16, 16, 3), alphas, weights, batch_size=64)
    expected = np.mean([plain.explain(copies[:, k], np.zeros((3, 1, 16, 16, 3), np.float32), targets).attributions for k in range(5)], axis=0)
    np.testing.assert_allclose(run.arrays()["attributions"], expected, rtol=1e-5, atol=1e-7)
    for row in range(3):  # the noise has the documented scale: 0.2 of the input's value range
        assert np.std(copies[row] - x[row]) == pytest.approx(0.2 * (x[row].max() - x[row].min()), rel=0.02)
    absolute = Smoothing(5, 0.2, seed=3, absolute=True).make(x, ["0", "1", "2"])  # --noise-units input (Vertex's noiseSigma)
    for row in range(3):
        assert np.std(absolute[row] - x[row]) == pytest.approx(0.2, rel=0.02)


@pytest.mark.parametrize("squared", [False, True])
def test_smoothgrad_agrees_with_pair_statistically(saliency, igcli, tmp_path, squared):
    # A linear model's IG is W * (x - x') with every rule, in PAIR's discretization too, so the two
    # SmoothGrads differ only by their noise draws; the squared distance between two independent
    # means of N draws has the expectation sum_i 2 var_i / N, with var_i in closed form.
    rng = np.random.default_rng(8)
    weights, count = rng.normal(size=(48, 2)).astype(np.float32), 400
    linear(weights, np.zeros(2, np.float32)).save(tmp_path / "lin.keras")
    x = rng.uniform(0.2, 0.8, size=(1, 48)).astype(np.float32)
    save_npy(tmp_path / "x.npy", x)
    args = ["--smooth", count, "--noise", 0.15, "--steps", 2, "--target", 0] + (["--smooth-squared"] if squared else [])
    ours = igcli("explain", tmp_path / "lin.keras", tmp_path / "x.npy", *args).arrays()["attributions"][0].astype(np.float64)
    model = keras.saving.load_model(tmp_path / "lin.keras")
    pair = saliency.IntegratedGradients().GetSmoothedMask(
        x[0], reference_gradients(saliency, model, 0), stdev_spread=0.15, nsamples=count, magnitude=squared, x_steps=2, x_baseline=np.zeros(48)
    )
    sigma = 0.15 * (x.max() - x.min())
    w, mean = weights[:, 0].astype(np.float64), x[0].astype(np.float64)
    variance = w**4 * (4 * mean**2 * sigma**2 + 2 * sigma**4) if squared else w**2 * sigma**2
    ratio = np.sum((ours - pair) ** 2) / np.sum(2 * variance / count)
    assert 0.5 < ratio < 1.6, ratio
    center = w**2 * (mean**2 + sigma**2) if squared else w * mean
    assert np.abs(ours - center).max() < 5 * np.sqrt(variance.max() / count)


@pytest.mark.parametrize("args", [[], ["--path", "blur", "--blur-sigma", 6], ["--path", "guided"], ["--smooth", 3]])
def test_idgi_is_complete_to_float_precision(igcli, cnn, args):
    root, _, _, _ = cnn
    run = igcli("explain", root / "cnn.keras", root / "x.npy", "--idgi", "--steps", 12, "--output", "logits", *args)
    assert run.exit_code == 0, run.stderr
    arrays = run.arrays()
    gap = np.abs(arrays["scores"] - arrays["baseline_scores"])
    assert np.all(gap > 0.1)
    assert np.all(np.abs(arrays["deltas"]) <= 2e-5 * np.maximum(gap, 1)), arrays["relative_deltas"]


def test_idgi_is_its_formula(cnn):
    # IDGI (Yang et al. 2023): sum over consecutive path points of g_i^2 / |g_i|^2 (F(x_i+1) - F(x_i)),
    # here on the straight path at riemann_left's points 0, 1/n, .. (n-1)/n, ending at F(x).
    _, model, x, targets = cnn
    steps = 10
    alphas, weights = alphas_and_weights("riemann_left", steps)
    method = IntegratedGradients.build(call_of(model), (16, 16, 3), alphas, weights, batch_size=64, idgi=True)
    ours = method.explain(x, np.zeros((3, 1, 16, 16, 3), np.float32), targets).attributions
    for row in range(3):
        points = tf.constant(np.concatenate([alphas[:, None, None, None] * x[row][None], x[row][None]]), tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(points)
            values = model(points, training=False)[:, targets[row]]
        grads = tape.gradient(values, points).numpy().astype(np.float64)
        values = values.numpy().astype(np.float64)
        expected = sum(grads[i] ** 2 / np.sum(grads[i] ** 2) * (values[i + 1] - values[i]) for i in range(steps))
        np.testing.assert_allclose(ours[row], expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())


def test_expected_gradients_draw_from_the_reference_set(igcli, tmp_path):
    rng = np.random.default_rng(9)
    weights = rng.normal(size=(5, 3)).astype(np.float32)
    linear(weights, np.zeros(3, np.float32)).save(tmp_path / "lin.keras")
    x = rng.uniform(size=(4, 5)).astype(np.float32)
    reference = rng.uniform(size=(30, 5)).astype(np.float32)
    save_npy(tmp_path / "x.npy", x)
    save_npy(tmp_path / "reference.npy", reference)
    run = igcli(
        "explain",
        tmp_path / "lin.keras",
        tmp_path / "x.npy",
        "--baseline",
        f"samples:{tmp_path / 'reference.npy'}",
        "--baseline-samples",
        6,
        "--target",
        1,
        "--steps",
        2,
        "--seed",
        4,
    )
    assert run.exit_code == 0, run.stderr
    for row in range(4):  # linear: IG from each drawn baseline is W (x - x'_k); their mean
        drawn = reference[instance_rng(4, str(row), "baseline").integers(0, 30, size=6)]
        np.testing.assert_allclose(run.arrays()["attributions"][row], weights[:, 1] * (x[row] - drawn.mean(axis=0)), rtol=1e-5, atol=1e-6)


def test_random_draws_follow_the_id_not_the_position(igcli, tmp_path):
    keras.utils.set_random_seed(0)
    keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3, activation="tanh"), keras.layers.Flatten(), keras.layers.Dense(2)]).save(
        tmp_path / "m.keras"
    )
    folder, references = tmp_path / "in", tmp_path / "refs"
    folder.mkdir()
    references.mkdir()
    rng = np.random.default_rng(1)
    for name in ("a", "c"):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{name}.png")
    for name in range(5):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(references / f"r{name}.png")
    args = ["--baseline", f"samples:{references}", "--baseline-samples", 3, "--smooth", 2, "--steps", 4]
    before = igcli("explain", tmp_path / "m.keras", folder, *args).arrays()
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / "b.png")  # c moves to position 2
    after = igcli("explain", tmp_path / "m.keras", folder, *args).arrays()
    assert [i.decode() for i in after["ids"]] == ["a", "b", "c"]
    np.testing.assert_array_equal(after["attributions"][[0, 2]], before["attributions"])


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--path", "blur", "--baseline", "uniform"], "--baseline"),
        (["--path", "blur", "--layer", "LAYER"], "--path blur"),
        (["--path", "guided", "--method", "riemann_left"], "--method"),
        (["--path", "guided", "--steps", "auto"], "--steps auto"),
        (["--idgi", "--steps", "auto"], "--idgi"),
        (["--smooth-squared"], "--smooth"),
        (["--smooth", 2, "--smooth-squared", "--max-delta", 0.1], "--max-delta"),
        (["--path", "blur", "--blur-sigma", 0], "--blur-sigma"),
        (["--guided-fraction", 0], "--guided-fraction"),
        (["--baseline", "samples:/no/such/folder"], "samples"),
    ],
)
def test_combinations_that_make_no_sense_are_refused(igcli, cnn, args, fragment):
    root, model, _, _ = cnn
    args = [model.layers[0].name if a == "LAYER" else a for a in args]
    assert_one_line_error(igcli("explain", root / "cnn.keras", root / "x.npy", *args), 2, fragment)


def test_methods_through_the_cli_on_images_write_heatmaps_and_summaries(igcli, cnn, tmp_path):
    root, _, x, _ = cnn
    folder = tmp_path / "images"
    folder.mkdir()
    for row, image in enumerate(x):
        Image.fromarray((image * 255).astype(np.uint8)).save(folder / f"i{row}.png")
    for args in (["--path", "blur", "--blur-sigma", 4], ["--path", "guided"], ["--smooth", 2, "--smooth-squared"], ["--idgi"]):
        run = igcli("explain", root / "cnn.keras", folder, "--steps", 6, *args)
        assert run.exit_code == 0, (args, run.stderr)
        assert len(list((run.out / "heatmaps").glob("*.png"))) == 3
        with open(run.out / "summary.csv", newline="") as handle:
            assert [r["status"] for r in csv.DictReader(handle)] == ["ok"] * 3
        assert run.run_json()["resolved"]["path"] == ("straight" if args[0] != "--path" else args[1])
