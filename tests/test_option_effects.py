"""What each image, table and heatmap option does to the numbers and pixels, through the CLI.

A linear model F(x) = x W + b with a zero baseline has IG attributions A = W[:, t] * x exactly
(every quadrature rule, any steps), so A / W recovers the model input igcli built from a file,
and the heatmap's pixels follow from A by the README's overlay rule: colour of opacity
alpha * sqrt(strength) over the input image."""

import csv

import keras
import matplotlib
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.conftest import assert_one_line_error

SIDE = 8
FACTOR = 32  # heatmaps of an 8x8 input are enlarged 32x (the shorter side at least 256 px)
RNG = np.random.default_rng(11)
W = RNG.normal(size=(SIDE * SIDE * 3, 2)).astype(np.float32)
PIXELS = RNG.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("effects")
    for name, channels in (("rgb", 3), ("grey", 1)):
        dense = keras.layers.Dense(2)
        model = keras.Sequential([keras.Input((SIDE, SIDE, channels)), keras.layers.Flatten(), dense])
        dense.set_weights([W[: SIDE * SIDE * channels], np.zeros(2, np.float32)])
        model.save(root / f"{name}.keras")
    (root / "images").mkdir()
    Image.fromarray(PIXELS).save(root / "images" / "a.png")
    return root


def model_input(run, channels=3):
    """The model input igcli built for image a: A / W for target 0."""
    attributions = run.arrays()["attributions"][0]
    return attributions / W[: SIDE * SIDE * channels, 0].reshape(SIDE, SIDE, channels)


def explain(igcli, files, *args, model="rgb"):
    run = igcli("explain", files / f"{model}.keras", files / "images", "--target", 0, "--steps", 2, *args)
    assert run.exit_code == 0, run.stderr
    return run


@pytest.mark.parametrize(
    "scale, expected",
    [
        ("0..1", PIXELS / 255.0),
        ("-1..1", PIXELS / 127.5 - 1.0),
        ("0..255", PIXELS.astype(np.float64)),
        ("imagenet-caffe", PIXELS[..., ::-1] - np.array([103.939, 116.779, 123.68])),
        ("imagenet-torch", (PIXELS / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]),
    ],
)
def test_scale(igcli, files, scale, expected):
    run = explain(igcli, files, "--scale", scale)
    np.testing.assert_allclose(model_input(run), expected, rtol=1e-4, atol=1e-4)


def test_mean_and_std_follow_the_scale(igcli, files):
    run = explain(igcli, files, "--scale", "0..1", "--mean", "0.5,0.25,0", "--std", "2,4,0.5")
    expected = (PIXELS / 255.0 - [0.5, 0.25, 0.0]) / [2.0, 4.0, 0.5]
    np.testing.assert_allclose(model_input(run), expected, rtol=1e-4, atol=1e-5)
    assert_one_line_error(igcli("explain", files / "rgb.keras", files / "images", "--mean", "1,x"), 2, "--mean")


def test_color(igcli, files):
    luma = (PIXELS @ [299, 587, 114]) / 1000.0  # ITU-R 601-2, as PIL's "L"
    rgb = model_input(explain(igcli, files, "--color", "rgb"))
    np.testing.assert_allclose(rgb, PIXELS / 255.0, atol=1e-5)
    # grayscale on a 3-channel model: the luminance, in every channel
    grey = model_input(explain(igcli, files, "--color", "grayscale"))
    for channel in range(3):
        np.testing.assert_allclose(grey[..., channel] * 255, luma, atol=0.51)
    # auto on a 1-channel model converts colour images to luminance too
    auto = model_input(explain(igcli, files, model="grey"), channels=1)
    np.testing.assert_allclose(auto[..., 0] * 255, luma, atol=0.51)
    assert_one_line_error(igcli("explain", files / "grey.keras", files / "images", "--color", "rgb"), 2, "--color rgb")


def heatmap(run, name="a"):
    return np.asarray(Image.open(run.out / "heatmaps" / f"{name}.png").convert("RGB"), np.float64)


