"""No gradient call runs on an empty batch, whatever the steps, batch size, instances and
branches: a convolution or a BatchNormalization layer rejects one on some CPUs' kernels (AMD
EPYC with oneDNN). Every split is checked against one plain call of all the path points."""

import numpy as np
import pytest
import tensorflow as tf

from igcli.methods.ig import IntegratedGradients
from igcli.methods.quadrature import alphas_and_weights
from igcli.models import load_model
from tests.models import batchnorm_cnn, batchnorm_cnn_keras2

# Different splits run the same arithmetic on different batch sizes, and a CPU's kernels may
# pick another algorithm for a tiny batch (a ReLU input near 0 can then flip sides). Measured:
# up to 2.3e-7 of the largest |A| here, 7e-4 on a real Keras-2 classifier on another CPU; the
# bound leaves room for that, and is far below a wrong or missing point (a whole 1/steps of A).
TOLERANCE = 2e-3


def refusing_empty_batches(call):
    """The model, failing on an empty batch on every CPU, as some CPUs' kernels do."""

    def strict(x):
        with tf.control_dependencies([tf.debugging.assert_positive(tf.shape(x)[0], message="empty batch")]):
            return call(x)

    return strict


@pytest.fixture(scope="module", params=["keras3", "keras2_h5"])
def model_call(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("bn")
    if request.param == "keras3":
        batchnorm_cnn(seed=2).save(root / "bn.keras")
        return refusing_empty_batches(load_model(root / "bn.keras").call)
    pytest.importorskip("tf_keras")
    batchnorm_cnn_keras2(root / "bn.h5", seed=2)
    return refusing_empty_batches(load_model(root / "bn.h5").call)


def plain_ig(call, x, targets, steps):
    """x * sum_k w_k grad F_t(a_k x): every path point of every instance in one gradient call."""
    alphas, weights = alphas_and_weights("gausslegendre", steps)
    points = tf.constant((alphas[None, :, None, None, None] * x[:, None]).reshape(-1, *x.shape[1:]), tf.float32)
    rows = np.repeat(np.asarray(targets), steps)

    @tf.function
    def gradients(points):
        with tf.GradientTape() as tape:
            tape.watch(points)
            chosen = tf.gather(call(points), rows[:, None], batch_dims=1)
        return tape.gradient(chosen, points)

    grads = gradients(points).numpy().reshape(len(x), steps, *x.shape[1:])
    return x * np.tensordot(weights, grads, axes=([0], [1]))


@pytest.mark.parametrize("steps", [1, 2])
@pytest.mark.parametrize("branches", [1, 2, 3])
def test_every_split_gives_the_one_call_result(model_call, steps, branches):
    rng = np.random.default_rng(steps)
    x = rng.uniform(0, 1, (3, 16, 16, 3)).astype(np.float32)
    targets = np.array([0, 2, 1])
    alphas, weights = alphas_and_weights("gausslegendre", steps)
    engine = IntegratedGradients.build(model_call, (16, 16, 3), alphas, weights, batch_size=1, branches=branches)
    for count in (1, 3):
        expected = plain_ig(model_call, x[:count], targets[:count], steps)
        scale = np.abs(expected).reshape(count, -1).max(axis=1)
        assert np.all(scale > 0)
        for batch_size in (1, 2, 3):
            engine.core.batch_size = batch_size  # calls of 1, 2 or 3 points: fewer than the branches
            result = engine.explain(x[:count], np.zeros((count, 1, 16, 16, 3), np.float32), targets[:count])
            error = np.abs(result.attributions - expected).reshape(count, -1).max(axis=1)
            assert np.all(error <= TOLERANCE * scale), (count, batch_size, error / scale)
