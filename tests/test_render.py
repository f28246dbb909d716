import matplotlib
import numpy as np
import pytest
from PIL import Image

from igcli import render


def _hand_made():
    a = np.zeros((2, 2, 3))
    a[0, 0] = [1, 1, 1]  # sum +3
    a[0, 1] = [-2, 0, 0]  # sum -2
    a[1, 0] = [1, -1, 0.5]  # sum +0.5: opposite channels cancel before the sign is taken
    return a  # a[1, 1] sums to 0


@pytest.mark.parametrize(
    "sign, expected",
    [
        ("positive", [[1, 0], [0.5 / 3, 0]]),  # scale = max(3, 0, 0.5, 0) = 3
        ("negative", [[0, 1], [0, 0]]),  # only -2 survives, scale 2
        ("absolute", [[1, 2 / 3], [0.5 / 3, 0]]),  # |3|, |-2|, |0.5| over 3
        ("all", [[1, -2 / 3], [0.5 / 3, 0]]),  # signed, over max |.| = 3
    ],
)
def test_channels_are_summed_then_signed_and_scaled(sign, expected):
    mapped = render.attribution_map(_hand_made(), sign, 100)
    assert mapped.dtype == np.float32 and mapped.shape == (2, 2)
    np.testing.assert_allclose(mapped, expected, atol=1e-7)


def test_two_dimensional_attributions_need_no_channel_axis():
    np.testing.assert_allclose(render.attribution_map(np.array([[2.0, -4.0]]), "all", 100), [[0.5, -1.0]])


def test_percentile_clipping():
    values = np.arange(1, 101, dtype=np.float64).reshape(10, 10)
    values[9, 9] = 1e6
    scale = np.percentile(values, 99)
    mapped = render.attribution_map(values, "absolute", 99)
    assert mapped[9, 9] == 1.0
    np.testing.assert_allclose(mapped.ravel()[:99], np.arange(1, 100) / scale, rtol=1e-6)
    assert mapped.max() == 1.0


def test_all_clips_both_ends():
    values = np.array([[-100.0, -1.0, 0.0, 1.0, 100.0]])
    scale = np.percentile(np.abs(values), 50)  # = 1
    mapped = render.attribution_map(values, "all", 50)
    np.testing.assert_allclose(mapped, [[-1, -1 / scale, 0, 1 / scale, 1]])


def test_zero_map_is_zero_not_nan():
    for sign in render.SIGNS:
        mapped = render.attribution_map(np.zeros((3, 3, 3)), sign, 99.5)
        assert mapped.dtype == np.float32 and not mapped.any()
    # all negative evidence, sign positive: nothing to show, still no NaN
    assert not render.attribution_map(-np.ones((3, 3)), "positive", 99.5).any()


def test_a_nan_pixel_does_not_blank_the_map():
    values = np.array([[np.nan, 1.0, 2.0]])
    np.testing.assert_allclose(render.attribution_map(values, "absolute", 100), [[0, 0.5, 1]])


def test_default_cmaps():
    assert render.DEFAULT_SIGN == "absolute" and render.DEFAULT_SIGN in render.SIGNS
    assert [render.default_cmap(s) for s in render.SIGNS] == ["inferno", "inferno", "inferno", "coolwarm"]


def _rgb(cmap, value):
    return np.round(np.array(matplotlib.colormaps[cmap](value)[:3]) * 255).astype(np.uint8)


def test_all_puts_zero_at_the_diverging_centre_and_ends_at_the_ends():
    colours = render.colorize(np.array([[-1.0, 0.0, 1.0]]), "all", "coolwarm")
    assert colours.dtype == np.uint8 and colours.shape == (1, 3, 3)
    np.testing.assert_array_equal(colours[0, 1], _rgb("coolwarm", 0.5))
    np.testing.assert_array_equal(colours[0, 0], _rgb("coolwarm", 0.0))
    np.testing.assert_array_equal(colours[0, 2], _rgb("coolwarm", 1.0))


