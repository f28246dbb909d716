"""--steps auto: each instance refined until its attributions converge.

The error estimate must be honest: against closed forms and against a 4096-point reference on a
small trained CNN, every instance's true relative L1 error stays within 2x the tolerance. Easy
instances stop at the first mesh, hard ones are refined; the steps recorded are the evaluations
made; results do not depend on how instances are grouped."""

import csv
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from igcli.methods import adaptive
from igcli.methods.adaptive import MIN_STEPS, AdaptiveIntegratedGradients
from igcli.methods.ig import IntegratedGradients
from igcli.methods.quadrature import alphas_and_weights
from tests.conftest import assert_one_line_error, save_npy
from tests.models import bright_quadrant_data, linear, many_kinks, paper_example, trained_cnn


def relative_l1(got, expected):
    got, expected = np.asarray(got, np.float64).reshape(len(got), -1), np.asarray(expected, np.float64).reshape(len(expected), -1)
    return np.abs(got - expected).sum(axis=1) / np.abs(expected).sum(axis=1)


def run_auto(call, shape, x, targets, tolerance, max_steps=1024, baselines=None):
    method = AdaptiveIntegratedGradients.build(call, shape, tolerance, max_steps, batch_size=64)
    baselines = np.zeros((len(x), 1, *shape), np.float32) if baselines is None else baselines
    return method, method.explain(np.asarray(x, np.float32), baselines, np.asarray(targets))


def easy_and_hard(x):
    """Output 0: the sum of x (a constant gradient: easy). Output 1: a steep sigmoid of the sum,
    whose whole change happens in a short stretch of the path (hard). From a zero baseline both
    have closed forms: A_i = x_i / s * (F(x) - F(0)), s = sum x, since every dF/dx_i is equal."""
    s = tf.reduce_sum(x, axis=1, keepdims=True)
    return tf.concat([s, tf.sigmoid(40.0 * (s - 1.3))], axis=1)


def easy_and_hard_expected(x, target):
    s = x.sum(axis=1, keepdims=True)
    change = s if target == 0 else 1 / (1 + np.exp(-40 * (s - 1.3))) - 1 / (1 + np.exp(40 * 1.3))
    return x / s * change


@pytest.mark.parametrize("tolerance", [0.03, 0.01, 0.001])
def test_closed_forms_within_twice_the_tolerance_and_easy_ones_stop_first(tolerance):
    x = np.array([[0.9, 0.8, 0.3], [0.2, 0.5, 1.1], [1.0, 0.1, 0.6]], np.float32)
    for target in (0, 1):
        method, result = run_auto(easy_and_hard, (3,), x, [target] * 3, tolerance)
        error = relative_l1(result.attributions, easy_and_hard_expected(x.astype(np.float64), target))
        assert np.all(error <= 2 * tolerance), error
        assert np.all(result.error_estimates <= tolerance)
        if target == 0:  # a constant gradient: converged on the first mesh, estimate ~0
            assert np.all(result.steps == MIN_STEPS) and np.all(result.error_estimates < 1e-6)
        else:  # the steep step is found and refined around
            assert np.all(result.steps > MIN_STEPS), result.steps


@pytest.mark.parametrize("tolerance", [0.01, 0.001])
def test_a_kink_inside_a_leaf_is_found(tolerance):
    # Sundararajan et al.'s f = ReLU(ReLU(x1) - 1 - ReLU(x2)) at (3, 0.7): along the path the ReLU
    # switches on at a0 = 1 / 2.3, between mesh points; A = (3, -0.7) * (1 - a0).
    model = paper_example()
    x = np.array([[3.0, 0.7]], np.float32)
    _, result = run_auto(lambda t: model(t, training=False), (2,), x, [0], tolerance)
    expected = np.array([[3.0, -0.7]]) * (1 - 1 / 2.3)
    assert relative_l1(result.attributions, expected)[0] <= 2 * tolerance
    assert result.steps[0] > MIN_STEPS


