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


def many_kinks(x: np.ndarray, units: int, seed: int = 0) -> tuple[keras.Model, np.ndarray]:
    """F(x) = sum_j c_j ReLU(w_j . x + b_j): a ReLU layer whose units switch at points spread
    uniformly along every path from 0 to one of the rows of x, so that the gradient along each path
    jumps `units` times. -> (model, exact IG from a zero baseline for each row [N, D]).

    Along alpha x, unit j's input alpha s_j + b_j (s_j = w_j . x) is linear, so unit j is on for a
    length L_j of [0, 1] and A_i = x_i sum_j c_j w_ji L_j. The biases put unit j's switch at a
    uniform random u_j along the first row's path; rows near it switch most units on their paths."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(x.shape[1], units))
    s = x[0] @ weights
    bias = -rng.uniform(0, 1, units) * s  # unit j switches at alpha = u_j along the first row's path
    out = rng.normal(size=(units, 1))
    inputs = keras.Input((x.shape[1],))
    hidden, head = keras.layers.Dense(units, activation="relu"), keras.layers.Dense(1, use_bias=False)
    model = keras.Model(inputs, head(hidden(inputs)))
    hidden.set_weights([weights.astype(np.float32), bias.astype(np.float32)])
    head.set_weights([out.astype(np.float32)])
    w, b, c = weights.astype(np.float32).astype(np.float64), bias.astype(np.float32).astype(np.float64), out[:, 0].astype(np.float32).astype(np.float64)
    exact = []
    for row in np.asarray(x, np.float64):
        s = row @ w
        root = np.divide(-b, s, out=np.full_like(s, np.inf), where=s != 0)
        on = np.where(s > 0, np.clip(1 - root, 0, 1), np.where(s < 0, np.clip(root, 0, 1), (b > 0) * 1.0))
        exact.append(row * (w @ (c * on)))
    return model, np.array(exact)


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
