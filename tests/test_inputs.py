"""Readers: images of every common kind, CSV tables, and the ids they give."""

import numpy as np
import pytest
from PIL import Image

from igcli.data.ids import image_ids, safe_id
from igcli.data.images import ImageOptions
from igcli.data.inputs import open_inputs
from igcli.data.preprocess import Preprocess
from igcli.data.tables import CsvInputs, TableOptions
from igcli.errors import UsageProblem


def write(path, array, mode=None, **save):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path, **save) if mode else Image.fromarray(array).save(path, **save)
    return path


def read_all(source, size=100):
    return list(source.batches(size))


def test_folder_is_recursive_sorted_and_ids_are_relative_paths(tmp_path):
    rgb = np.full((4, 4, 3), 200, np.uint8)
    for name in ("b/z.png", "a.png", "b/c/d.jpg", "a.jpg", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".txt"):
            (tmp_path / name).write_text("hi")
        else:
            write(tmp_path / name, rgb)
    source = open_inputs(tmp_path, model_shape=(4, 4, 3))
    (batch,) = read_all(source)
    # a.png and a.jpg differ only by extension: both keep it, neither is lost
    assert batch.ids == ["a.jpg", "a.png", "b/c/d", "b/z"]
    assert [str(p.name) for p in source.skipped] == ["notes.txt"]
    assert batch.errors == [None] * 4