def test_estimate_is_the_error_where_the_gradient_jumps_all_along_the_path():
    # 500 ReLU units switching at random points along each path, exact IG in closed form. There,
    # what a refinement changes is sqrt(3) times the refined result's error (root mean square over
    # the jumps), so the estimate (the change over sqrt(3)) should be the error itself in the
    # median: 1 by that argument, while the unscaled change would give about 1.7.
    rng = np.random.default_rng(7)
    first = rng.uniform(0.5, 1.5, 64)
    x = (first + 0.2 * rng.normal(size=(8, 64))).astype(np.float32)
    x[0] = first
    model, exact = many_kinks(x, 500, seed=3)
    ratios = []
    for tolerance in (0.03, 0.01, 0.003):
        _, result = run_auto(lambda t: model(t, training=False), (64,), x, [0] * 8, tolerance)
        error = relative_l1(result.attributions, exact)
        assert np.all(error <= 2 * tolerance), (tolerance, error)
        assert np.all(result.steps > MIN_STEPS)
        ratios += list(result.error_estimates / error)
    assert 0.7 < np.median(ratios) < 1.4, np.round(ratios, 2)


def test_a_rise_that_every_first_point_misses_is_found():
    # F(x) = ReLU(x - 0.3) - ReLU(x - 0.31): F rises by 0.01 between two points of the first mesh
    # (0.25 and 0.375) and its gradient is 0 at all 9 of them, so the first attributions are all 0
    # and the estimate infinite; the completeness defect leads refinement to the rise.
    inputs = keras.Input((1,))
    hidden, head = keras.layers.Dense(2, activation="relu"), keras.layers.Dense(1, use_bias=False)
    model = keras.Model(inputs, head(hidden(inputs)))
    hidden.set_weights([np.ones((1, 2), np.float32), np.array([-0.3, -0.31], np.float32)])
    head.set_weights([np.array([[1.0], [-1.0]], np.float32)])
    _, result = run_auto(lambda t: model(t, training=False), (1,), np.ones((1, 1), np.float32), [0], 0.01)
    assert result.steps[0] > MIN_STEPS and np.isfinite(result.error_estimates[0])
    assert relative_l1(result.attributions, [[0.01]])[0] <= 0.02


def test_a_linear_model_is_exact_at_the_first_mesh_with_any_baselines():
    rng = np.random.default_rng(2)
    weights, bias = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    model = linear(weights, bias)
    x = rng.uniform(size=(5, 4)).astype(np.float32)
    baselines = rng.uniform(size=(5, 3, 4)).astype(np.float32)  # three baseline samples each
    _, result = run_auto(lambda t: model(t, training=False), (4,), x, [2] * 5, 0.01, baselines=baselines)
    expected = weights[:, 2] * (x - baselines.mean(axis=1))
    np.testing.assert_allclose(result.attributions, expected, rtol=1e-5, atol=1e-6)
    assert np.all(result.steps == 3 * MIN_STEPS)  # steps count every baseline sample's evaluations


@pytest.fixture(scope="module")
def cnn():
    model = trained_cnn(seed=4)
    x, _ = bright_quadrant_data(12, seed=21)
    return model, x


@pytest.mark.slow
@pytest.mark.parametrize("output", ["probabilities", "logits"])
def test_estimate_is_honest_on_a_trained_cnn(cnn, output):
    model, x = cnn
    last = model.layers[-1]  # Dense(softmax): rebuilt without it for logits
    dense = keras.layers.Dense(last.units)
    head = keras.Sequential([keras.Input(model.layers[-2].output.shape[1:]), dense])
    dense.set_weights(last.get_weights())
    body = keras.Sequential([keras.Input((16, 16, 3)), *model.layers[:-1]])

    def call(t):
        out = head(body(t, training=False), training=False)
        return out if output == "logits" else tf.nn.softmax(out)

    targets = np.argmax(model.predict(x, verbose=0), axis=1)
    alphas, weights = alphas_and_weights("gausslegendre", 4096)
    reference = IntegratedGradients.build(call, (16, 16, 3), alphas, weights, batch_size=512).explain(x, np.zeros((12, 1, 16, 16, 3), np.float32), targets)
    for tolerance in (0.03, 0.01):
        _, result = run_auto(call, (16, 16, 3), x, targets, tolerance)
        error = relative_l1(result.attributions, reference.attributions)
        assert np.all(error <= 2 * tolerance), (tolerance, error, result.error_estimates)
        assert np.all(result.error_estimates <= tolerance)