def test_sequential_maps_use_the_value_directly():
    colours = render.colorize(np.array([[0.0, 0.25, 1.0]]), "absolute", "inferno")
    for column, value in enumerate([0.0, 0.25, 1.0]):
        np.testing.assert_array_equal(colours[0, column], _rgb("inferno", value))


def test_overlay_blends_by_strength():
    image = np.full((1, 2, 3), 100, np.uint8)
    heat = np.full((1, 2, 3), 200, np.uint8)
    norm = np.array([[0.0, 1.0]])
    np.testing.assert_array_equal(render.overlay(image, heat, norm, 0.0), image)
    np.testing.assert_array_equal(render.overlay(image, heat, norm, 1.0), [[[100] * 3, [200] * 3]])
    # opacity = alpha * sqrt|norm| = 0.5 * sqrt(0.25) = 0.25 -> 100 + 0.25 * (200 - 100)
    np.testing.assert_array_equal(render.overlay(image, heat, np.array([[0.25, -0.25]]), 0.5), [[[125] * 3] * 2])


def test_overlay_alpha_one_full_norm_is_the_heat_colours():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    heat = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    out = render.overlay(image, heat, np.ones((4, 5)), 1.0)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, heat)
    np.testing.assert_array_equal(render.overlay(image, heat, np.ones((4, 5)), 0.0), image)


def test_display_range_and_grayscale():
    shown = render.image_for_display(np.array([[[-1.0], [0.0], [1.0], [5.0]]]), (-1, 1))
    assert shown.dtype == np.uint8 and shown.shape == (1, 4, 3)
    np.testing.assert_array_equal(shown, [[[0] * 3, [128] * 3, [255] * 3, [255] * 3]])  # 5 clips
    rgb = render.image_for_display(np.array([[[0.0, 127.5, 255.0]]]), (0, 255))
    np.testing.assert_array_equal(rgb, [[[0, 128, 255]]])
    np.testing.assert_array_equal(render.image_for_display(np.array([[0.5]]), (0, 1)), [[[128] * 3]])


def test_upscale_factor():
    assert render.upscale_factor(64, 64) == 4
    assert render.upscale_factor(300, 500) == 1
    assert render.upscale_factor(100, 28) == 10  # the smaller side decides: 28 * 10 >= 256
    assert render.upscale_factor(32, 32, min_side=64) == 2


def _synthetic(size=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.3, (size, size, 3))
    mask = np.zeros((size, size))
    mask[20:40, 24:44] = 1
    x[mask > 0] = 0.9
    attributions = mask[..., None] * 0.4 + rng.normal(0, 0.02, (size, size, 3))
    return x, attributions, mask


def test_render_heatmap_geometry_and_pixels():
    x, a, mask = _synthetic()
    single = render.render_heatmap(x, a)
    assert single.size == (256, 256) and single.mode == "RGB"
    panel = render.render_heatmap(x, a, panel=True)
    assert panel.size == (3 * 256 + 2 * render.PANEL_GAP, 256)
    pixels = np.asarray(panel)
    # left tile is the input, upscaled 4x by nearest neighbour
    np.testing.assert_array_equal(pixels[::4, 0:256:4], render.image_for_display(x, (0, 1)))
    # the gaps are white; the right tile is the single overlay
    assert (pixels[:, 256 : 256 + render.PANEL_GAP] == 255).all()
    np.testing.assert_array_equal(pixels[:, -256:], np.asarray(single))
    # inside the square the heat colour is bright (inferno's top end), outside it is dark
    heat = pixels[:, 256 + render.PANEL_GAP : 512 + render.PANEL_GAP].astype(int).sum(-1)
    assert heat[30 * 4, 34 * 4] > 500 and heat[4, 4] < 200


def test_render_heatmap_cmap_defaults_by_sign():
    x, a, _ = _synthetic()
    a = -a  # the square is now negative evidence
    explicit = render.render_heatmap(x, a, sign="all", cmap="coolwarm")
    assert np.asarray(render.render_heatmap(x, a, sign="all")).tobytes() == np.asarray(explicit).tobytes()
    blue = np.asarray(render.render_heatmap(x, a, sign="all", alpha=1.0, panel=False))[30 * 4, 34 * 4]
    assert blue[2] > blue[0]  # strong negative -> coolwarm's blue end


