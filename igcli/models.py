"""Load a Keras file or a SavedModel into one small adapter the engine can call."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from igcli.errors import UsageProblem
from igcli.tfimport import keras as _keras
from igcli.tfimport import tensorflow as _tensorflow

KERAS_SUFFIXES = (".keras",)
H5_SUFFIXES = (".h5", ".hdf5")


@dataclass
class LoadedModel:
    """What the engine needs of a model, whatever it was saved as."""

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


def load_model(
    path: str | Path,
    *,
    unsafe: bool = False,
    custom_objects_file: str | None = None,
    signature: str | None = None,
    input_key: str | None = None,
    output_key: str | None = None,
    output: str | None = None,
    precision: str = "float32",
) -> LoadedModel:
    path = Path(path)
    if _model_kind(path) == "savedmodel":
        if output == "logits":
            raise UsageProblem(
                f"{path}: --output logits needs a Keras model (.keras/.h5): a SavedModel has no "
                "layers to take the softmax off"
            )
        model = _load_saved_model(path, signature, input_key, output_key)
    else:
        custom_objects = _import_custom_objects(custom_objects_file) if custom_objects_file else {}
        model = _load_keras(path, unsafe, custom_objects, output_key)
    if output is not None:
        _select_output_space(model, output)
    if precision != "float32":
        _set_precision(model, precision)
    return model


def _set_precision(model: LoadedModel, precision: str) -> None:
    """Compute in float16/bfloat16 with float32 weights (Keras mixed precision), per layer."""
    if model.kind != "keras":
        raise UsageProblem(f"{model.path}: --precision {precision} needs a Keras model; a SavedModel's dtypes are fixed")
    for layer in model.keras_model.layers:
        layer.dtype_policy = precision
    model.description += f", computing in {precision}"


def _model_kind(path: Path) -> str:
    """'savedmodel' or 'keras', from the path alone; anything else is a usage error."""
    if not path.exists():
        raise UsageProblem(f"{path}: no such model file or directory")
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise UsageProblem(f"{path}: a directory but not a SavedModel (no saved_model.pb)")
        return "savedmodel"
    if path.suffix.lower() not in KERAS_SUFFIXES + H5_SUFFIXES:
        raise UsageProblem(f"{path}: unknown model format {path.suffix!r}; expected .keras, .h5, .hdf5 or a SavedModel directory")
    return "keras"


# --- Keras files --------------------------------------------------------------------------------


def _keras_config(path: Path) -> dict:
    """The model's architecture as JSON, read without building anything from it."""
    try:
        if path.suffix.lower() in KERAS_SUFFIXES:
            with zipfile.ZipFile(path) as archive:
                return json.loads(archive.read("config.json"))
        import h5py

        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
            if raw is None:
                raise UsageProblem(f"{path}: an HDF5 file without a model_config (weights only?)")
            return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except UsageProblem:
        raise
    except (zipfile.BadZipFile, KeyError):
        raise UsageProblem(f"{path}: not a Keras 3 .keras archive (corrupt or truncated?)") from None
    except (OSError, ValueError) as error:
        raise UsageProblem(f"{path}: not a readable Keras HDF5 model ({error})") from None


def _layer_configs(config: Any):
    """Every {class_name: ...} entry of an architecture, at any depth."""
    if isinstance(config, dict):
        if isinstance(config.get("class_name"), str):
            yield config
        for value in config.values():
            yield from _layer_configs(value)
    elif isinstance(config, list):
        for value in config:
            yield from _layer_configs(value)


def _unknown_classes(config: dict, custom_objects: dict) -> list[str]:
    """Classes a Keras 3 file names from outside Keras that nobody has registered."""
    known = set(_keras().saving.get_custom_objects()) | set(custom_objects)
    unknown = []
    for entry in _layer_configs(config):
        module = entry.get("module")
        if module is None or str(module).startswith("keras") or entry["class_name"] in known:
            continue
        if entry.get("registered_name") not in known and entry["class_name"] not in unknown:
            unknown.append(entry["class_name"])
    return unknown


