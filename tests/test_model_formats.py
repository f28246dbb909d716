"""One model, saved every way igcli accepts, must give the same attributions."""

import os
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import assert_one_line_error, save_npy
from tests.models import bright_quadrant_data, small_cnn

X, _ = bright_quadrant_data(4, seed=3)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The same weights as .keras, Keras 3 .h5, export() SavedModel, tf.saved_model.save,
    and (through tf-keras) a Keras 2 .h5 and a Keras 2 SavedModel directory."""
    root = tmp_path_factory.mktemp("formats")
    model = small_cnn(seed=5)
    model.save(root / "m.keras")
    model.save(root / "m3.h5")
    model.export(root / "exported", verbose=False)
    module = tf.Module()
    module.model = model
    module.serve = tf.function(lambda images: {"probs": model(images)}, input_signature=[tf.TensorSpec([None, 16, 16, 3], tf.float32, name="images")])
    tf.saved_model.save(module, str(root / "tfsaved"), signatures={"serving_default": module.serve})
    tf_keras = pytest.importorskip("tf_keras")
    legacy = tf_keras.Sequential(
        [
            tf_keras.Input((16, 16, 3)),
            tf_keras.layers.Conv2D(8, 3, activation="relu"),
            tf_keras.layers.MaxPooling2D(),
            tf_keras.layers.Conv2D(8, 3, activation="relu"),
            tf_keras.layers.GlobalAveragePooling2D(),
            tf_keras.layers.Dense(3, activation="softmax"),
        ]
    )
    legacy.set_weights(model.get_weights())
    legacy.save(root / "m2.h5")
    legacy.save(root / "keras2_savedmodel", save_format="tf")
    save_npy(root / "x.npy", X)
    return root, model


@pytest.mark.parametrize("name", ["m.keras", "m3.h5", "m2.h5", "exported", "tfsaved", "keras2_savedmodel"])
def test_every_format_gives_the_same_attributions(igcli, saved, name):
    root, model = saved
    reference = igcli("explain", root / "m.keras", root / "x.npy", "--steps", 16).arrays()
    np.testing.assert_allclose(reference["scores"], model.predict(X, verbose=0).max(axis=1), rtol=1e-5)
    run = igcli("explain", root / name, root / "x.npy", "--steps", 16)
    assert run.exit_code == 0, run.stderr
    arrays = run.arrays()
    np.testing.assert_array_equal(arrays["targets"], reference["targets"])
    np.testing.assert_allclose(arrays["attributions"], reference["attributions"], rtol=1e-4, atol=1e-6)


def test_float64_savedmodel_inputs_are_cast(igcli, tmp_path):
    module = tf.Module()
    module.w = tf.Variable([[2.0], [-1.0]], dtype=tf.float64)
    module.serve = tf.function(lambda x: {"y": tf.matmul(x, module.w)}, input_signature=[tf.TensorSpec([None, 2], tf.float64, name="x")])
    tf.saved_model.save(module, str(tmp_path / "f64"), signatures={"serving_default": module.serve})
    run = igcli("explain", tmp_path / "f64", save_npy(tmp_path / "x.npy", [[1.0, 3.0]]), "--steps", 3)
    assert run.exit_code == 0, run.stderr
    np.testing.assert_allclose(run.arrays()["attributions"][0], [2.0, -3.0], rtol=1e-6)


def test_savedmodel_with_several_inputs_or_outputs_needs_keys(igcli, tmp_path):
    module = tf.Module()
    module.serve = tf.function(lambda a: {"double": 2 * a, "square": a * a}, input_signature=[tf.TensorSpec([None, 2], tf.float32, name="a")])
    module.other = tf.function(lambda a: {"neg": -a}, input_signature=[tf.TensorSpec([None, 2], tf.float32, name="a")])
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures={"serving_default": module.serve, "neg": module.other})
    x = save_npy(tmp_path / "x.npy", [[1.0, 2.0]])
    assert_one_line_error(igcli("explain", tmp_path / "sm", x), 2, "--output-key")
    run = igcli("explain", tmp_path / "sm", x, "--output-key", "square", "--target", 1, "--steps", 4)
    assert run.exit_code == 0, run.stderr
    np.testing.assert_allclose(run.arrays()["attributions"][0], [0.0, 4.0], rtol=1e-5)
    run = igcli("explain", tmp_path / "sm", x, "--signature", "neg", "--target", 0, "--steps", 2)
    np.testing.assert_allclose(run.arrays()["attributions"][0], [-1.0, 0.0], rtol=1e-6)
    assert_one_line_error(igcli("explain", tmp_path / "sm", x, "--signature", "nope"), 2, "nope")


def test_lambda_layers_are_refused_without_unsafe(igcli, tmp_path):
    keras.config.enable_unsafe_deserialization()
    x = keras.Input((2,))
    model = keras.Model(x, keras.layers.Dense(1)(keras.layers.Lambda(lambda t: t * 3.0)(x)))
    model.save(tmp_path / "lambda.keras")
    model.save(tmp_path / "lambda.h5")
    inputs = save_npy(tmp_path / "x.npy", [[1.0, 1.0]])
    for name in ("lambda.keras", "lambda.h5"):
        assert_one_line_error(igcli("explain", tmp_path / name, inputs), 2, "--unsafe", name)
    run = igcli("explain", tmp_path / "lambda.keras", inputs, "--unsafe", "--steps", 4)
    assert run.exit_code == 0, run.stderr
    kernel = model.layers[-1].get_weights()[0][:, 0]
    np.testing.assert_allclose(run.arrays()["attributions"][0], 3.0 * kernel, rtol=1e-5)
    assert "warning: --unsafe" in run.stderr


def test_custom_layer_needs_custom_objects_file(igcli, tmp_path):
    code = textwrap.dedent(
        """
        import keras

        @keras.saving.register_keras_serializable(package="igcli_test")
        class Cube(keras.layers.Layer):
            def call(self, x):
                return x ** 3
        """
    )
    (tmp_path / "layers.py").write_text(code)
    namespace = {}
    exec(compile(code, "layers.py", "exec"), namespace)
    x = keras.Input((2,))
    model = keras.Model(x, keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")(namespace["Cube"]()(x)))
    model.save(tmp_path / "cube.keras")
    keras.saving.get_custom_objects().clear()  # a fresh process would not know the class either
    inputs = save_npy(tmp_path / "x.npy", [[1.0, 2.0]])
    assert_one_line_error(igcli("explain", tmp_path / "cube.keras", inputs), 2, "--custom-objects")
    run = igcli(
        "explain", tmp_path / "cube.keras", inputs, "--custom-objects", tmp_path / "layers.py", "--steps", 8, "--method", "gausslegendre"
    )  # exact for a cube
    assert run.exit_code == 0, run.stderr
    # F = x1^3 + x2^3: complete with 8 Gauss-Legendre points (degree 2 integrand): A = x^3
    np.testing.assert_allclose(run.arrays()["attributions"][0], [1.0, 8.0], rtol=1e-5)


@pytest.mark.parametrize("content, fragment", [(b"not a model at all", "not a Keras 3 .keras archive"), (None, "truncated")])
def test_broken_model_files_are_refused(igcli, saved, tmp_path, content, fragment):
    root, _ = saved
    path = tmp_path / "bad.keras"
    data = (root / "m.keras").read_bytes()
    path.write_bytes(content if content is not None else data[: len(data) // 2])
    assert_one_line_error(igcli("explain", path, root / "x.npy"), 2, "bad.keras", fragment)


def test_unknown_model_path_or_format(igcli, saved, tmp_path):
    root, _ = saved
    assert_one_line_error(igcli("explain", tmp_path / "missing.keras", root / "x.npy"), 2, "no such model")
    (tmp_path / "model.onnx").write_bytes(b"x")
    assert_one_line_error(igcli("explain", tmp_path / "model.onnx", root / "x.npy"), 2, "unknown model format")
    os.mkdir(tmp_path / "empty_dir")
    assert_one_line_error(igcli("explain", tmp_path / "empty_dir", root / "x.npy"), 2, "not a SavedModel")


def test_savedmodel_without_a_float_input_and_debug_traceback(igcli, tmp_path):
    module = tf.Module()
    module.serve = tf.function(lambda ids: {"y": tf.cast(ids, tf.float32) * 2.0}, input_signature=[tf.TensorSpec([None, 2], tf.int32, name="ids")])
    tf.saved_model.save(module, str(tmp_path / "ints"), signatures={"serving_default": module.serve})
    x = save_npy(tmp_path / "x.npy", [[1.0, 2.0]])
    assert_one_line_error(igcli("explain", tmp_path / "ints", x), 2, "no float input")
    debug = igcli("explain", tmp_path / "ints", x, "--debug")
    assert debug.exit_code == 2 and "Traceback" in debug.stderr and debug.stderr.strip().endswith("no float input")
