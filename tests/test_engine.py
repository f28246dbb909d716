"""The engine on a small trained CNN: completeness, batch-size invariance, averaged baselines."""

import numpy as np
import pytest

from igcli.methods.ig import IntegratedGradients
from igcli.methods.quadrature import alphas_and_weights
from tests.conftest import save_npy
from tests.models import bright_quadrant_data, trained_cnn


@pytest.fixture(scope="module")
def cnn_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cnn") / "cnn.keras"
    trained_cnn().save(path)
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    x, _ = bright_quadrant_data(12, seed=7)
    return save_npy(tmp_path_factory.mktemp("images") / "x.npy", x)


def test_completeness_within_1e_3_with_gauss_legendre_50_steps(igcli, cnn_file, images):
    run = igcli("explain", cnn_file, images, "--steps", 50, "--output", "logits", "--method", "gausslegendre")
    assert run.exit_code == 0, run.stderr
    arrays = run.arrays()
    gap = np.abs(arrays["scores"] - arrays["baseline_scores"])
    assert np.all(gap > 0.1)  # a meaningful test: the logit really changes along the path
    # the reported delta is sum(A) - (F(x) - F(x')), summed in float64 as igcli does (a float32
    # sum of 768 values carries ~1e-6 of rounding, which depends on the summation order)
    total = arrays["attributions"].reshape(12, -1).sum(axis=1, dtype=np.float64)
    np.testing.assert_allclose(arrays["deltas"], total - (arrays["scores"] - arrays["baseline_scores"]), atol=1e-9)
    assert np.all(np.abs(arrays["deltas"]) <= 1e-3 * gap), arrays["relative_deltas"]
    assert run.run_json()["max_relative_delta"] <= 1e-3


def test_probabilities_are_attributed_as_saved_with_a_larger_quadrature_error(igcli, cnn_file, images):
    run = igcli("explain", cnn_file, images, "--steps", 50, "--method", "gausslegendre")
    arrays = run.arrays()
    assert np.all((arrays["scores"] > 0) & (arrays["scores"] <= 1))  # softmax outputs, as saved
    # The saturating softmax packs the change into a short stretch of the path, which the same 50
    # points resolve less well than the logit (measured: up to 1.6e-3 here, against < 1e-3).
    assert np.all(np.abs(arrays["deltas"]) <= 1e-2 * np.abs(arrays["scores"] - arrays["baseline_scores"]))


def test_batch_size_does_not_change_attributions(igcli, cnn_file, images):
    # 1: every point its own call; 7: paths cut mid-way across calls; 600: every path at once
    runs = [igcli("explain", cnn_file, images, "--steps", 50, "--batch-size", size).arrays() for size in (1, 7, 600)]
    for other in runs[1:]:
        np.testing.assert_allclose(other["attributions"], runs[0]["attributions"], rtol=0, atol=1e-6)
        np.testing.assert_array_equal(other["targets"], runs[0]["targets"])


def test_same_command_gives_same_bytes(igcli, cnn_file, images):
    first = igcli("explain", cnn_file, images, "--steps", 8, "--baseline", "uniform", "--baseline-samples", 3)
    second = igcli("explain", cnn_file, images, "--steps", 8, "--baseline", "uniform", "--baseline-samples", 3)
    assert first.arrays()["attributions"].tobytes() == second.arrays()["attributions"].tobytes()


def test_baseline_samples_average_single_baseline_runs():
    # IG is linear in the integral per baseline: the K-sample result is the mean of K runs.
    x = np.array([[1.0, -2.0]], np.float32)
    call = lambda t: t[:, :1] ** 2 * t[:, 1:] + t  # noqa: E731 - a smooth non-linear F with 2 outputs
    alphas, weights = alphas_and_weights("gausslegendre", 20)
    engine = IntegratedGradients.build(call, (2,), alphas, weights, batch_size=16)
    baselines = np.array([[[0.0, 0.0], [0.5, 1.0], [-1.0, 0.25]]], np.float32)
    together = engine.explain(x, baselines, np.array([1]))
    apart = [engine.explain(x, baselines[:, k : k + 1], np.array([1])) for k in range(3)]
    np.testing.assert_allclose(together.attributions, np.mean([r.attributions for r in apart], axis=0), atol=1e-6)
    np.testing.assert_allclose(together.baseline_scores, np.mean([r.baseline_scores for r in apart]), atol=1e-6)
    # F_1(x) = x1^2 x2 + x2 is a polynomial of degree 3 along the path: 20 Gauss points are exact
    np.testing.assert_allclose(together.deltas, 0, atol=1e-5)


