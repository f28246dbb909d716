"""--explanation-metadata / --explanation-parameters: Vertex Explainable AI's files, written as a
Vertex user writes them, give the same numbers and pictures as the igcli flags they map to; what
igcli cannot honour is refused by name (issue 25)."""

import json

import h5py
import numpy as np
import pytest

from tests.conftest import assert_one_line_error
from tests.test_inspect import SHAPES

TABLE = SHAPES.parent / "table"
IMAGE_METADATA = {
    "inputs": {
        "image": {
            "inputTensorName": "image",
            "modality": "image",
            "inputBaselines": [0],
            "visualization": {"type": "Pixels", "polarity": "positive", "colorMap": "pink_green", "clipPercentUpperbound": 99.9, "clipPercentLowerbound": 70},
        }
    },
    "outputs": {"probs": {"outputTensorName": "probs", "indexDisplayNameMapping": ["circle", "square", "triangle"]}},
}
IMAGE_PARAMETERS = {"integratedGradientsAttribution": {"stepCount": 12, "smoothGradConfig": {"noiseSigma": 0.1, "noisySampleCount": 2}}, "topK": 2}
IMAGE_FLAGS = (
    "--steps", 12, "--smooth", 2, "--noise", 0.1, "--noise-units", "input", "--target", "top:2", "--baseline", "zero", "--sign", "positive",
    "--cmap", "PiYG", "--clip-percentile", 99.9, "--clip-low-percentile", 70, "--class-names", SHAPES / "class_names.txt", "--output-key", "probs",
)  # fmt: skip
# the SDK's snake_case spelling, for a table: BAG_OF_FEATURES with the columns by index
TABLE_METADATA = {
    "inputs": {"features": {"input_tensor_name": "features", "encoding": "BAG_OF_FEATURES", "index_feature_mapping": [f"f{i}" for i in range(6)]}},
    "outputs": {"probs": {"output_tensor_name": "probs:0", "index_display_name_mapping": ["negative", "positive"]}},
}
TABLE_PARAMETERS = {"integrated_gradients_attribution": {"step_count": 30}, "output_indices": [1]}
TABLE_FLAGS = ("--steps", 30, "--target", 1, "--columns", "f0,f1,f2,f3,f4,f5", "--class-names", TABLE / "class_names.txt", "--output-key", "probs")


def files(tmp_path, metadata, parameters):
    (tmp_path / "metadata.json").write_text(json.dumps(metadata))
    (tmp_path / "parameters.json").write_text(json.dumps(parameters))
    return "--explanation-metadata", tmp_path / "metadata.json", "--explanation-parameters", tmp_path / "parameters.json"


def arrays(run) -> dict:
    with h5py.File(run.out / "attributions.h5") as handle:
        return {name: handle[name][()] for name in ("attributions", "targets", "target_names", "scores")}


def test_an_image_models_files_give_what_the_flags_give(igcli, tmp_path):
    vertex = igcli("explain", SHAPES / "model.keras", SHAPES / "images", *files(tmp_path, IMAGE_METADATA, IMAGE_PARAMETERS))  # no other flag
    flags = igcli("explain", SHAPES / "model.keras", SHAPES / "images", *IMAGE_FLAGS)
    assert vertex.exit_code == 0 and flags.exit_code == 0, vertex.stderr + flags.stderr
    a, b = arrays(vertex), arrays(flags)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert {n.decode() if isinstance(n, bytes) else n for n in a["target_names"].ravel()} <= {"circle", "square", "triangle"}
    for heatmap in (vertex.out / "heatmaps").rglob("*.png"):  # the visualization settings drew the same pictures
        assert heatmap.read_bytes() == (flags.out / "heatmaps" / heatmap.relative_to(vertex.out / "heatmaps")).read_bytes()
    resolved = vertex.run_json()["resolved"]
    assert (resolved["steps"], resolved["target"], resolved["smooth"], resolved["noise_units"]) == (12, "top:2", 2, "input")


