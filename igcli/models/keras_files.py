"""Keras files (.keras, Keras 3 or Keras 2 .h5): read the architecture, refuse what runs code or
is unknown, then load; and the adapter for a loaded Keras model.

Model files are untrusted: the architecture is read as JSON and screened before Keras builds
anything from it."""

from __future__ import annotations

import importlib.util
import json
import zipfile
from pathlib import Path
from typing import Any

from igcli.errors import UsageProblem
from igcli.models.adapter import LoadedModel, flat_inputs
from igcli.models.detect import KERAS_SUFFIXES
from igcli.tfimport import keras as _keras


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


def import_custom_objects(file: str) -> dict:
    """Run the user's FILE.py (it may register layers) and return what it offers by name."""
    from igcli.stores import local_copy

    path = local_copy(file, "custom objects")
    if not path.is_file():
        raise UsageProblem(f"{path}: --custom-objects file not found")
    spec = importlib.util.spec_from_file_location(f"igcli_custom_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise UsageProblem(f"{path}: --custom-objects is not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's code: any failure is theirs to see, in one line
        raise UsageProblem(f"{path}: --custom-objects failed to import: {error}") from None
    offered = getattr(module, "CUSTOM_OBJECTS", None)
    if offered is None:
        offered = {name: value for name, value in vars(module).items() if not name.startswith("_") and callable(value)}
    return dict(offered)


def load_keras_model(path: Path, unsafe: bool, custom_objects: dict):
    """A Keras model from .keras/.h5, refusing code-carrying and unknown layers unless allowed."""
    # Our own look at the architecture before Keras runs anything from it: Lambda layers carry
    # Python code, so they are refused unless the user says the file is trusted.
    config = _keras_config(path)
    if any(entry["class_name"] == "Lambda" for entry in _layer_configs(config)) and not unsafe:
        raise UsageProblem(f"{path}: the model has Lambda layers, which run code stored in the file; load it only if you trust it, with --unsafe")
    unknown = _unknown_classes(config, custom_objects)
    if unknown:
        raise UsageProblem(f"{path}: unknown custom layer(s) {', '.join(unknown)}; define or register them in a file given with --custom-objects FILE.py")
    keras = _keras()
    if unsafe:
        keras.config.enable_unsafe_deserialization()
    try:
        if path.suffix.lower() in KERAS_SUFFIXES:
            model = keras.saving.load_model(path, custom_objects=custom_objects, compile=False, safe_mode=not unsafe)
        else:
            model = keras.saving.load_model(path, custom_objects=custom_objects, compile=False)
    except Exception as error:  # Keras raises many types for a bad file; the user needs one line
        message = " ".join(str(error).split())
        if "Unknown layer" in message or "Could not locate class" in message:
            message += " (register it with --custom-objects FILE.py)"
        raise UsageProblem(f"{path}: cannot load the Keras model: {message[:400]}") from None
    return model


def load_keras(path: Path, unsafe: bool, custom_objects: dict, output_key: str | None) -> LoadedModel:
    keras = _keras()
    model = load_keras_model(path, unsafe, custom_objects)
    outputs = list(model.outputs)
    names = output_names(model)
    if len(outputs) > 1:
        if output_key is None:
            raise UsageProblem(f"{path}: the model has {len(outputs)} outputs ({', '.join(names)}); choose one with --output-key")
        if output_key not in names:
            raise UsageProblem(f"{path}: no output {output_key!r}; outputs: {', '.join(names)}")
        model = keras.Model(model.inputs, outputs[names.index(output_key)])
    tensor = model.inputs[0]
    if len(model.inputs) > 1:
        layout = [(t.name, tuple(t.shape[1:])) for t in model.inputs]
        dtypes = {t.name: t.dtype for t in model.inputs}
        return flat_inputs(
            path,
            layout,
            dtypes,
            lambda feed: model(feed, training=False),
            output_shape=tuple(model.outputs[0].shape[1:]),
            kind="keras",
            description=f"Keras model {model.name!r} with {len(layout)} inputs",
            keras_model=model,
            output_names=names,
        )
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


def output_names(model) -> list[str]:
    """Functional models name their outputs; a Sequential's one output is its last layer's."""
    names = getattr(model, "output_names", None)
    if names:
        return list(names)
    if len(model.outputs) == 1:
        return [model.layers[-1].name]
    return [t.name for t in model.outputs]