def test_modes_convert_and_scale_to_the_model_input(tmp_path):
    grey16 = np.full((3, 5), 65535 // 2, np.uint16)
    cmyk = Image.new("CMYK", (5, 3), (0, 255, 255, 0))  # pure red in CMYK
    cmyk.save(tmp_path / "red.tif")
    write(tmp_path / "half.png", grey16)
    rgba = np.zeros((3, 5, 4), np.uint8)
    rgba[..., 2] = 255
    rgba[..., 3] = 128
    write(tmp_path / "blue.png", rgba, "RGBA")
    frames = [Image.new("RGB", (5, 3), (0, 255, 0)), Image.new("RGB", (5, 3), (255, 0, 0))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    write(tmp_path / "dot.bmp", np.full((1, 1, 3), 255, np.uint8))
    (batch,) = read_all(open_inputs(tmp_path, model_shape=(3, 5, 3)))
    pixels = dict(zip(batch.ids, batch.arrays))
    assert batch.errors == [None] * 5
    np.testing.assert_allclose(pixels["red"][0, 0], [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(pixels["half"][0, 0], [32767 / 65535] * 3, atol=1 / 255)  # 16-bit kept to grey
    np.testing.assert_allclose(pixels["blue"][0, 0], [0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(pixels["anim"][1, 2], [0, 1, 0], atol=0.02)  # the first frame
    np.testing.assert_allclose(pixels["dot"], 1.0, atol=1e-6)  # 1x1 upsampled to 3x5
    sizes = {ident: extra["original_size"] for ident, extra in zip(batch.ids, batch.extras)}
    assert sizes == {"anim": "5x3", "blue": "5x3", "dot": "1x1", "half": "5x3", "red": "5x3"}


@pytest.mark.parametrize(
    "scale, expected",
    [
        ("0..1", [1.0, 0.5, 0.0]),
        ("-1..1", [1.0, 0.0, -1.0]),
        ("0..255", [255, 127.5, 0]),
        ("imagenet-caffe", [0 - 103.939, 127.5 - 116.779, 255 - 123.68]),  # BGR order
        ("imagenet-torch", [(1 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (0 - 0.406) / 0.225]),
    ],
)
def test_scales(scale, expected):
    pixel = np.array([[[255.0, 127.5, 0.0]]], np.float32)
    preprocess = Preprocess(scale)
    np.testing.assert_allclose(preprocess.apply(pixel)[0, 0], expected, rtol=1e-5)
    np.testing.assert_allclose(preprocess.to_pixels(preprocess.apply(pixel)), pixel, atol=1e-3)


def test_mean_std_and_grayscale_model(tmp_path):
    write(tmp_path / "x.png", np.full((2, 2, 3), 255, np.uint8))
    options = ImageOptions(preprocess=Preprocess("0..1", np.array([0.5]), np.array([0.25])))
    (batch,) = read_all(open_inputs(tmp_path / "x.png", model_shape=(2, 2, 1), images=options))
    np.testing.assert_allclose(batch.arrays, 2.0)  # (1 - 0.5) / 0.25
    assert batch.arrays.shape == (1, 2, 2, 1)


def test_broken_images_are_listed_not_fatal(tmp_path):
    write(tmp_path / "good.png", np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "random.jpg").write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 4)
    data = (tmp_path / "good.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    write(tmp_path / "huge.png", np.zeros((40, 40, 3), np.uint8))
    (batch,) = read_all(open_inputs(tmp_path, model_shape=(4, 4, 3), images=ImageOptions(max_pixels=1000)))
    errors = dict(zip(batch.ids, batch.errors))
    assert errors["good"] is None
    assert all(errors[name] for name in ("empty", "random", "cut", "huge"))
    assert "--max-pixels" in errors["huge"]


def test_image_input_errors(tmp_path):
    with pytest.raises(UsageProblem, match="no images"):
        open_inputs(tmp_path, model_shape=(4, 4, 3))
    write(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(UsageProblem, match="--resize"):
        open_inputs(tmp_path, model_shape=(None, None, 3))
    with pytest.raises(UsageProblem, match="H, W"):
        open_inputs(tmp_path, model_shape=(12,))


def test_glob(tmp_path):
    for name in ("x1.png", "x2.png", "y.png"):
        write(tmp_path / name, np.zeros((2, 2, 3), np.uint8))
    (batch,) = read_all(open_inputs(str(tmp_path / "x*.png"), model_shape=(2, 2, 3)))
    assert batch.ids == ["x1", "x2"]


def test_ids_are_safe_paths():
    assert safe_id("../../etc/passwd") == "_/_/etc/passwd"
    assert safe_id("/abs/path") == "abs/path"
    assert safe_id("CON") == "_CON"
    assert safe_id("a b?c") == "a_b_c"
    assert safe_id(".hidden") == "_hidden"
    assert image_ids(["A.png", "a.jpg", "b.png"]) == ["A.png", "a.jpg", "b"]


def test_csv_numeric_columns_ids_labels_and_bad_rows(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("name,f0,f1,kind,label\nr1,1.5,2,x,1\nr2,abc,2,y,0\nr3,1,,z,1\nr4,1,2\n\nr1,0,-1,w,0\n")
    source = CsvInputs(table, TableOptions(id_column="name", label_column="label"))
    assert source.features == ["f0", "f1"]
    (batch,) = read_all(source)
    assert batch.ids == ["r1", "r2", "r3", "r4", "r1~2"]
    np.testing.assert_array_equal(batch.arrays[[0, 4]], [[1.5, 2.0], [0.0, -1.0]])
    assert batch.errors[0] is None and batch.errors[4] is None
    assert "'abc'" in batch.errors[1] and "missing value" in batch.errors[2] and "cells" in batch.errors[3]
    assert [e["label"] for e in batch.extras] == ["1", "0", "1", None, "0"]
    with pytest.raises(UsageProblem, match="--label-column"):
        CsvInputs(table, TableOptions(label_column="nope"))
    assert CsvInputs(table, TableOptions(columns=["f1"])).features == ["f1"]


@pytest.mark.parametrize("wide", [True, False])
def test_fit_crop_keeps_the_centre_and_pad_adds_black_borders(tmp_path, wide):
    # issue 23: an image of other proportions than the model's square input
    rng = np.random.default_rng(1)
    pixels = rng.integers(1, 256, size=(20, 40, 3) if wide else (40, 20, 3), dtype=np.uint8)
    write(tmp_path / "x.png", pixels)
    options = {fit: ImageOptions(preprocess=Preprocess("0..255"), fit=fit) for fit in ("crop", "pad")}
    (crop,) = read_all(open_inputs(tmp_path / "x.png", model_shape=(20, 20, 3), images=options["crop"]))
    centre = pixels[:, 10:30] if wide else pixels[10:30]
    np.testing.assert_array_equal(crop.arrays[0], centre)  # no resize needed: exactly the centre
    (pad,) = read_all(open_inputs(tmp_path / "x.png", model_shape=(40, 40, 3), images=options["pad"]))
    framed = np.zeros((40, 40, 3), np.float32)
    framed[10:30, :] = pixels if wide else 0
    framed[:, 10:30] = framed[:, 10:30] if wide else pixels
    np.testing.assert_array_equal(pad.arrays[0], framed)
    (stretch,) = read_all(open_inputs(tmp_path / "x.png", model_shape=(40, 40, 3), images=ImageOptions(preprocess=Preprocess("0..255"))))
    assert stretch.arrays[0].min() > 0  # stretched over the whole input: no border
