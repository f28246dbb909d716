"""Attributions through the real CLI against values computed independently in the test."""

import numpy as np
import pytest

from igcli.methods.quadrature import METHODS
from tests.conftest import save_npy
from tests.models import linear, paper_example, power_sum

X = np.array([[1.0, 2.0, -3.0], [0.5, -1.5, 2.5]], np.float32)


def quadrature_by_hand(method, n):
    """The rules of the README written out again, independently of igcli.methods.quadrature."""
    k = np.arange(n)
    if method == "riemann_left":
        return k / n, np.full(n, 1 / n)
    if method == "riemann_right":
        return (k + 1) / n, np.full(n, 1 / n)
    if method == "riemann_middle":
        return (k + 0.5) / n, np.full(n, 1 / n)
    if method == "riemann_trapezoid":
        w = np.full(n, 1 / (n - 1))
        w[0] = w[-1] = 1 / (2 * (n - 1))
        return k / (n - 1), w
    t, w = np.polynomial.legendre.leggauss(n)
    return (t + 1) / 2, w / 2


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("power", [2, 3])
def test_power_sum_matches_closed_form(igcli, tmp_path, method, power):
    # F = sum x^p, zero baseline: A_i = x_i * sum_k w_k p (alpha_k x_i)^(p-1) = p x_i^p sum_k w_k alpha_k^(p-1)
    power_sum(3, power).save(tmp_path / "m.keras")
    run = igcli("explain", tmp_path / "m.keras", save_npy(tmp_path / "x.npy", X), "--steps", 4, "--method", method)
    assert run.exit_code == 0, run.stderr
    alphas, weights = quadrature_by_hand(method, 4)
    expected = power * X**power * np.sum(weights * alphas ** (power - 1))
    arrays = run.arrays()
    np.testing.assert_allclose(arrays["attributions"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arrays["scores"], np.sum(X**power, axis=1), rtol=1e-6)
    np.testing.assert_allclose(arrays["baseline_scores"], 0, atol=1e-7)


@pytest.mark.parametrize("method", METHODS)
def test_linear_model_gets_weight_times_difference_for_every_rule(igcli, tmp_path, method):
    rng = np.random.default_rng(1)
    weights, bias = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)
    linear(weights, bias).save(tmp_path / "lin.keras")
    baseline = np.array([0.5, -0.25, 1.0], np.float32)
    run = igcli(
        "explain",
        tmp_path / "lin.keras",
        save_npy(tmp_path / "x.npy", X),
        "--steps",
        4,
        "--method",
        method,
        "--target",
        2,
        "--baseline",
        save_npy(tmp_path / "b.npy", baseline),
    )
    assert run.exit_code == 0, run.stderr
    arrays = run.arrays()
    np.testing.assert_allclose(arrays["attributions"], weights[:, 2] * (X - baseline), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arrays["deltas"], 0, atol=1e-5)
    assert list(arrays["targets"]) == [2, 2]


def test_paper_example_relu_network(igcli, tmp_path):
    # On the path alpha*(3, 1): f = max(0, 2 alpha - 1), so dF/dx1 = 1 and dF/dx2 = -1 for
    # alpha > 1/2: A = (3 * 1/2, 1 * -1/2) = (1.5, -0.5), summing to f(3, 1) = 1.
    paper_example().save(tmp_path / "paper.keras")
    run = igcli("explain", tmp_path / "paper.keras", save_npy(tmp_path / "x.npy", [[3.0, 1.0]]), "--steps", 50)
    assert run.exit_code == 0, run.stderr
    attributions = run.arrays()["attributions"][0]
    np.testing.assert_allclose(attributions, [1.5, -0.5], atol=0.05)
    # riemann_middle with an even n puts half its points on each side of the kink: exact.
    run = igcli("explain", tmp_path / "paper.keras", tmp_path / "x.npy", "--steps", 50, "--method", "riemann_middle")
    np.testing.assert_allclose(run.arrays()["attributions"][0], [1.5, -0.5], atol=1e-5)
