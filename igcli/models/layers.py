"""Attributing to a layer (--layer): the model seen from inside, as activations(x) up to the layer
and F as a function of them; and which models take integer token ids."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from igcli.errors import UsageProblem
from igcli.models.adapter import LoadedModel
from igcli.tfimport import keras as _keras
from igcli.tfimport import tensorflow as _tensorflow


@dataclass
class LayerSplit:
    """F seen from inside: activations(x) up to the layer, and F as a function of them."""

    activations: Callable[[Any], Any]  # model input batch -> the layer's output (or input) batch
    head: Callable[[Any], Any]  # activation batch -> the model's output batch
    shape: tuple  # activation shape without the batch dimension
    layer_type: str


def integer_inputs(model: LoadedModel) -> bool:
    return "int" in str(model.input_dtype)


def embedding_layers(model: LoadedModel) -> list[str]:
    if model.keras_model is None:
        return []
    return [layer.name for layer in model.keras_model.layers if type(layer).__name__ == "Embedding"]


def split_at_layer(model: LoadedModel, name: str, use_input: bool) -> LayerSplit:
    """IG in a layer's activation space. The head substitutes the given activations for the
    layer's output (or input) and runs the rest of the network, whatever its topology."""
    if model.kind != "keras":
        raise UsageProblem(f"{model.path}: --layer needs a Keras model (.keras/.h5); a SavedModel's graph has no named layers to stop at")
    keras, tf = _keras(), _tensorflow()
    if model.input_layout:
        raise UsageProblem(f"{model.path}: --layer with several model inputs is not supported")
    net = model.keras_model
    names = [layer.name for layer in net.layers]
    if name not in names:
        raise UsageProblem(f"{model.path}: no layer {name!r}; layers: {', '.join(names)} (see igcli inspect)")
    layer = net.get_layer(name)
    if getattr(layer, "mask_zero", False):
        raise UsageProblem(f"{model.path}: layer {name!r} computes a padding mask from its input, which --layer cannot carry along the path")
    tensor = layer.input if use_input else layer.output
    if isinstance(tensor, (list, tuple)):
        raise UsageProblem(f"{model.path}: layer {name!r} has several {'inputs' if use_input else 'outputs'}; choose a layer with one")
    upstream = keras.Model(net.inputs, tensor)
    input_dtype = net.inputs[0].dtype
    input_shape = tuple(net.inputs[0].shape[1:])

    def activations(x):
        # token ids travel as float32 arrays; they are cast back to the model's integer dtype here
        # and never differentiated: the path starts at the layer's activations
        return tf.cast(upstream(tf.cast(x, input_dtype), training=False), tf.float32)

    def head(a):
        dummy = tf.zeros(tf.concat([[tf.shape(a)[0]], input_shape], 0), input_dtype)
        original = layer.__dict__.get("call")
        bound = layer.call
        if use_input:
            layer.call = lambda inputs, *args, **kwargs: bound(tf.cast(a, layer.compute_dtype), *args, **kwargs)
        else:
            layer.call = lambda *args, **kwargs: tf.cast(a, layer.compute_dtype)
        try:
            return net(dummy, training=False)
        finally:
            if original is None:
                del layer.call
            else:
                layer.call = original

    return LayerSplit(activations, head, tuple(tensor.shape[1:]), type(layer).__name__)
