"""Models: a Keras file or a SavedModel, loaded into one small adapter the engine can call.

detect.py      which loader a path needs
keras_files.py Keras architectures screened (code-carrying or unknown layers) and loaded
savedmodel.py  SavedModel signatures, inputs and outputs
heads.py       --output logits|probabilities (softmax removed or added), --precision
layers.py      --layer: the model split at a layer; token models
describe.py    igcli inspect
adapter.py     LoadedModel, several inputs as one flat vector, file hashes
"""

from __future__ import annotations

from pathlib import Path

from igcli.errors import UsageProblem
from igcli.models.adapter import LoadedModel, file_sha256
from igcli.models.describe import describe_model
from igcli.models.detect import model_kind
from igcli.models.heads import select_output_space, set_precision
from igcli.models.keras_files import import_custom_objects, load_keras
from igcli.models.layers import embedding_layers, integer_inputs, split_at_layer
from igcli.models.savedmodel import load_saved_model

__all__ = ["LoadedModel", "describe_model", "embedding_layers", "file_sha256", "integer_inputs", "load_model", "split_at_layer"]


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
    from igcli.stores import local_copy

    path = local_copy(path, "model")  # a model in an object store: copied once per process
    if model_kind(path) == "savedmodel":
        if output == "logits":
            raise UsageProblem(f"{path}: --output logits needs a Keras model (.keras/.h5): a SavedModel has no layers to take the softmax off")
        model = load_saved_model(path, signature, input_key, output_key)
    else:
        custom_objects = import_custom_objects(custom_objects_file) if custom_objects_file else {}
        model = load_keras(path, unsafe, custom_objects, output_key)
    if output is not None:
        select_output_space(model, output)
    if precision != "float32":
        set_precision(model, precision)
    return model
