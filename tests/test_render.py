import matplotlib
import numpy as np
import pytest
from PIL import Image

from igcli import render


def test_channels_are_summed_then_signed_and_scaled():
    a = np.zeros((2, 2, 3))
    a[0, 0] = [1, 1, 1]  # +3
    a[0, 1] = [-2, 0, 0]  # -2
    a[1, 0] = [1, -1, 0.5]  # +0.5
    positive = render.attribution_map(a, "positive", 100)
    np.testing.assert_allclose(positive, [[1, 0], [0.5 / 3, 0]], atol=1e-7)
    negative = render.attribution_map(a, "negative", 100)
    np.testing.assert_allclose(negative, [[0, 1], [0, 0]], atol=1e-7)
    absolute = render.attribution_map(a, "absolute", 100)
    np.testing.assert_allclose(absolute, [[1, 2 / 3], [0.5 / 3, 0]], atol=1e-7)
    signed = render.attribution_map(a, "all", 100)
    np.testing.assert_allclose(signed, [[1, -2 / 3], [0.5 / 3, 0]], atol=1e-7)


def test_percentile_clipping():
    values = np.arange(1, 101, dtype=np.float64).reshape(10, 10)
    values[9, 9] = 1e6
    scale = np.percentile(values, 99)
    mapped = render.attribution_map(values, "absolute", 99)
    assert mapped[9, 9] == 1.0
    np.testing.assert_allclose(mapped[0, :5], np.arange(1, 6) / scale, rtol=1e-6)


def test_zero_map_is_zero_not_nan():
    assert not render.attribution_map(np.zeros((3, 3)), "absolute", 99.5).any()


def test_all_puts_zero_at_the_diverging_centre():
    colour = render.colorize(np.zeros((1, 1)), "all", "coolwarm")[0, 0]
    expected = np.round(np.array(matplotlib.colormaps["coolwarm"](0.5)[:3]) * 255)
    np.testing.assert_array_equal(colour, expected)


def test_overlay_blends_by_strength():
    image = np.full((1, 2, 3), 100, np.uint8)
    heat = np.full((1, 2, 3), 200, np.uint8)
    norm = np.array([[0.0, 1.0]])
    np.testing.assert_array_equal(render.overlay(image, heat, norm, 0.0), image)
    np.testing.assert_array_equal(render.overlay(image, heat, norm, 1.0), [[[100] * 3, [200] * 3]])
    # opacity alpha * sqrt(0.25) = 0.5 * 0.5 -> 100 + 0.25 * 100
    np.testing.assert_array_equal(render.overlay(image, heat, np.array([[0.25, 0.25]]), 0.5), [[[125] * 3] * 2])


def test_display_range_and_grayscale():
    shown = render.image_for_display(np.array([[[-1.0], [1.0]]]), (-1, 1))
    np.testing.assert_array_equal(shown, [[[0, 0, 0], [255, 255, 255]]])


def test_upscale_and_panel_geometry(tmp_path):
    assert render.upscale_factor(64, 64) == 4 and render.upscale_factor(300, 500) == 1
    rng = np.random.default_rng(0)
    x, a = rng.uniform(size=(64, 64, 3)), rng.normal(size=(64, 64, 3))
    panel = render.render_heatmap(x, a, panel=True)
    assert panel.size == (3 * 256 + 2 * render.PANEL_GAP, 256)
    render.save_png(panel, tmp_path / "a" / "p.png")
    first = (tmp_path / "a" / "p.png").read_bytes()
    render.save_png(render.render_heatmap(x, a, panel=True), tmp_path / "a" / "p.png")
    assert (tmp_path / "a" / "p.png").read_bytes() == first
    assert not list((tmp_path / "a").glob(".*partial"))


def test_contact_sheet_grid():
    tiles = [(Image.new("RGB", (64, 64), "red"), f"id{i}\ncat 0.9") for i in range(8)]
    sheet = render.contact_sheet(tiles, columns=6, tile_size=160)
    assert sheet.size[0] == 6 * (160 + 12) and sheet.size[1] == 2 * (160 + 32 + 12)
    with pytest.raises(ValueError):
        render.contact_sheet([])


@pytest.mark.parametrize("call", [
    lambda: render.attribution_map(np.zeros((2, 2)), "both", 99),
    lambda: render.attribution_map(np.zeros((2, 2)), "all", 0),
    lambda: render.colorize(np.zeros((2, 2)), "all", "rainbowish"),
    lambda: render.overlay(np.zeros((1, 1, 3)), np.zeros((1, 1, 3)), np.zeros((1, 1)), 1.5),
])
def test_bad_values_raise(call):
    with pytest.raises(ValueError):
        call()
