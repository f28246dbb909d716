import numpy as np
import pytest

from igcli.methods.quadrature import METHODS, alphas_and_weights


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("steps", [2, 3, 10, 50])
def test_weights_sum_to_one_and_points_lie_in_unit_interval(method, steps):
    alphas, weights = alphas_and_weights(method, steps)
    assert len(alphas) == len(weights) == steps
    assert weights.sum() == pytest.approx(1.0, abs=1e-14)
    assert np.all((alphas >= 0) & (alphas <= 1))


def test_rules_match_their_definitions_at_n_4():
    expected = {
        "riemann_left": ([0, 0.25, 0.5, 0.75], [0.25] * 4),
        "riemann_right": ([0.25, 0.5, 0.75, 1], [0.25] * 4),
        "riemann_middle": ([0.125, 0.375, 0.625, 0.875], [0.25] * 4),
        # n points spaced 1/(n-1) = 1/3, interior weight 1/3, ends 1/6: sum 1 (not the biased 1/n)
        "riemann_trapezoid": ([0, 1 / 3, 2 / 3, 1], [1 / 6, 1 / 3, 1 / 3, 1 / 6]),
    }
    for method, (alphas, weights) in expected.items():
        got_alphas, got_weights = alphas_and_weights(method, 4)
        np.testing.assert_allclose(got_alphas, alphas, atol=1e-15)
        np.testing.assert_allclose(got_weights, weights, atol=1e-15)


@pytest.mark.parametrize("method", ["riemann_middle", "riemann_trapezoid", "gausslegendre"])
def test_exact_on_linear_integrands(method):
    # integral_0^1 (3a + 2) da = 3.5
    alphas, weights = alphas_and_weights(method, 7)
    assert np.sum(weights * (3 * alphas + 2)) == pytest.approx(3.5, abs=1e-14)


def test_gauss_legendre_is_exact_up_to_degree_2n_minus_1():
    alphas, weights = alphas_and_weights("gausslegendre", 5)
    for degree in range(10):
        assert np.sum(weights * alphas**degree) == pytest.approx(1 / (degree + 1), abs=1e-14)


def test_left_and_right_sums_of_identity_have_their_closed_form():
    n = 8
    left = alphas_and_weights("riemann_left", n)
    right = alphas_and_weights("riemann_right", n)
    assert np.sum(left[0] * left[1]) == pytest.approx((n - 1) / (2 * n))
    assert np.sum(right[0] * right[1]) == pytest.approx((n + 1) / (2 * n))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        alphas_and_weights("simpson", 4)
    with pytest.raises(ValueError):
        alphas_and_weights("riemann_trapezoid", 1)
    with pytest.raises(ValueError):
        alphas_and_weights("gausslegendre", 0)