def test_steps_are_the_evaluations_made_and_grouping_changes_nothing():
    x = np.random.default_rng(5).uniform(0, 0.8, size=(7, 3)).astype(np.float32)
    method = AdaptiveIntegratedGradients.build(easy_and_hard, (3,), 0.01, 1024, batch_size=16)
    counted = []
    call = method.core.call

    def counting(row_tensors, point_rows, *rest):
        counted.append(int(point_rows.shape[0]))
        return call(row_tensors, point_rows, *rest)

    method.core.call = counting
    targets = np.array([1, 0, 1, 1, 0, 1, 1])
    together = method.explain(x, np.zeros((7, 1, 3), np.float32), targets)
    assert sum(counted) == together.steps.sum() == method.evaluations
    apart = [method.explain(x[i : i + 1], np.zeros((1, 1, 3), np.float32), targets[i : i + 1]) for i in range(7)]
    np.testing.assert_array_equal(together.steps, [r.steps[0] for r in apart])
    np.testing.assert_allclose(together.attributions, np.concatenate([r.attributions for r in apart]), rtol=1e-6, atol=1e-7)


def test_large_inputs_are_refined_a_few_instances_at_a_time(monkeypatch):
    # LIVE_BYTES bounds the gradient vectors held at once: set to what 2 instances at max_steps
    # hold, the group is refined 2 instances at a time, with the same results, and what a path
    # keeps is its own copy (a view would keep the whole gradient call's array alive).
    x = np.random.default_rng(5).uniform(0, 0.8, size=(5, 3)).astype(np.float32)
    targets = np.array([1, 0, 1, 1, 1])
    baselines = np.zeros((5, 1, 3), np.float32)
    method = AdaptiveIntegratedGradients.build(easy_and_hard, (3,), 0.001, 256, batch_size=16)
    together = method.explain(x, baselines, targets)
    monkeypatch.setattr(adaptive, "LIVE_BYTES", 2 * 256 * x[0].nbytes)
    refined, views = [], []
    refine, release = method._refine, adaptive._Path.release_unused

    def counting(rows):
        refined.append(int(rows.instance.max()) + 1)
        return refine(rows)

    def checking(path):
        views.extend(v.base is not None for v in path.vectors.values())
        release(path)

    monkeypatch.setattr(method, "_refine", counting)
    monkeypatch.setattr(adaptive._Path, "release_unused", checking)
    apart = method.explain(x, baselines, targets)
    assert refined == [2, 2, 1] and views and not any(views)
    np.testing.assert_array_equal(apart.steps, together.steps)
    np.testing.assert_allclose(apart.attributions, together.attributions, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(apart.error_estimates, together.error_estimates, rtol=1e-4)


@pytest.fixture(scope="module")
def cnn_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("auto")
    model = trained_cnn(seed=4)
    model.save(root / "cnn.keras")
    (root / "layer.txt").write_text(model.layers[2].name)  # the second convolution
    x, _ = bright_quadrant_data(10, seed=22)
    save_npy(root / "x.npy", x)
    return root


def test_cli_outputs_run_json_and_resume(igcli, cnn_files):
    out = cnn_files / "out"
    run = igcli("explain", cnn_files / "cnn.keras", cnn_files / "x.npy", "--steps", "auto", "--tolerance", 0.02, "-o", out)
    assert run.exit_code == 0, run.stderr
    arrays = run.arrays()
    assert arrays["steps"].dtype == np.int64 and np.all(arrays["steps"] >= MIN_STEPS)
    assert np.all(arrays["error_estimate"] <= 0.02)
    with open(out / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["steps"]) for r in rows] == arrays["steps"].tolist()
    manifest = run.run_json()
    adaptive = manifest["adaptive"]
    assert adaptive["gradient_evaluations"] == arrays["steps"].sum() and adaptive["hit_max_steps"] == 0
    assert sum(adaptive["steps_histogram"].values()) == 10
    assert manifest["resolved"]["method"] == "riemann_trapezoid" and manifest["resolved"]["steps"] == "auto"
    resumed = igcli("explain", cnn_files / "cnn.keras", cnn_files / "x.npy", "--steps", "auto", "--tolerance", 0.02, "-o", out, "--resume")
    assert resumed.run_json()["counts"]["reused"] == 10 and resumed.run_json()["adaptive"]["gradient_evaluations"] == 0
    np.testing.assert_array_equal(resumed.arrays()["steps"], arrays["steps"])
    other = igcli("explain", cnn_files / "cnn.keras", cnn_files / "x.npy", "--steps", "auto", "--tolerance", 0.05, "-o", out, "--resume")
    assert_one_line_error(other, 2, "tolerance")
    fixed = igcli("explain", cnn_files / "cnn.keras", cnn_files / "x.npy", "--steps", 8).arrays()
    assert "steps" not in fixed and "error_estimate" in fixed  # a fixed --steps N has no steps array, but an estimate (0.3)


