import csv
import json
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from tests.conftest import assert_one_line_error

SHAPES = Path(__file__).resolve().parent.parent / "sample_data" / "shapes"


def test_inspect_keras_lists_inputs_outputs_and_layers(igcli):
    run = igcli("inspect", SHAPES / "model.keras", "--json")
    assert run.exit_code == 0, run.stderr
    info = json.loads(run.stdout)
    assert info["kind"] == "keras" and info["softmax_head"] == "activation"
    assert info["inputs"] == [{"name": "image", "shape": [None, 64, 64, 3], "dtype": "float32"}]
    assert info["outputs"][0]["shape"] == [None, 3]
    assert [layer["name"] for layer in info["layers"]] == ["conv1", "pool1", "conv2", "pool2", "conv3", "gap", "probs"]
    assert info["layers"][0] == {"name": "conv1", "type": "Conv2D", "output_shape": [None, 62, 62, 16]}
    text = igcli("inspect", SHAPES / "model.h5").stdout
    assert "conv3" in text and "--output logits" in text


def test_inspect_savedmodel_lists_signatures(igcli):
    info = json.loads(igcli("inspect", SHAPES / "savedmodel", "--json").stdout)
    signature = info["signatures"]["serving_default"]
    assert signature["inputs"] == [{"name": "image", "shape": [None, 64, 64, 3], "dtype": "float32"}]
    assert signature["outputs"][0]["shape"] == [None, 3]


def test_inspect_errors(igcli, tmp_path):
    assert_one_line_error(igcli("inspect", tmp_path / "none.keras"), 2, "no such model")
    (tmp_path / "bad.h5").write_bytes(b"garbage")
    assert_one_line_error(igcli("inspect", tmp_path / "bad.h5"), 2, "bad.h5")


def shapes_pixels() -> tuple[list[str], np.ndarray]:
    files = sorted((SHAPES / "images").glob("*.png"))
    return [f.stem for f in files], np.stack([np.asarray(Image.open(f).convert("RGB"), np.float32) for f in files])


def predictions(run) -> dict[str, int]:
    with open(run.out / "summary.csv", newline="") as handle:
        return {row["id"]: int(row["predicted"]) for row in csv.DictReader(handle)}


def test_a_model_that_rescales_its_input_is_told_to_take_raw_pixels(igcli, tmp_path):
    # issue 23: inspect says what preprocessing the model holds, and the run it advises predicts
    # as the model does on the pixels it was built for
    shapes = keras.models.load_model(SHAPES / "model.keras")
    for scale, offset in ((1 / 255, 0.0), (1 / 127.5, -1.0)):
        inner = keras.models.load_model(SHAPES / "model_minus1.keras") if offset else shapes
        raw = keras.Sequential([keras.Input((64, 64, 3)), keras.layers.Rescaling(scale, offset), inner])
        raw.save(tmp_path / "raw.keras")
        info = json.loads(igcli("inspect", tmp_path / "raw.keras", "--json").stdout)
        assert [layer["type"] for layer in info["preprocessing"]["layers"]] == ["Rescaling"]
        assert info["preprocessing"]["advice"].endswith("--scale 0..255")
        run = igcli("explain", tmp_path / "raw.keras", SHAPES / "images", "--scale", "0..255", "--steps", 2, "--no-heatmap")
        ids, pixels = shapes_pixels()
        assert predictions(run) == dict(zip(ids, np.argmax(shapes.predict(pixels / 255, verbose=0), axis=1).tolist()))


def test_a_model_trained_on_minus_one_to_one_runs_right_with_the_scale_the_docs_name(igcli):
    # sample_data's model_minus1.keras takes pixels in -1..1, and no layer says so (docs/your-model.md)
    shapes = keras.models.load_model(SHAPES / "model.keras")
    text = igcli("inspect", SHAPES / "model_minus1.keras").stdout
    assert "no preprocessing layer found" in text and "-1..1" in text
    run = igcli("explain", SHAPES / "model_minus1.keras", SHAPES / "images", "--scale", "-1..1", "--steps", 2, "--no-heatmap")
    ids, pixels = shapes_pixels()
    model = keras.models.load_model(SHAPES / "model_minus1.keras")
    expected = np.argmax(model.predict(pixels / 127.5 - 1, verbose=0), axis=1)
    assert predictions(run) == dict(zip(ids, expected.tolist()))
    np.testing.assert_array_equal(expected, np.argmax(shapes.predict(pixels / 255, verbose=0), axis=1))
    # what docs/your-model.md says of it: the right scale gets all 24 right, the default 19
    right = {ident: ident.split("_")[0] for ident in ids}
    names = ["circle", "square", "triangle"]
    assert all(names[p] == right[i] for i, p in predictions(run).items())
    wrong = igcli("explain", SHAPES / "model_minus1.keras", SHAPES / "images", "--steps", 2, "--no-heatmap")
    assert sum(names[p] == right[i] for i, p in predictions(wrong).items()) == 19