def block_centres(image, left=0):
    """One colour per model pixel of an enlarged map (nearest-neighbour blocks of FACTOR px)."""
    centres = np.arange(SIDE) * FACTOR + FACTOR // 2
    return image[centres][:, left + centres]


def strengths(sign):
    summed = (W[:, 0].reshape(SIDE, SIDE, 3) * (PIXELS / 255.0)).sum(axis=-1)  # A summed over channels
    values = {"positive": np.maximum(summed, 0), "negative": np.maximum(-summed, 0), "absolute": np.abs(summed)}[sign]
    return values / values.max(), summed


@pytest.mark.parametrize("sign", ["positive", "negative", "absolute"])
def test_sign_cmap_alpha_and_the_overlay_rule(igcli, files, sign):
    run = explain(igcli, files, "--sign", sign, "--cmap", "viridis", "--alpha", 1, "--clip-percentile", 100)
    shown = block_centres(heatmap(run))
    strength, summed = strengths(sign)
    colour = np.round(matplotlib.colormaps["viridis"](strength)[..., :3] * 255)
    opacity = np.sqrt(strength)[..., None]
    np.testing.assert_allclose(shown, PIXELS * (1 - opacity) + colour * opacity, atol=1.01)
    # where the sign shows nothing the input shows through unchanged; the strongest is pure colour
    hidden = summed <= 0 if sign == "positive" else summed >= 0 if sign == "negative" else np.zeros_like(summed, bool)
    np.testing.assert_array_equal(shown[hidden], PIXELS[hidden])
    top = np.unravel_index(np.argmax(strength), strength.shape)
    np.testing.assert_array_equal(shown[top], np.round(np.array(matplotlib.colormaps["viridis"](1.0)[:3]) * 255))


def test_alpha_zero_shows_only_the_image(igcli, files):
    run = explain(igcli, files, "--alpha", 0)
    np.testing.assert_array_equal(block_centres(heatmap(run)), PIXELS)
    assert_one_line_error(igcli("explain", files / "rgb.keras", files / "images", "--alpha", 2), 2, "--alpha")


def test_clip_percentile_sets_what_is_full_colour(igcli, files):
    full = np.round(np.array(matplotlib.colormaps["inferno"](1.0)[:3]) * 255)
    counts = {}
    for percentile in (100, 50):
        shown = block_centres(heatmap(explain(igcli, files, "--alpha", 1, "--clip-percentile", percentile)))
        counts[percentile] = int(np.all(shown == full, axis=-1).sum())
    assert counts[100] == 1  # only the strongest pixel
    assert counts[50] >= SIDE * SIDE // 2  # everything at or above the median |A|


def test_panel_and_no_heatmap(igcli, files):
    panel = heatmap(explain(igcli, files, "--panel", "--alpha", 1, "--clip-percentile", 100, "--sign", "absolute"))
    size, gap = SIDE * FACTOR, 8
    assert panel.shape == (size, 3 * size + 2 * gap, 3)
    np.testing.assert_array_equal(block_centres(panel), PIXELS)  # input | heatmap | overlay
    strength, _ = strengths("absolute")
    colour = np.round(matplotlib.colormaps["inferno"](strength)[..., :3] * 255)
    np.testing.assert_allclose(block_centres(panel, left=size + gap), colour, atol=1.01)
    assert np.all(panel[:, size : size + gap] == 255)  # the white gap
    run = explain(igcli, files, "--no-heatmap")
    assert not (run.out / "heatmaps").exists() and not (run.out / "overview.png").exists()
    assert run.arrays()["attributions"].shape == (1, SIDE, SIDE, 3)


