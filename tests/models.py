"""Tiny Keras models whose Integrated Gradients are known in closed form."""

import keras
import numpy as np


def power_sum(dim: int, power: int) -> keras.Model:
    """F(x) = sum_i x_i ** power, built from Multiply and a Dense layer of ones."""
    x = keras.Input((dim,))
    product = keras.layers.Multiply()([x] * power) if power > 1 else x
    out = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")(product)
    return keras.Model(x, out)


def linear(weights: np.ndarray, bias: np.ndarray) -> keras.Model:
    """F(x) = x W + b."""
    x = keras.Input((weights.shape[0],))
    layer = keras.layers.Dense(weights.shape[1])
    model = keras.Model(x, layer(x))
    layer.set_weights([weights, bias])
    return model


def paper_example() -> keras.Model:
    """f(x1, x2) = ReLU(ReLU(x1) - 1 - ReLU(x2)), Sundararajan et al. 2017, section 2."""
    x = keras.Input((2,))
    hidden = keras.layers.ReLU()(x)
    layer = keras.layers.Dense(1, activation="relu")
    model = keras.Model(x, layer(hidden))
    layer.set_weights([np.array([[1.0], [-1.0]], np.float32), np.array([-1.0], np.float32)])
    return model


def small_cnn(seed: int = 0, classes: int = 3) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(classes, activation="softmax"),
        ]
    )


def bright_quadrant_data(count: int, seed: int = 0):
    """Noisy 16x16 images whose class is the bright quadrant (0: top left, 1: top right, 2: bottom)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.3, size=(count, 16, 16, 3)).astype(np.float32)
    y = rng.integers(0, 3, size=count)
    for image, label in zip(x, y):
        rows, cols = [(slice(0, 8), slice(0, 8)), (slice(0, 8), slice(8, 16)), (slice(8, 16), slice(0, 16))][label]
        image[rows, cols] += 0.6
    return x, y


def trained_cnn(seed: int = 0) -> keras.Model:
    model = small_cnn(seed)
    x, y = bright_quadrant_data(600, seed)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    return model


def batchnorm_cnn(seed: int = 0) -> keras.Model:
    """Convolutions with BatchNormalization (non-trivial moving statistics, so inference-mode
    normalisation really rescales), the layer pair that some CPUs' kernels reject on empty batches."""
    keras.utils.set_random_seed(seed)
    model = _batchnorm_architecture(keras)
    _randomise_batchnorm(model, seed)
    return model


def batchnorm_cnn_keras2(path, seed: int = 0) -> None:
    """The same architecture written by tf-keras as a Keras-2-era .h5 file, weights copied over."""
    import tf_keras

    legacy = _batchnorm_architecture(tf_keras)
    legacy.set_weights(batchnorm_cnn(seed).get_weights())
    legacy.save(path)


def _batchnorm_architecture(library):
    """Built with Keras 3 or tf-keras: their layer APIs agree."""
    layers = library.layers
    return library.Sequential(
        [
            library.Input((16, 16, 3)),
            layers.Conv2D(8, 3),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2D(8, 3, padding="same"),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.GlobalAveragePooling2D(),
            layers.Dense(3),
        ]
    )


def _randomise_batchnorm(model: keras.Model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            shape = layer.get_weights()[0].shape
            layer.set_weights([rng.uniform(0.5, 1.5, shape), rng.normal(0, 0.2, shape), rng.normal(0, 0.1, shape), rng.uniform(0.5, 2.0, shape)])
