"""Where the path runs: the model input, or a layer's activations (--layer)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from igcli.errors import UsageProblem


@dataclass
class AttributionSpace:
    model_call: Callable  # engine-space batch -> model outputs
    shape: tuple  # engine-space shape of one instance
    stored_shape: tuple  # shape of one instance's stored attributions
    to_space: Callable | None = None  # model-input batch -> engine-space batch; None: identity
    per_token: bool = False  # token models: attributions summed over the embedding dimension
    layer_type: str = ""

    def map(self, x: np.ndarray) -> np.ndarray:
        return x if self.to_space is None else self.to_space(x).numpy()

    def store(self, attributions: np.ndarray) -> np.ndarray:
        return attributions.sum(axis=-1) if self.per_token else attributions


def attribution_space(options, model, instance_shape: tuple) -> AttributionSpace:
    from igcli.models import embedding_layers, integer_inputs, split_at_layer

    if options.layer is None:
        if integer_inputs(model):
            names = embedding_layers(model)
            hint = f"--layer {names[0]}" if names else "--layer NAME (see igcli inspect)"
            raise UsageProblem(f"{options.model}: the model takes integer token ids, which have no gradient; attribute to the embedding with {hint}")
        if options.layer_input:
            raise UsageProblem("--layer-input needs --layer NAME")
        return AttributionSpace(model.call, instance_shape, instance_shape)
    split = split_at_layer(model, options.layer, options.layer_input)
    per_token = integer_inputs(model) and split.shape[:-1] == tuple(instance_shape)
    stored = split.shape[:-1] if per_token else split.shape
    return AttributionSpace(split.head, split.shape, stored, split.activations, per_token, split.layer_type)
