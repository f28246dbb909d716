"""SavedModels (model.export(), tf.saved_model.save, Keras 2 model.save(dir)): a signature, its
input and output, as a LoadedModel. The root object is kept alive with it: its variables die with it."""

from __future__ import annotations

from pathlib import Path

from igcli.errors import UsageProblem
from igcli.models.adapter import LoadedModel, flat_inputs
from igcli.tfimport import tensorflow as _tensorflow


def _signature(path: Path, root, signature: str | None):
    """-> (the signature's name, its function): --signature, else serving_default, else the only one."""
    signatures = dict(getattr(root, "signatures", {}) or {})
    if not signatures:
        raise UsageProblem(f"{path}: the SavedModel has no signatures to call")
    name = signature or ("serving_default" if "serving_default" in signatures else None)
    if name is None:
        if len(signatures) > 1:
            raise UsageProblem(f"{path}: several signatures ({', '.join(sorted(signatures))}); choose one with --signature")
        name = next(iter(signatures))
    if name not in signatures:
        raise UsageProblem(f"{path}: no signature {name!r}; signatures: {', '.join(sorted(signatures))}")
    return name, signatures[name]


def load_saved_model(path: Path, signature: str | None, input_key: str | None, output_key: str | None) -> LoadedModel:
    tf = _tensorflow()
    try:
        root = tf.saved_model.load(str(path))
    except Exception as error:  # protobuf and op errors alike: one line for the user
        message = " ".join(str(error).split())[:400]
        raise UsageProblem(f"{path}: cannot load the SavedModel: {message}") from None
    name, function = _signature(path, root, signature)
    inputs = function.structured_input_signature[1]
    floats = {key: spec for key, spec in inputs.items() if spec.dtype.is_floating}
    outputs = function.structured_outputs
    out_key = _choose(path, "output", output_key, outputs, outputs, "--output-key")
    if len(inputs) > 1:
        # a signature needs all its arguments: igcli attributes to every input at once
        if input_key is not None:
            raise UsageProblem(
                f"{path}: --input-key {input_key}: signature {name!r} has several inputs ({', '.join(sorted(inputs))}) and igcli attributes to every input at once; leave --input-key out"
            )
        if len(floats) != len(inputs):
            raise UsageProblem(
                f"{path}: signature {name!r} takes non-float inputs ({', '.join(k for k in inputs if k not in floats)}); only float inputs can be attributed"
            )
        layout = [(k, tuple(spec.shape[1:])) for k, spec in sorted(inputs.items())]
        return flat_inputs(
            path,
            layout,
            {k: spec.dtype for k, spec in inputs.items()},
            lambda feed: function(**feed)[out_key],
            output_shape=tuple(outputs[out_key].shape[1:]),
            kind="savedmodel",
            description=f"SavedModel signature {name!r}, {len(layout)} inputs, output {out_key!r}",
            output_names=list(outputs),
            keep_alive=root,
        )
    key = _choose(path, "input", input_key, inputs, floats, "--input-key")
    dtype = inputs[key].dtype

    def call(x):
        return function(**{key: tf.cast(x, dtype)})[out_key]

    return LoadedModel(
        call=call,
        input_shape=tuple(inputs[key].shape[1:]),
        input_dtype=dtype.name,
        output_shape=tuple(outputs[out_key].shape[1:]),
        kind="savedmodel",
        path=path,
        description=f"SavedModel signature {name!r}, input {key!r}, output {out_key!r}",
        output_names=list(outputs),
        keep_alive=root,
    )


def _choose(path: Path, what: str, asked: str | None, every: dict, usable: dict, flag: str) -> str:
    if asked is not None:
        if asked not in every:
            raise UsageProblem(f"{path}: no {what} {asked!r}; {what}s: {', '.join(sorted(every))}")
        if asked not in usable:
            raise UsageProblem(f"{path}: {what} {asked!r} is not a float tensor")
        return asked
    if len(usable) == 1:
        return next(iter(usable))
    if not usable:
        raise UsageProblem(f"{path}: the signature has no float {what}")
    raise UsageProblem(f"{path}: several {what}s ({', '.join(sorted(usable))}); choose one with {flag}")
