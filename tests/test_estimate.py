"""The error estimate of fixed steps (igcli/methods/estimate.py): honest against closed forms and a
dense reference, free of extra gradients, the same whatever the batching; the completeness gap
that steps do not close told apart; --max-error; gradient evaluations; step counts refused."""

import json

import numpy as np
import pytest
import tensorflow as tf

from igcli.methods.ig import IntegratedGradients
from igcli.methods.quadrature import MOST_POINTS, _legendre_newton, alphas_and_weights, embedded_rule
from tests.conftest import assert_one_line_error, save_npy
from tests.models import bright_quadrant_data, linear, many_kinks, trained_cnn

UNIFORM = ("riemann_middle", "riemann_trapezoid", "riemann_left", "riemann_right")


def relative_l1(got, exact):
    count = len(exact)
    return np.abs(np.asarray(got, np.float64) - exact).reshape(count, -1).sum(1) / np.abs(exact).reshape(count, -1).sum(1)


def explain(model, x, targets, rule, steps, batch_size=256):
    alphas, weights = alphas_and_weights(rule, steps)
    method = IntegratedGradients.build(lambda t: model(t, training=False), x.shape[1:], alphas, weights, batch_size, embedded=embedded_rule(rule, steps))
    return method.explain(x, np.zeros((len(x), 1, *x.shape[1:]), np.float32), targets)


@pytest.mark.parametrize("rule", UNIFORM)
def test_an_exact_rule_estimates_zero(rule):
    rng = np.random.default_rng(0)
    model = linear(rng.normal(size=(6, 2)).astype(np.float32), np.zeros(2, np.float32))
    x = rng.uniform(0.5, 1.5, size=(5, 6)).astype(np.float32)
    got = explain(model, x, np.zeros(5, np.int64), rule, 12)
    assert np.all(got.error_estimates < 1e-6)  # every rule integrates a constant gradient exactly
    assert np.all(got.sum_errors < 1e-6)


@pytest.mark.parametrize("rule", UNIFORM)
@pytest.mark.parametrize("steps", [32, 50, 128])
def test_the_estimate_is_honest_where_the_gradient_jumps(rule, steps):
    """500 ReLU units switching along every path: the exact IG in closed form."""
    x = np.random.default_rng(3).uniform(0.5, 1.5, size=(40, 16)).astype(np.float32)
    model, exact = many_kinks(x, 500, seed=1)
    got = explain(model, x, np.zeros(len(x), np.int64), rule, steps)
    true = relative_l1(got.attributions, exact)
    assert np.mean(true <= 2 * got.error_estimates) >= 0.95  # honest: the bar of the issue
    assert np.median(got.error_estimates / true) <= 3  # useful
    assert not got.incomplete.any()  # a quadrature error, however large, is not called a gap


def test_few_steps_on_a_jumpy_path_are_a_quadrature_error_not_a_gap():
    x = np.random.default_rng(11).uniform(0.5, 1.5, size=(60, 16)).astype(np.float32)
    model, exact = many_kinks(x, 40, seed=4)  # few kinks: large, lumpy errors at few steps
    for rule in UNIFORM:
        for steps in (6, 10, 20, 40):
            got = explain(model, x, np.zeros(len(x), np.int64), rule, steps)
            assert not got.incomplete.any(), (rule, steps, int(got.incomplete.sum()))


@pytest.mark.slow
def test_the_estimate_is_honest_on_a_trained_cnn_against_a_dense_reference():
    model = trained_cnn(seed=4)
    x, _ = bright_quadrant_data(12, seed=21)
    targets = np.argmax(model.predict(x, verbose=0), axis=1)
    reference = explain(model, x, targets, "gausslegendre", 2048).attributions.astype(np.float64)
    for rule in ("riemann_middle", "riemann_trapezoid"):
        got = explain(model, x, targets, rule, 50)
        true = relative_l1(got.attributions, reference)
        assert np.mean(true <= 2 * got.error_estimates) >= 0.95, rule
        assert np.median(got.error_estimates / true) <= 3, rule
        assert not np.any(got.error_estimates > 0.5), rule


def test_the_estimate_does_not_depend_on_batching():
    x = np.random.default_rng(5).uniform(0.5, 1.5, size=(9, 16)).astype(np.float32)
    model, _ = many_kinks(x, 200, seed=2)
    whole = explain(model, x, np.zeros(9, np.int64), "riemann_middle", 50, batch_size=512)
    cut = explain(model, x, np.zeros(9, np.int64), "riemann_middle", 50, batch_size=7)  # calls split inside rows
    np.testing.assert_allclose(cut.error_estimates, whole.error_estimates, rtol=1e-5)
    parts = [explain(model, x[i : i + 2], np.zeros(len(x[i : i + 2]), np.int64), "riemann_middle", 50) for i in range(0, 9, 2)]
    np.testing.assert_allclose(np.concatenate([p.error_estimates for p in parts]), whole.error_estimates, rtol=1e-5)


def test_gauss_legendre_nodes_beyond_numpys_are_the_same_and_computed_once():
    nodes, weights = np.polynomial.legendre.leggauss(1200)
    ours, theirs = _legendre_newton(1200)
    assert np.abs(ours - nodes).max() < 1e-14 and np.abs(theirs / weights - 1).max() < 1e-7  # numpy's end weights carry 1e-8 of their own error
    assert abs(theirs.sum() - 2) < 1e-13
    assert alphas_and_weights("gausslegendre", 64) is alphas_and_weights("gausslegendre", 64)


