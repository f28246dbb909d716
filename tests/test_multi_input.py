"""Models with several inputs: one .npz array per input, attributions per input, completeness
summed over all of them."""

import keras
import numpy as np
import tensorflow as tf

from tests.conftest import assert_one_line_error


def two_input_model():
    keras.utils.set_random_seed(3)
    image = keras.Input((4, 4, 1), name="image")
    extra = keras.Input((3,), name="extra")
    hidden = keras.layers.Concatenate()([keras.layers.Flatten()(image), extra])
    hidden = keras.layers.Dense(8, activation="tanh")(hidden)
    return keras.Model({"image": image, "extra": extra}, keras.layers.Dense(2)(hidden))


def test_two_inputs_complete_and_split_per_input(igcli, tmp_path):
    model = two_input_model()
    model.save(tmp_path / "two.keras")
    rng = np.random.default_rng(0)
    data = {"image": rng.normal(size=(5, 4, 4, 1)).astype(np.float32), "extra": rng.normal(size=(5, 3)).astype(np.float32)}
    np.savez(tmp_path / "x.npz", **data)
    run = igcli("explain", tmp_path / "two.keras", tmp_path / "x.npz", "--steps", 64, "--target", 1)
    assert run.exit_code == 0, run.stderr
    arrays = run.arrays()
    image, extra = arrays["attributions"]["image"], arrays["attributions"]["extra"]
    assert image.shape == (5, 4, 4, 1) and extra.shape == (5, 3)
    expected = model.predict(data, verbose=0)[:, 1]
    np.testing.assert_allclose(arrays["scores"], expected, rtol=1e-5)
    total = image.reshape(5, -1).sum(axis=1) + extra.sum(axis=1)
    np.testing.assert_allclose(total, arrays["scores"] - arrays["baseline_scores"], atol=1e-4)  # completeness over both
    # the npz format splits the same way
    npz = igcli("explain", tmp_path / "two.keras", tmp_path / "x.npz", "--steps", 64, "--target", 1, "--format", "npz")
    with np.load(npz.out / "attributions.npz") as archive:
        np.testing.assert_array_equal(archive["attributions.extra"], extra)


def test_multi_input_savedmodel_and_errors(igcli, tmp_path):
    module = tf.Module()
    module.serve = tf.function(
        lambda a, b: {"y": tf.reduce_sum(a * a, axis=1, keepdims=True) + 3.0 * b},
        input_signature=[tf.TensorSpec([None, 2], tf.float32, name="a"), tf.TensorSpec([None, 1], tf.float32, name="b")],
    )
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures={"serving_default": module.serve})
    np.savez(tmp_path / "x.npz", a=np.array([[1.0, 2.0]], np.float32), b=np.array([[4.0]], np.float32))
    run = igcli("explain", tmp_path / "sm", tmp_path / "x.npz", "--steps", 4)
    assert run.exit_code == 0, run.stderr
    arrays = run.arrays()
    # F = a1^2 + a2^2 + 3 b, zero baseline: A_a = a^2 (exact with Gauss-Legendre), A_b = 3 b
    np.testing.assert_allclose(arrays["attributions"]["a"][0], [1.0, 4.0], rtol=1e-5)
    np.testing.assert_allclose(arrays["attributions"]["b"][0], [12.0], rtol=1e-5)
    # baselines per input, by name: b's baseline equal to b leaves b nothing to explain
    np.savez(tmp_path / "base.npz", a=np.zeros(2, np.float32), b=np.array([4.0], np.float32))
    based = igcli("explain", tmp_path / "sm", tmp_path / "x.npz", "--steps", 4, "--baseline", tmp_path / "base.npz").arrays()
    np.testing.assert_allclose(based["attributions"]["a"][0], [1.0, 4.0], rtol=1e-5)
    np.testing.assert_allclose(based["attributions"]["b"][0], [0.0], atol=1e-6)
    np.savez(tmp_path / "short.npz", a=np.zeros((1, 2), np.float32))
    assert_one_line_error(igcli("explain", tmp_path / "sm", tmp_path / "short.npz"), 2, "input(s) b")
    np.save(tmp_path / "x.npy", np.zeros((1, 3), np.float32))
    assert_one_line_error(igcli("explain", tmp_path / "sm", tmp_path / "x.npy"), 2, "one array per input")
