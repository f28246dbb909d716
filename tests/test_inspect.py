import json
from pathlib import Path

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