# ---------------------------------------------------------------------------------------------
# Through the CLI


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("estimate")
    x = np.random.default_rng(7).uniform(0.5, 1.5, size=(6, 16)).astype(np.float32)
    model, _ = many_kinks(x, 300, seed=3)
    model.save(root / "kinks.keras")
    save_npy(root / "x.npy", x)

    class Blocked(tf.Module):  # F(x) = sum x + stop_gradient(sum x^2): half its change has no gradient
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def serve(self, x):
            return {"y": tf.reduce_sum(x, axis=1, keepdims=True) + tf.stop_gradient(tf.reduce_sum(x * x, axis=1, keepdims=True))}

    module = Blocked()
    tf.saved_model.save(module, str(root / "blocked"), signatures={"serving_default": module.serve})
    save_npy(root / "x4.npy", np.random.default_rng(8).uniform(0.5, 1.0, size=(3, 4)))
    return root


def test_every_fixed_step_run_reports_its_estimate_and_evaluations(igcli, files):
    run = igcli(
        "explain", files / "kinks.keras", files / "x.npy", "--method", "riemann_middle", "--steps", 30, "--baseline", "uniform", "--baseline-samples", 2
    )
    assert run.exit_code == 0, run.stderr
    record = run.run_json()
    assert record["gradient_evaluations"] == 6 * 30 * 2  # instances x steps x baseline samples
    estimates = run.arrays()["error_estimate"]
    assert estimates.shape == (6,) and np.all(np.isfinite(estimates)) and np.all(estimates > 0)
    assert record["error_estimate"]["estimated"] is True and record["error_estimate"]["max"] == pytest.approx(estimates.max())
    with open(run.out / "summary.csv") as handle:
        header = handle.readline().strip().split(",")
    assert "error_estimate" in header and "incomplete" in header and "steps" not in header


def test_a_rule_without_an_estimate_says_why(igcli, files):
    run = igcli("explain", files / "kinks.keras", files / "x.npy", "--method", "gausslegendre", "--steps", 30)
    assert run.exit_code == 0, run.stderr
    section = run.run_json()["error_estimate"]
    assert section == {
        "estimated": False,
        "reason": "Gauss-Legendre's points hold no coarser rule; --method riemann_middle or riemann_trapezoid, or --steps auto, estimate their error",
    }
    assert "error_estimate" not in run.arrays()
    refused = igcli("explain", files / "kinks.keras", files / "x.npy", "--method", "gausslegendre", "--steps", 30, "--max-error", 0.1)
    assert_one_line_error(refused, 2, "--max-error 0.1: this run has no error estimate (Gauss-Legendre's points hold no coarser rule;")


def test_max_error_gates_with_several_targets_and_resume(igcli, files, tmp_path):
    out = tmp_path / "out"
    args = ("explain", files / "kinks.keras", files / "x.npy", "--method", "riemann_middle", "--steps", 6, "-o", out, "--max-error", 0.001)
    first = igcli(*args, "--target", "0")
    assert first.exit_code == 3, first.stderr
    over = first.run_json()["error_estimate"]["over_max_error"]
    assert over and f"igcli: error estimate above --max-error 0.001 for {len(over)} instance(s): " in first.stderr
    again = igcli(*args, "--target", "0", "--resume")  # nothing new: the last run's gate, without the model
    assert again.exit_code == 3 and "up to date" in again.stderr
    loose = igcli("explain", files / "kinks.keras", files / "x.npy", "--method", "riemann_middle", "--steps", 6, "--max-error", 10, "--target", "all")
    assert loose.exit_code == 0, loose.stderr


def test_a_gap_that_steps_do_not_close_is_told_apart(igcli, files):
    run = igcli("explain", files / "blocked", files / "x4.npy", "--method", "riemann_middle", "--steps", 50)
    assert run.exit_code == 0, run.stderr
    arrays = run.arrays()
    assert list(arrays["incomplete"]) == [1, 1, 1]
    assert np.all(arrays["error_estimate"] < 1e-6)  # the gradient's own integral is exact: no quadrature error
    assert "igcli: 3 instance(s) whose attributions miss F(x) - F(x') by more than the quadrature explains: 0, 1, 2 (more steps will not close it" in run.stderr
    assert run.run_json()["error_estimate"]["incomplete"] == {"count": 3, "ids": ["0", "1", "2"]}
    healthy = igcli("explain", files / "kinks.keras", files / "x.npy", "--method", "riemann_middle", "--steps", 12)
    assert list(healthy.arrays()["incomplete"]) == [0] * 6


def test_step_counts_beyond_what_a_run_holds_are_refused(igcli, files):
    for args, fragment in (
        (("--steps", 20_000, "--method", "gausslegendre"), "--steps 20000: Gauss-Legendre takes at most 16,384 points"),
        (("--steps", MOST_POINTS + 1, "--method", "riemann_middle"), f"at most {MOST_POINTS:,} path points per instance"),
        (("--steps", 70_000, "--method", "riemann_middle", "--smooth", 4), "(steps x baseline samples x noisy copies: 280,000)"),
    ):
        assert_one_line_error(igcli("explain", files / "kinks.keras", files / "x.npy", *args), 2, fragment)


def test_estimate_in_run_json_counts_what_is_above_the_warning(igcli, files):
    run = igcli("explain", files / "kinks.keras", files / "x.npy", "--method", "riemann_trapezoid", "--steps", 3)
    assert run.exit_code == 0, run.stderr
    section = run.run_json()["error_estimate"]
    assert section["above"]["count"] == len(section["above"]["ids"]) > 0
    assert (
        f"igcli: {section['above']['count']} instance(s) with an estimated error above 0.05 (relative L1 of their attributions), the worst first: "
        in run.stderr
    )
    estimates = dict(zip((i.decode() for i in run.arrays()["ids"]), run.arrays()["error_estimate"]))
    ranked = [estimates[name] for name in section["above"]["ids"]]
    assert ranked == sorted(ranked, reverse=True)
    assert json.loads(json.dumps(section))["median"] <= section["max"]