def test_same_inputs_same_png_bytes(tmp_path):
    x, a, _ = _synthetic()
    target = tmp_path / "a" / "b" / "p.png"
    render.save_png(render.render_heatmap(x, a, panel=True), target)
    first = target.read_bytes()
    render.save_png(render.render_heatmap(x, a, panel=True), target)
    assert target.read_bytes() == first and first[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(target.parent.glob(".*partial"))
    assert Image.open(target).size == (3 * 256 + 2 * render.PANEL_GAP, 256)


def test_failed_save_leaves_no_partial_file(tmp_path):
    class Broken:
        def save(self, fp, format, **options):
            open(fp, "wb").write(b"half")
            raise OSError("disk full")

    with pytest.raises(OSError):
        render.save_png(Broken(), tmp_path / "p.png")
    assert list(tmp_path.iterdir()) == []


def test_contact_sheet_grid_fit_and_captions():
    tiles = [(Image.new("RGB", (64, 32), "red"), f"id{i}\ncat 0.9") for i in range(8)]
    sheet = render.contact_sheet(tiles, columns=6, tile_size=160)
    cell_w, cell_h = 160 + 2 * render.TILE_PAD, 160 + render.CAPTION_HEIGHT + 2 * render.TILE_PAD
    assert sheet.size == (6 * cell_w, 2 * cell_h)
    pixels = np.asarray(sheet)
    # 64x32 is fitted to 160x80, centred vertically in its square
    red = (pixels[:cell_h, :cell_w] == [255, 0, 0]).all(-1)
    rows, cols = np.nonzero(red)
    assert (cols.min(), cols.max() + 1) == (render.TILE_PAD, render.TILE_PAD + 160)
    assert (rows.min(), rows.max() + 1) == (render.TILE_PAD + 40, render.TILE_PAD + 120)
    # caption area has dark text; the unused cells of the second row stay white
    caption = pixels[render.TILE_PAD + 160 : cell_h, :cell_w]
    assert (caption.sum(-1) < 200).any()
    assert (pixels[cell_h:, 2 * cell_w :] == 255).all()


def test_contact_sheet_with_fewer_tiles_than_columns():
    sheet = render.contact_sheet([(Image.new("L", (300, 300), 0), "one")], columns=6, tile_size=100)
    assert sheet.size == (100 + 2 * render.TILE_PAD, 100 + render.CAPTION_HEIGHT + 2 * render.TILE_PAD)


def test_side_by_side_labels_each_column_above_it():
    images = [Image.new("RGB", (60, 40), colour) for colour in ("red", "green", "blue")]
    plain = np.asarray(render.side_by_side(images))
    labelled = np.asarray(render.side_by_side(images, ["input", "a class name far too long for sixty pixels", ""]))
    top, gap = render.LABEL_HEIGHT, render.PANEL_GAP
    assert labelled.shape == (40 + top, 3 * 60 + 2 * gap, 3) and plain.shape == (40, 3 * 60 + 2 * gap, 3)
    np.testing.assert_array_equal(labelled[top:], plain)  # the images as they were, below the strip
    strip = labelled[:top]
    dark = strip.sum(-1) < 300
    assert dark[:, :60].any() and dark[:, 60 + gap : 120 + gap].any()  # text over the first two
    assert not dark[:, 60 : 60 + gap].any()  # the long label is cut short inside its column
    assert (strip[:, 120 + gap :] == 255).all()  # an empty label leaves the strip white
    with pytest.raises(ValueError, match="2 labels for 3 images"):
        render.side_by_side(images, ["a", "b"])


def test_fit_text_cuts_to_the_width():
    from PIL import ImageDraw

    draw, font = ImageDraw.Draw(Image.new("RGB", (1, 1))), render._caption_font(render.LABEL_FONT)
    assert render.fit_text(draw, "cat", font, 200) == "cat"
    cut = render.fit_text(draw, "a very long class name indeed", font, 80)
    assert cut.endswith("...") and draw.textlength(cut, font=font) <= 80 and "a very long class name indeed".startswith(cut[:-3])


@pytest.mark.parametrize("names", [True, False])
def test_panels_of_several_targets_name_each_column(igcli, tmp_path, names):
    """--target top:2 --panel: the input, then each target's overlay (the files heatmaps/<id>/<target>.png)
    under a label naming the target (its class name with --class-names, else its index) and score."""
    import csv
    from pathlib import Path

    shapes = Path(__file__).resolve().parents[1] / "sample_data" / "shapes"
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("circle_00.png", "triangle_03.png"):
        (folder / name).write_bytes((shapes / "images" / name).read_bytes())
    extra = ["--class-names", shapes / "class_names.txt"] if names else []
    run = igcli("explain", shapes / "model.keras", folder, "--target", "top:2", "--panel", "--steps", 4, *extra)
    assert run.exit_code in (0, 3), run.stderr
    with open(run.out / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    class_names = (shapes / "class_names.txt").read_text().split()
    for ident in ("circle_00", "triangle_03"):
        mine = [r for r in rows if r["id"] == ident]
        assert [r["rank"] for r in mine] == ["1", "2"]
        shown = [class_names[int(r["target"])] if names else f"class {r['target']}" for r in mine]
        assert [r["target_name"] for r in mine] == (shown if names else ["", ""])
        labels = ["input", *(f"{name}, score {float(r['score']):.3g}" for name, r in zip(shown, mine))]
        overlays = [Image.open(run.out / "heatmaps" / ident / f"{r['target_name'] or r['target']}.png") for r in mine]
        panel = Image.open(run.out / "heatmaps" / f"{ident}.png")
        source = render.render_heatmap(np.asarray(Image.open(folder / f"{ident}.png").convert("RGB")), np.zeros((64, 64)), value_range=(0, 255), alpha=0.0)
        np.testing.assert_array_equal(np.asarray(panel), np.asarray(render.side_by_side([source, *overlays], labels)))


@pytest.mark.parametrize(
    "call",
    [
        lambda: render.attribution_map(np.zeros((2, 2)), "both", 99),
        lambda: render.attribution_map(np.zeros((2, 2)), "all", 0),
        lambda: render.attribution_map(np.zeros((2, 2)), "all", 100.5),
        lambda: render.attribution_map(np.zeros((2,)), "all", 99),
        lambda: render.colorize(np.zeros((2, 2)), "all", "rainbowish"),
        lambda: render.overlay(np.zeros((1, 1, 3)), np.zeros((1, 1, 3)), np.zeros((1, 1)), 1.5),
        lambda: render.overlay(np.zeros((1, 1, 3)), np.zeros((1, 1, 3)), np.zeros((1, 1)), -0.1),
        lambda: render.image_for_display(np.zeros((2, 2, 2)), (0, 1)),
        lambda: render.image_for_display(np.zeros((2, 2, 3)), (1, 1)),
        lambda: render.render_heatmap(np.zeros((4, 4, 3)), np.zeros((4, 5, 3))),
        lambda: render.render_heatmap(np.zeros((4, 4, 3)), np.zeros((4, 4, 3)), sign="pos"),
        lambda: render.contact_sheet([]),
    ],
)
def test_bad_values_raise(call):
    with pytest.raises(ValueError):
        call()


def test_error_messages_name_the_bad_value():
    with pytest.raises(ValueError, match="rainbowish"):
        render.colorize(np.zeros((2, 2)), "all", "rainbowish")
    with pytest.raises(ValueError, match="both"):
        render.attribution_map(np.zeros((2, 2)), "both", 99)


def test_the_low_clip_shows_the_smaller_magnitudes_as_zero():
    # --clip-low-percentile (Vertex's clipPercentLowerbound): the lowest 70% of |A| drawn as nothing
    values = np.arange(1, 101, dtype=np.float64).reshape(10, 10)
    shown = render.attribution_map(values, "absolute", 100, low_percentile=70)
    cut = np.percentile(values, 70)
    assert np.all(shown[values < cut] == 0) and np.all(shown[values >= cut] > 0)
    np.testing.assert_allclose(shown[values >= cut], values[values >= cut] / 100)