def test_columns_choose_and_order_the_features(igcli, tmp_path):
    weights = np.array([[2.0], [-3.0]], np.float32)
    dense = keras.layers.Dense(1)
    model = keras.Sequential([keras.Input((2,)), dense])
    dense.set_weights([weights, np.array([0.5], np.float32)])
    model.save(tmp_path / "two.keras")
    (tmp_path / "t.csv").write_text("a,b,c,d\n1,2,3,4\n5,6,7,8\n")
    run = igcli("explain", tmp_path / "two.keras", tmp_path / "t.csv", "--columns", "d,b", "--steps", 2)
    assert run.exit_code == 0, run.stderr
    np.testing.assert_allclose(run.arrays()["attributions"], [[8.0, -6.0], [16.0, -18.0]], rtol=1e-6)
    with open(run.out / "attributions.csv", newline="") as handle:
        assert next(csv.reader(handle)) == ["id", "d", "b"]
    assert_one_line_error(igcli("explain", tmp_path / "two.keras", tmp_path / "t.csv", "--columns", "d,zz"), 2, "zz")


def test_input_key_names_the_signature_input(igcli, tmp_path):
    module = tf.Module()
    module.serve = tf.function(lambda pixels: {"y": 3.0 * pixels}, input_signature=[tf.TensorSpec([None, 2], tf.float32, name="pixels")])
    tf.saved_model.save(module, str(tmp_path / "one"), signatures={"serving_default": module.serve})
    module.two = tf.function(
        lambda a, b: {"y": a * b}, input_signature=[tf.TensorSpec([None, 2], tf.float32, name="a"), tf.TensorSpec([None, 2], tf.float32, name="b")]
    )
    tf.saved_model.save(module, str(tmp_path / "two"), signatures={"serving_default": module.two})
    np.save(tmp_path / "x.npy", np.array([[1.0, 2.0]], np.float32))
    run = igcli("explain", tmp_path / "one", tmp_path / "x.npy", "--input-key", "pixels", "--target", 1, "--steps", 2)
    assert run.exit_code == 0, run.stderr
    np.testing.assert_allclose(run.arrays()["attributions"], [[0.0, 6.0]], rtol=1e-6)
    assert_one_line_error(igcli("explain", tmp_path / "one", tmp_path / "x.npy", "--input-key", "nope"), 2, "nope", "pixels")
    np.savez(tmp_path / "ab.npz", a=np.ones((1, 2), np.float32), b=np.ones((1, 2), np.float32))
    assert_one_line_error(igcli("explain", tmp_path / "two", tmp_path / "ab.npz", "--input-key", "a"), 2, "--input-key", "every input")


def test_fit_says_when_proportions_change_and_crop_or_pad_keep_them(igcli, files, tmp_path):
    wide = RNG.integers(0, 256, (SIDE, 2 * SIDE, 3), dtype=np.uint8)
    (tmp_path / "wide").mkdir()
    Image.fromarray(wide).save(tmp_path / "wide" / "w.png")
    run = igcli("explain", files / "rgb.keras", tmp_path / "wide", "--target", 0, "--steps", 2, "--scale", "0..255")
    assert "1 image(s) with other proportions than the model's 8x8 input were stretched to it: w (16x8)" in run.stderr
    assert "--fit crop" in run.stderr
    assert run.run_json()["other_proportions"] == {"model_input": "8x8", "fit": "stretch", "images": 1, "first_ids": ["w (16x8)"]}
    crop = igcli("explain", files / "rgb.keras", tmp_path / "wide", "--target", 0, "--steps", 2, "--scale", "0..255", "--fit", "crop")
    np.testing.assert_allclose(model_input(crop), wide[:, SIDE // 2 : SIDE // 2 + SIDE], atol=1e-3)
    assert "cropped to its proportions" in crop.stderr
    Image.fromarray(wide[: SIDE // 2, :SIDE]).save(tmp_path / "wide" / "w.png")  # 8 wide, 4 high
    pad = igcli("explain", files / "rgb.keras", tmp_path / "wide", "--target", 0, "--steps", 2, "--scale", "0..255", "--fit", "pad")
    framed = np.zeros((SIDE, SIDE, 3))
    framed[SIDE // 4 : SIDE // 4 + SIDE // 2] = wide[: SIDE // 2, :SIDE]
    np.testing.assert_allclose(model_input(pad), framed, atol=1e-3)
    square = explain(igcli, files)
    assert "other proportions" not in square.stderr and square.run_json()["other_proportions"]["images"] == 0
