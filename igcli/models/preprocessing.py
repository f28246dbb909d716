"""igcli inspect: the preprocessing a Keras model does itself (Rescaling, Normalization layers),
and what it implies for --scale. A model that rescales its own input wants raw 0..255 pixels;
one that does not wants them already scaled, as it was trained, which only its author knows."""

from __future__ import annotations

import numpy as np

from igcli.tfimport import keras as _keras

KINDS = ("Rescaling", "Normalization", "Resizing", "CenterCrop")
NO_LAYER = (
    "no preprocessing layer found: the model takes inputs already scaled as it was trained;"
    " igcli's default is --scale 0..1; MobileNet, Inception and Xception-style models take -1..1,"
    " ResNet50 and VGG imagenet-caffe, DenseNet imagenet-torch (docs/your-model.md)"
)


def preprocessing(model) -> dict:
    """{'layers': [{name, type, setting}], 'advice': one line} for a loaded Keras model."""
    found = [_describe(layer) for layer in _all_layers(model) if type(layer).__name__ in KINDS]
    shape = tuple(model.inputs[0].shape[1:]) if len(model.inputs) == 1 else ()
    if not (len(shape) == 3 and shape[-1] in (1, 3)):
        advice = "not an image model: CSV and array values reach the model as they are in the file"
    else:
        advice = _image_advice(found)
    return {"layers": found, "advice": advice}


def _all_layers(model):
    """Every layer, nested models' layers included, in order."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def _describe(layer) -> dict:
    kind = type(layer).__name__
    setting: dict[str, object]
    if kind == "Rescaling":
        setting = {"scale": _numbers(layer.scale), "offset": _numbers(layer.offset)}
    elif kind == "Normalization":
        mean, variance = getattr(layer, "mean", None), getattr(layer, "variance", None)
        setting = {"mean": _numbers(mean), "std": _numbers(np.sqrt(np.asarray(variance, np.float64)))} if mean is not None else {}
    else:
        setting = {"height": getattr(layer, "height", None), "width": getattr(layer, "width", None)}
    return {"name": layer.name, "type": kind, "setting": setting}


def _numbers(value) -> list[float]:
    array = np.asarray(_keras().ops.convert_to_numpy(value) if hasattr(value, "shape") else value, np.float64).reshape(-1)
    return [round(float(v), 6) for v in array]


def _image_advice(found: list[dict]) -> str:
    """Which --scale the first value-changing layer implies."""
    for layer in found:
        if layer["type"] == "Rescaling":
            scale, offset = max(layer["setting"]["scale"], key=abs), max(layer["setting"]["offset"], key=abs)
            top = 255 * scale + offset  # where a white 0..255 pixel lands
            if abs(top) <= 2.5:
                return f"{layer['name']} maps 0..255 to {offset:g}..{top:g}: the model takes raw pixels: --scale 0..255"
            if abs(scale + offset) <= 2.5:
                return f"{layer['name']} maps 0..1 to {offset:g}..{scale + offset:g}: the model takes 0..1: --scale 0..1 (the default)"
            return f"{layer['name']} multiplies by {scale:g}: find the range the model was trained on"
        if layer["type"] == "Normalization" and layer["setting"]:
            mean = max(layer["setting"]["mean"], key=abs)
            if abs(mean) > 2:
                return f"{layer['name']} subtracts means like {mean:g}: the model takes raw pixels: --scale 0..255"
            return f"{layer['name']} subtracts means like {mean:g}: the model takes 0..1: --scale 0..1 (the default)"
    return NO_LAYER
