"""What a Keras model's output means to IG: logits or probabilities (--output), and the
precision it computes in (--precision)."""

from __future__ import annotations

from igcli.errors import UsageProblem
from igcli.models.adapter import LoadedModel
from igcli.tfimport import keras as _keras
from igcli.tfimport import tensorflow as _tensorflow


def softmax_head(model) -> str | None:
    """How the last layer applies softmax: 'layer' (a Softmax/Activation layer), 'activation'
    (a layer with activation=softmax), or None."""
    keras = _keras()
    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return "layer"
    activation = getattr(last, "activation", None)
    if getattr(activation, "__name__", None) == "softmax":
        return "layer" if isinstance(last, keras.layers.Activation) else "activation"
    return None


def select_output_space(model: LoadedModel, output: str) -> None:
    """Make `model.call` return logits or probabilities, as asked."""
    if model.kind != "keras":
        # A SavedModel has no layers to inspect; 'probabilities' of a logits signature would be a
        # guess, so both choices are refused rather than silently ignored.
        raise UsageProblem(f"{model.path}: --output needs a Keras model (.keras/.h5)")
    keras = _keras()
    tf = _tensorflow()
    net = model.keras_model
    head = softmax_head(net)
    if output == "probabilities":
        if head is None:
            model.call = model.adapt(lambda x: tf.nn.softmax(net(x, training=False), axis=-1))
            model.description += ", softmax added on top of its logits"
        return
    if head is None:
        return  # the model already outputs pre-softmax values
    last = net.layers[-1]
    if head == "layer":
        logits = keras.Model(net.inputs, last.input)
    else:
        # Rebuild the last layer without its activation and give it the same weights.
        config = dict(last.get_config(), activation="linear", name=last.name + "_logits")
        clone = last.__class__.from_config(config)
        outputs = clone(last.input)
        clone.set_weights(last.get_weights())
        logits = keras.Model(net.inputs, outputs)
    model.keras_model = logits
    model.call = model.adapt(lambda x: logits(x, training=False))
    model.description += ", softmax removed: attributing logits"


def set_precision(model: LoadedModel, precision: str) -> None:
    """Compute in float16/bfloat16 with float32 weights (Keras mixed precision), per layer."""
    if model.kind != "keras":
        raise UsageProblem(f"{model.path}: --precision {precision} needs a Keras model; a SavedModel's dtypes are fixed")
    for layer in model.keras_model.layers:
        layer.dtype_policy = precision
    model.description += f", computing in {precision}"
