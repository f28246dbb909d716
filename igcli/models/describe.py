"""igcli inspect: a model's inputs, outputs, layers (Keras) or signatures (SavedModel), as plain data."""

from __future__ import annotations

from pathlib import Path

from igcli.errors import UsageProblem
from igcli.models.detect import model_kind
from igcli.models.heads import softmax_head
from igcli.models.keras_files import import_custom_objects, load_keras_model, output_names
from igcli.models.preprocessing import preprocessing
from igcli.tfimport import tensorflow as _tensorflow


def describe_model(path: str | Path, *, unsafe: bool = False, custom_objects_file: str | None = None) -> dict:
    """Inputs, outputs, layers (Keras) or signatures (SavedModel), as plain data."""
    from igcli.stores import local_copy

    given, path = str(path), local_copy(path, "model")
    if model_kind(path) == "savedmodel":
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
        hidden = {"layers": [], "advice": "a SavedModel shows no layers: how it scales its input is for its exporter to say (docs/your-model.md)"}
        return {"path": given, "kind": "savedmodel", "signatures": signatures, "preprocessing": hidden}
    custom_objects = import_custom_objects(custom_objects_file) if custom_objects_file else {}
    model = load_keras_model(path, unsafe, custom_objects)
    return {
        "path": given,
        "kind": "keras",
        "name": model.name,
        "inputs": [_spec(t.name, t) for t in model.inputs],
        "outputs": [_spec(name, t) for name, t in zip(output_names(model), model.outputs)],
        "softmax_head": softmax_head(model),
        "preprocessing": preprocessing(model),
        "layers": [{"name": layer.name, "type": type(layer).__name__, "output_shape": _shape(getattr(layer, "output", None))} for layer in model.layers],
    }


def _shape(tensor) -> list | None:
    try:
        return [None if d is None else int(d) for d in tensor.shape]
    except (AttributeError, ValueError, TypeError):
        return None


def _spec(name: str, tensor) -> dict:
    dtype = getattr(tensor.dtype, "name", str(tensor.dtype))
    return {"name": name, "shape": _shape(tensor), "dtype": dtype}
