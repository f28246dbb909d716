"""What the engine needs of a model, whatever it was saved as."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from igcli.errors import UsageProblem
from igcli.tfimport import tensorflow as _tensorflow


@dataclass
class LoadedModel:
    call: Callable[[Any], Any]  # float32 batch -> output batch (tf tensors)
    input_shape: tuple  # without the batch dimension; None for a free size
    input_dtype: str
    output_shape: tuple  # without the batch dimension
    kind: str  # "keras" or "savedmodel"
    path: Path
    description: str
    keras_model: Any = None
    output_names: list = field(default_factory=list)
    keep_alive: Any = None  # a SavedModel's root: its variables die with it
    # Several inputs: (name, shape) each. `call` then takes one flat float32 row per instance,
    # the inputs flattened and concatenated in this order, and input_shape is (total,).
    input_layout: list = field(default_factory=list)
    # turns a forward function of the model's own inputs into `call` (flattening several inputs)
    adapt: Callable[[Callable], Callable] = lambda forward: forward


def file_sha256(path: Path) -> str:
    """sha256 of a file, or of every file of a directory in sorted order (with their names)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def flat_inputs(path: Path, layout: list, dtypes: dict, run: Callable, **facts) -> LoadedModel:
    """A model of several inputs seen as one of a flat vector: completeness then sums over all.
    run: a forward function of the model's own inputs (a dict by name); facts: the rest of the
    LoadedModel (output_shape, kind, path, description, ...)."""
    tf = _tensorflow()
    for name, shape in layout:
        if any(d is None for d in shape):
            raise UsageProblem(f"{path}: input {name!r} has a free dimension {shape}; several inputs need fixed shapes")
        if "int" in str(dtypes[name]):
            raise UsageProblem(f"{path}: input {name!r} takes integers; several inputs are supported when all are float")
    sizes = [int(np.prod(shape)) for _, shape in layout]

    def adapt(forward):
        def call(flat):
            parts = tf.split(flat, sizes, axis=1)
            return forward({name: tf.cast(tf.reshape(part, [-1, *shape]), dtypes[name]) for (name, shape), part in zip(layout, parts)})

        return call

    return LoadedModel(call=adapt(run), input_shape=(sum(sizes),), input_dtype="float32", path=path, input_layout=layout, adapt=adapt, **facts)