def test_max_steps_is_reported_and_counts_for_max_delta(igcli, cnn_files):
    args = ("explain", cnn_files / "cnn.keras", cnn_files / "x.npy", "--steps", "auto", "--tolerance", 1e-5, "--max-steps", 17)
    run = igcli(*args, "--json")
    assert run.exit_code == 0 and "stopped at --max-steps 17" in run.stderr
    summary = json.loads(run.stdout)
    assert len(summary["hit_max_steps"]) == 10 and np.all(run.arrays()["steps"] <= 17)
    gated = igcli(*args, "--max-delta", 1.0)  # every relative delta is under 1, but none converged
    assert gated.exit_code == 3 and len(gated.run_json()["over_max_delta"]) == 10


def test_auto_with_layer_baseline_samples_and_several_inputs(igcli, cnn_files, tmp_path):
    layer = igcli(
        "explain", cnn_files / "cnn.keras", cnn_files / "x.npy", "--steps", "auto", "--layer", (cnn_files / "layer.txt").read_text(), "--tolerance", 0.05
    )
    samples = igcli(
        "explain", cnn_files / "cnn.keras", cnn_files / "x.npy", "--steps", "auto", "--baseline", "uniform", "--baseline-samples", 2, "--tolerance", 0.05
    )
    for run in (layer, samples):
        assert run.exit_code == 0, run.stderr
        assert np.all(run.arrays()["error_estimate"] <= 0.05)
    from tests.test_multi_input import two_input_model

    two_input_model().save(tmp_path / "two.keras")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "x.npz", image=rng.normal(size=(3, 4, 4, 1)).astype(np.float32), extra=rng.normal(size=(3, 3)).astype(np.float32))
    several = igcli("explain", tmp_path / "two.keras", tmp_path / "x.npz", "--steps", "auto")
    assert several.exit_code == 0, several.stderr
    assert set(several.arrays()["attributions"]) == {"image", "extra"}


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--steps", "auto", "--method", "gausslegendre"], "not nested"),
        (["--steps", "auto", "--tolerance", "0"], "--tolerance"),
        (["--steps", "auto", "--max-steps", "5"], "--max-steps"),
        (["--steps", "sometimes"], "--steps"),
    ],
)
def test_bad_auto_options(igcli, cnn_files, args, fragment):
    assert_one_line_error(igcli("explain", cnn_files / "cnn.keras", cnn_files / "x.npy", *args), 2, fragment)