def _import_custom_objects(file: str) -> dict:
    """Run the user's FILE.py (it may register layers) and return what it offers by name."""
    path = Path(file)
    if not path.is_file():
        raise UsageProblem(f"{path}: --custom-objects file not found")
    spec = importlib.util.spec_from_file_location(f"igcli_custom_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's code: any failure is theirs to see, in one line
        raise UsageProblem(f"{path}: --custom-objects failed to import: {error}") from None
    offered = getattr(module, "CUSTOM_OBJECTS", None)
    if offered is None:
        offered = {
            name: value
            for name, value in vars(module).items()
            if not name.startswith("_") and callable(value)
        }
    return dict(offered)


def _load_keras_model(path: Path, unsafe: bool, custom_objects: dict):
    """A Keras model from .keras/.h5, refusing code-carrying and unknown layers unless allowed."""
    # Our own look at the architecture before Keras runs anything from it: Lambda layers carry
    # Python code, so they are refused unless the user says the file is trusted.
    config = _keras_config(path)
    if any(entry["class_name"] == "Lambda" for entry in _layer_configs(config)) and not unsafe:
        raise UsageProblem(
            f"{path}: the model has Lambda layers, which run code stored in the file; "
            "load it only if you trust it, with --unsafe"
        )
    unknown = _unknown_classes(config, custom_objects)
    if unknown:
        raise UsageProblem(
            f"{path}: unknown custom layer(s) {', '.join(unknown)}; define or register them in a "
            "file given with --custom-objects FILE.py"
        )
    keras = _keras()
    if unsafe:
        keras.config.enable_unsafe_deserialization()
    try:
        if path.suffix.lower() in KERAS_SUFFIXES:
            model = keras.saving.load_model(
                path, custom_objects=custom_objects, compile=False, safe_mode=not unsafe
            )
        else:
            model = keras.saving.load_model(path, custom_objects=custom_objects, compile=False)
    except Exception as error:  # Keras raises many types for a bad file; the user needs one line
        message = " ".join(str(error).split())
        if "Unknown layer" in message or "Could not locate class" in message:
            message += " (register it with --custom-objects FILE.py)"
        raise UsageProblem(f"{path}: cannot load the Keras model: {message[:400]}") from None
    return model


def _load_keras(path: Path, unsafe: bool, custom_objects: dict, output_key: str | None) -> LoadedModel:
    keras = _keras()
    model = _load_keras_model(path, unsafe, custom_objects)
    outputs = list(model.outputs)
    names = _output_names(model)
    if len(outputs) > 1:
        if output_key is None:
            raise UsageProblem(
                f"{path}: the model has {len(outputs)} outputs ({', '.join(names)}); "
                "choose one with --output-key"
            )
        if output_key not in names:
            raise UsageProblem(f"{path}: no output {output_key!r}; outputs: {', '.join(names)}")
        model = keras.Model(model.inputs, outputs[names.index(output_key)])
    tensor = model.inputs[0]
    if len(model.inputs) > 1:
        layout = [(t.name, tuple(t.shape[1:])) for t in model.inputs]
        dtypes = {t.name: t.dtype for t in model.inputs}
        return _flat_inputs(path, layout, dtypes, lambda feed: model(feed, training=False), LoadedModel(
            call=None, input_shape=(), input_dtype="float32", output_shape=tuple(model.outputs[0].shape[1:]),
            kind="keras", path=path, description=f"Keras model {model.name!r} with {len(layout)} inputs",
            keras_model=model, output_names=names,
        ))
    return LoadedModel(
        call=lambda x: model(x, training=False),
        input_shape=tuple(tensor.shape[1:]),
        input_dtype=str(tensor.dtype),
        output_shape=tuple(model.outputs[0].shape[1:]),
        kind="keras",
        path=path,
        description=f"Keras model {model.name!r}",
        keras_model=model,
        output_names=names,
    )


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


def _select_output_space(model: LoadedModel, output: str) -> None:
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


# --- SavedModels --------------------------------------------------------------------------------


def _load_saved_model(path: Path, signature: str | None, input_key: str | None, output_key: str | None) -> LoadedModel:
    tf = _tensorflow()
    try:
        root = tf.saved_model.load(str(path))
    except Exception as error:  # protobuf and op errors alike: one line for the user
        message = " ".join(str(error).split())[:400]
        raise UsageProblem(f"{path}: cannot load the SavedModel: {message}") from None
    signatures = dict(getattr(root, "signatures", {}) or {})
    if not signatures:
        raise UsageProblem(f"{path}: the SavedModel has no signatures to call")
    name = signature or ("serving_default" if "serving_default" in signatures else None)
    if name is None:
        if len(signatures) > 1:
            raise UsageProblem(
                f"{path}: several signatures ({', '.join(sorted(signatures))}); choose one with --signature"
            )
        name = next(iter(signatures))
    if name not in signatures:
        raise UsageProblem(f"{path}: no signature {name!r}; signatures: {', '.join(sorted(signatures))}")
    function = signatures[name]
    inputs = function.structured_input_signature[1]
    floats = {key: spec for key, spec in inputs.items() if spec.dtype.is_floating}
    outputs = function.structured_outputs
    out_key = _choose(path, "output", output_key, outputs, outputs, "--output-key")
    if len(inputs) > 1:
        # a signature needs all its arguments: igcli attributes to every input at once
        if input_key is not None:
            raise UsageProblem(f"{path}: --input-key {input_key}: signature {name!r} has several inputs ({', '.join(sorted(inputs))}) and igcli attributes to every input at once; leave --input-key out")
        if len(floats) != len(inputs):
            raise UsageProblem(f"{path}: signature {name!r} takes non-float inputs ({', '.join(k for k in inputs if k not in floats)}); only float inputs can be attributed")
        layout = [(k, tuple(spec.shape[1:])) for k, spec in sorted(inputs.items())]
        return _flat_inputs(path, layout, {k: spec.dtype for k, spec in inputs.items()}, lambda feed: function(**feed)[out_key], LoadedModel(
            call=None, input_shape=(), input_dtype="float32", output_shape=tuple(outputs[out_key].shape[1:]),
            kind="savedmodel", path=path, description=f"SavedModel signature {name!r}, {len(layout)} inputs, output {out_key!r}",
            output_names=list(outputs), keep_alive=root,
        ))
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


def _flat_inputs(path: Path, layout: list, dtypes: dict, run: Callable, model: LoadedModel) -> LoadedModel:
    """A model of several inputs seen as one of a flat vector: completeness then sums over all."""
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

    model.adapt = adapt
    model.call = adapt(run)
    model.input_shape = (sum(sizes),)
    model.input_layout = layout
    return model


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


# --- igcli inspect ------------------------------------------------------------------------------


def describe_model(path: str | Path, *, unsafe: bool = False, custom_objects_file: str | None = None) -> dict:
    """Inputs, outputs, layers (Keras) or signatures (SavedModel), as plain data."""
    path = Path(path)
    if _model_kind(path) == "savedmodel":
        tf = _tensorflow()
        try:
            root = tf.saved_model.load(str(path))
        except Exception as error:  # protobuf and op errors alike: one line for the user
            raise UsageProblem(f"{path}: cannot load the SavedModel: {' '.join(str(error).split())[:400]}") from None
        signatures = {}
        for name, function in (getattr(root, "signatures", {}) or {}).items():
            signatures[name] = {
                "inputs": [_spec(key, spec) for key, spec in function.structured_input_signature[1].items()],
                "outputs": [_spec(key, spec) for key, spec in function.structured_outputs.items()],
            }
        return {"path": str(path), "kind": "savedmodel", "signatures": signatures}
    custom_objects = _import_custom_objects(custom_objects_file) if custom_objects_file else {}
    model = _load_keras_model(path, unsafe, custom_objects)
    return {
        "path": str(path),
        "kind": "keras",
        "name": model.name,
        "inputs": [_spec(t.name, t) for t in model.inputs],
        "outputs": [_spec(name, t) for name, t in zip(_output_names(model), model.outputs)],
        "softmax_head": softmax_head(model),
        "layers": [
            {"name": layer.name, "type": type(layer).__name__, "output_shape": _shape(getattr(layer, "output", None))}
            for layer in model.layers
        ],
    }


def _output_names(model) -> list[str]:
    """Functional models name their outputs; a Sequential's one output is its last layer's."""
    names = getattr(model, "output_names", None)
    if names:
        return list(names)
    if len(model.outputs) == 1:
        return [model.layers[-1].name]
    return [t.name for t in model.outputs]


def _shape(tensor) -> list | None:
    try:
        return [None if d is None else int(d) for d in tensor.shape]
    except (AttributeError, ValueError, TypeError):
        return None


def _spec(name: str, tensor) -> dict:
    dtype = getattr(tensor.dtype, "name", str(tensor.dtype))
    return {"name": name, "shape": _shape(tensor), "dtype": dtype}


# --- attributing to a layer ---------------------------------------------------------------------


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