def test_mixed_precision_and_xla_stay_close_to_float32(igcli, cnn_file, images):
    reference = igcli("explain", cnn_file, images, "--steps", 16, "--output", "logits").arrays()
    half = igcli("explain", cnn_file, images, "--steps", 16, "--output", "logits", "--precision", "mixed_bfloat16")
    assert half.exit_code == 0 and "underflow" in half.stderr
    assert half.run_json()["model"]["kind"] == "keras"
    # bfloat16 keeps 8 bits of mantissa: scores agree to about 1e-2 of their size, not better
    np.testing.assert_allclose(half.arrays()["scores"], reference["scores"], rtol=5e-2, atol=5e-2)
    xla = igcli("explain", cnn_file, images, "--steps", 16, "--output", "logits", "--xla").arrays()
    np.testing.assert_allclose(xla["attributions"], reference["attributions"], atol=1e-5)


def _cubic_sum(x):
    """F_0 = sum x^3, F_1 = sum x: along x' + a (x - x') a polynomial of degree 3, so 20
    Gauss-Legendre points integrate it exactly and IG has a closed form."""
    import tensorflow as tf

    flat = tf.reshape(x, (-1, 6))
    return tf.stack([tf.reduce_sum(flat**3, axis=1), tf.reduce_sum(flat, axis=1)], axis=1)


@pytest.mark.parametrize("branches", [1, 2, 3])
@pytest.mark.parametrize("batch_size", [1, 7, 600])
def test_parallel_branches_give_the_closed_form(branches, batch_size):
    # From a zero baseline, IG of sum x^3 is x_i * integral 3 (a x_i)^2 da = x_i^3, and IG of
    # sum x is x_i, whatever the split of the path points into calls (batch_size) and into
    # branches within a call; with batch_size 1 a call has fewer points than branches and runs in
    # fewer of them (tests/test_branches.py checks that no branch is ever empty).
    # Mixed targets check that every point keeps its own row's target through the split.
    rng = np.random.default_rng(3)
    x = rng.uniform(-2, 2, (5, 2, 3)).astype(np.float32)
    targets = np.array([0, 1, 0, 1, 1])
    alphas, weights = alphas_and_weights("gausslegendre", 20)
    engine = IntegratedGradients.build(_cubic_sum, (2, 3), alphas, weights, batch_size=batch_size, branches=branches)
    result = engine.explain(x, np.zeros((5, 1, 2, 3), np.float32), targets)
    x64 = x.astype(np.float64)
    expected = np.where(targets[:, None, None] == 0, x64**3, x64)
    np.testing.assert_allclose(result.attributions, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(result.scores, expected.reshape(5, -1).sum(axis=1), rtol=1e-5)


def test_baseline_scores_follow_each_rows_baseline():
    # F_1 = sum x: the baseline score is the sum of that row's baseline, whether the group shares
    # one baseline (computed once and reused) or each row has its own.
    alphas, weights = alphas_and_weights("gausslegendre", 4)
    engine = IntegratedGradients.build(_cubic_sum, (2, 3), alphas, weights, batch_size=64)
    x = np.ones((3, 2, 3), np.float32)
    targets = np.ones(3, np.int64)
    for value in (0.0, 0.5, 0.0):  # shared baselines, changing between groups
        shared = np.full((3, 1, 2, 3), value, np.float32)
        np.testing.assert_allclose(engine.explain(x, shared, targets).baseline_scores, 6 * value)
    own = np.arange(3, dtype=np.float32)[:, None, None, None] * np.ones((3, 1, 2, 3), np.float32)
    result = engine.explain(x, own, targets)
    np.testing.assert_allclose(result.baseline_scores, [0.0, 6.0, 12.0])
    np.testing.assert_allclose(result.deltas, 0, atol=1e-5)


def test_out_of_memory_halves_the_batch_and_redoes_the_chunk():
    # A device that cannot hold more than 20 path points per call (simulated: the compiled call
    # raises TensorFlow's out-of-memory error above that). The engine halves its batch until a
    # call fits, redoes the chunk that failed, and loses nothing: the closed form still holds.
    import tensorflow as tf

    rng = np.random.default_rng(5)
    x = rng.uniform(-2, 2, (5, 2, 3)).astype(np.float32)
    alphas, weights = alphas_and_weights("gausslegendre", 20)
    engine = IntegratedGradients.build(_cubic_sum, (2, 3), alphas, weights, batch_size=80, branches=2)
    compiled, calls = engine.core.call, []

    def small_device(row_tensors, point_rows, alphas, weights, targets, mode="sums"):
        calls.append(int(point_rows.shape[0]))
        if calls[-1] > 20:
            raise tf.errors.ResourceExhaustedError(None, None, "out of memory (simulated)")
        return compiled(row_tensors, point_rows, alphas, weights, targets, mode)

    engine.core.call = small_device
    result = engine.explain(x, np.zeros((5, 1, 2, 3), np.float32), np.zeros(5, np.int64))
    assert calls == [80, 40, 20, 20, 20, 20, 20]  # 4 rows fail, 2 rows fail, then 1 row per call
    assert engine.core.batch_size == 20
    np.testing.assert_allclose(result.attributions, x.astype(np.float64) ** 3, rtol=1e-5, atol=1e-5)