def test_a_tabular_models_files_give_what_the_flags_give(igcli, tmp_path):
    vertex = igcli("explain", TABLE / "model.keras", TABLE / "table.csv", *files(tmp_path, TABLE_METADATA, TABLE_PARAMETERS))
    flags = igcli("explain", TABLE / "model.keras", TABLE / "table.csv", *TABLE_FLAGS)
    assert vertex.exit_code == 0 and flags.exit_code == 0, vertex.stderr + flags.stderr
    assert (vertex.out / "attributions.csv").read_bytes() == (flags.out / "attributions.csv").read_bytes()
    a, b = arrays(vertex), arrays(flags)
    np.testing.assert_array_equal(a["attributions"], b["attributions"])
    assert set(a["target_names"].astype(str)) == {"positive"}


def test_xrai_parameters_run_xrai_over_ig_from_black_and_white(igcli, tmp_path):
    pytest.importorskip("skimage")
    metadata = {"inputs": {"image": {"modality": "image"}}, "outputs": {"probs": {"indexDisplayNameMapping": ["circle", "square", "triangle"]}}}
    vertex = igcli("explain", SHAPES / "model.keras", SHAPES / "images", *files(tmp_path, metadata, {"xraiAttribution": {"stepCount": 8}}), "--no-report")
    flags = igcli("explain", SHAPES / "model.keras", SHAPES / "images", "--xrai", "--steps", 8, "--baseline", "black+white", "--no-report")
    assert vertex.exit_code == 0 and flags.exit_code == 0, vertex.stderr + flags.stderr
    with h5py.File(vertex.out / "attributions.h5") as a, h5py.File(flags.out / "attributions.h5") as b:
        for name in ("attributions", "xrai"):
            np.testing.assert_array_equal(a[name][()], b[name][()], err_msg=name)
    with_baseline = {"inputs": {"image": {"inputBaselines": [0]}}}  # the metadata's baseline wins over XRAI's default
    run = igcli("explain", SHAPES / "model.keras", SHAPES / "images", *files(tmp_path, with_baseline, {"xraiAttribution": {"stepCount": 4}}), "--no-report")
    assert run.exit_code == 0 and run.run_json()["resolved"]["baseline"] == "zero"


def test_flags_override_the_files(igcli, tmp_path):
    run = igcli("explain", TABLE / "model.keras", TABLE / "table.csv", *files(tmp_path, TABLE_METADATA, TABLE_PARAMETERS), "--steps", 5)
    assert run.exit_code == 0, run.stderr
    assert run.run_json()["resolved"]["steps"] == 5


@pytest.mark.parametrize(
    "metadata, parameters, named",
    [
        ({}, {"sampledShapleyAttribution": {"pathCount": 10}}, "sampledShapleyAttribution"),
        ({}, {"xraiAttribution": {"stepCount": 10}, "integratedGradientsAttribution": {}}, "give one"),
        ({"inputs": {"x": {"indexFeatureMapping": [f"f{i}" for i in range(6)]}}}, {"xraiAttribution": {"stepCount": 10}}, "--xrai draws regions of images"),
        ({}, {"integratedGradientsAttribution": {"smoothGradConfig": {"featureNoiseSigma": {}}}}, "featureNoiseSigma"),
        ({}, {"integratedGradientsAttribution": {"stepCount": 10, "warpFactor": 9}}, "warpFactor"),
        ({}, {"topK": 2, "outputIndices": [1]}, "topK and outputIndices"),
        ({"inputs": {"x": {"visualization": {"type": "OUTLINES"}}}}, {}, "type OUTLINES"),
        ({"inputs": {"x": {"inputBaselines": [0, 1]}}}, {}, "inputBaselines: 2"),
        ({"inputs": {"x": {"encoding": "BAG_OF_FEATURES_SPARSE"}}}, {}, "BAG_OF_FEATURES_SPARSE"),
        ({"outputs": {"y": {"displayNameMappingKey": "classes"}}}, {}, "displayNameMappingKey"),
        ({"inputs": {"x": {"visualization": {"overlayType": "GRAYSCALE"}}}}, {}, "overlayType GRAYSCALE"),
    ],
)
def test_what_igcli_cannot_honour_is_refused_by_name(igcli, tmp_path, metadata, parameters, named):
    run = igcli("explain", TABLE / "model.keras", TABLE / "table.csv", *files(tmp_path, metadata, parameters))
    assert_one_line_error(run, 2, named)
    assert not run.out.exists()  # refused before anything ran
