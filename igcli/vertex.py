"""--explanation-metadata FILE and --explanation-parameters FILE: the JSON of Vertex Explainable
AI's ExplanationMetadata and ExplanationParameters, as `gcloud ai models upload
--explanation-metadata-file` and the SDK take them (camelCase or snake_case keys), read as igcli
options. Each setting becomes the option that does the same (docs/vertex.md holds the table);
flags on the command line win; a setting igcli cannot honour is refused by name, never ignored."""

from __future__ import annotations

import json
import re
from pathlib import Path

from igcli.errors import UsageProblem
from igcli.stores import local_copy

# Vertex's visualization colour maps, as the nearest matplotlib colormaps
COLOR_MAPS = {"pink_green": "PiYG", "pink_white_green": "PiYG", "red_green": "RdYlGn", "viridis": "viridis"}
POLARITY = {"positive": "positive", "negative": "negative", "both": "all"}
WEAK_BASELINE = "black+white"  # xraiAttribution's baselines: Vertex's default, yielding to any other baseline setting
VERTEX_SMOOTH_SAMPLES = 3  # noisySampleCount when a smoothGradConfig leaves it out (Vertex's default)


def read(path: str | Path) -> dict:
    """A Vertex JSON file, its keys in camelCase."""
    try:
        data = json.loads(local_copy(path, "metadata").read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageProblem(f"{path}: cannot read ({error.strerror or error})") from None
    except ValueError as error:
        raise UsageProblem(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise UsageProblem(f"{path}: expected a JSON object")
    return _camel(data)


def _camel(value):
    if isinstance(value, dict):
        return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), str(k)): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _only(path, where: str, block: dict, known: tuple[str, ...]) -> None:
    unknown = [key for key in block if key not in known]
    if unknown:
        raise UsageProblem(f"{path}: {where}{', '.join(unknown)}: not a setting igcli can honour (docs/vertex.md lists those it can)")


def parameters_options(path) -> dict:
    """ExplanationParameters -> igcli option defaults (name -> value as a user types it)."""
    data = read(path)
    _only(path, "", data, ("integratedGradientsAttribution", "xraiAttribution", "sampledShapleyAttribution", "examples", "topK", "outputIndices"))
    if "sampledShapleyAttribution" in data:
        raise UsageProblem(f"{path}: sampledShapleyAttribution: igcli computes gradient attributions (Integrated Gradients), not sampled Shapley values")
    if "examples" in data:
        raise UsageProblem(f"{path}: examples: example-based explanations are not attributions; igcli has none")
    methods = [key for key in ("integratedGradientsAttribution", "xraiAttribution") if key in data]
    if len(methods) > 1:
        raise UsageProblem(f"{path}: integratedGradientsAttribution and xraiAttribution: give one")
    options = _ig_options(path, data.get("integratedGradientsAttribution") or data.get("xraiAttribution") or {})
    if "xraiAttribution" in data:  # IG under the regions, from black and white unless the metadata gives baselines
        options["xrai"] = True
        options.setdefault("baseline", WEAK_BASELINE)
    if "topK" in data and "outputIndices" in data:
        raise UsageProblem(f"{path}: topK and outputIndices: give one (--target top:K or --target I,J)")
    if "topK" in data:
        options["target"] = f"top:{_positive_int(path, 'topK', data['topK'])}"
    if "outputIndices" in data:
        indices = data["outputIndices"]
        if not isinstance(indices, list) or not indices or not all(isinstance(i, int) and i >= 0 for i in indices):
            raise UsageProblem(f"{path}: outputIndices {indices!r}: expected a list of output indices (flat integers)")
        options["target"] = ",".join(str(i) for i in indices) if len(indices) > 1 else str(indices[0])
    return options


def _ig_options(path, ig: dict) -> dict:
    """integratedGradientsAttribution, or xraiAttribution (the same settings for the IG under it)."""
    _only(path, "the attribution's ", ig, ("stepCount", "smoothGradConfig", "blurBaselineConfig"))
    options: dict = {}
    if "stepCount" in ig:
        options["steps"] = _positive_int(path, "stepCount", ig["stepCount"])
    smooth = ig.get("smoothGradConfig")
    if smooth is not None:
        _only(path, "smoothGradConfig.", smooth, ("noiseSigma", "noisySampleCount", "featureNoiseSigma"))
        if "featureNoiseSigma" in smooth:
            raise UsageProblem(f"{path}: smoothGradConfig.featureNoiseSigma: igcli adds one noise level to every feature (noiseSigma)")
        options["smooth"] = _positive_int(path, "noisySampleCount", smooth.get("noisySampleCount", VERTEX_SMOOTH_SAMPLES))
        if "noiseSigma" in smooth:
            options.update(noise=_positive(path, "noiseSigma", smooth["noiseSigma"]), noise_units="input")
    blur = ig.get("blurBaselineConfig")
    if blur is not None:
        _only(path, "blurBaselineConfig.", blur, ("maxBlurSigma",))
        options["baseline"] = f"blur:{_positive(path, 'maxBlurSigma', blur.get('maxBlurSigma'))}"
    return options


def metadata_options(path) -> dict:
    """ExplanationMetadata -> igcli option defaults; class names are read by class_names()."""
    data = read(path)
    _only(path, "", data, ("inputs", "outputs", "featureAttributionsSchemaUri", "outputIndicesSchemaUri", "latentSpaceSource"))
    inputs, outputs = data.get("inputs") or {}, data.get("outputs") or {}
    if not isinstance(inputs, dict) or not isinstance(outputs, dict):
        raise UsageProblem(f"{path}: inputs and outputs: expected objects keyed by name")
    if len(outputs) > 1:
        raise UsageProblem(f"{path}: outputs: {len(outputs)} outputs; igcli explains one output a run (--output-key)")
    options: dict = {}
    for name, spec in inputs.items():
        for key, value in _input_options(path, name, spec, several=len(inputs) > 1).items():
            if key in options and options[key] != value:
                raise UsageProblem(f"{path}: inputs: {key} differs between inputs; igcli takes one for all")
            options[key] = value
    for name, spec in outputs.items():
        _only(path, f"outputs.{name}.", spec, ("outputTensorName", "indexDisplayNameMapping", "displayNameMappingKey"))
        if "displayNameMappingKey" in spec:
            raise UsageProblem(f"{path}: outputs.{name}.displayNameMappingKey: igcli reads class names from a list (indexDisplayNameMapping or --class-names)")
        if spec.get("outputTensorName"):
            options["output_key"] = _tensor(spec["outputTensorName"])
    return options


def _input_options(path, name: str, spec: dict, several: bool) -> dict:
    known = ("inputTensorName", "encoding", "modality", "inputBaselines", "indexFeatureMapping", "visualization")
    _only(path, f"inputs.{name}.", spec, known)
    options: dict = {}
    encoding = spec.get("encoding", "IDENTITY")
    if encoding not in ("IDENTITY", "BAG_OF_FEATURES"):
        raise UsageProblem(f"{path}: inputs.{name}.encoding {encoding}: igcli reads dense inputs (IDENTITY, or BAG_OF_FEATURES with indexFeatureMapping)")
    if spec.get("inputTensorName") and not several:
        options["input_key"] = _tensor(spec["inputTensorName"])
    if "indexFeatureMapping" in spec:
        columns = spec["indexFeatureMapping"]
        if not isinstance(columns, list) or not all(isinstance(c, str) and c and "," not in c for c in columns):
            raise UsageProblem(f"{path}: inputs.{name}.indexFeatureMapping: expected a list of column names (without commas)")
        options["columns"] = ",".join(columns)
    if "inputBaselines" in spec:
        options.update(_baseline(path, name, spec["inputBaselines"]))
    if "visualization" in spec:
        options.update(_visualization(path, name, spec["visualization"]))
    return options


def _baseline(path, name: str, baselines) -> dict:
    if not isinstance(baselines, list) or len(baselines) > 1:
        raise UsageProblem(
            f"{path}: inputs.{name}.inputBaselines: {len(baselines) if isinstance(baselines, list) else 'not a list'}: igcli takes one fixed "
            "baseline (or random ones: --baseline samples:PATH --baseline-samples K)"
        )
    if not baselines:
        return {}
    value = baselines[0]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageProblem(f"{path}: inputs.{name}.inputBaselines: an array baseline: save it as .npy and give --baseline FILE.npy")
    return {"baseline": "zero" if value == 0 else f"constant:{value}"}


def _visualization(path, name: str, spec: dict) -> dict:
    where = f"inputs.{name}.visualization."
    _only(path, where, spec, ("type", "polarity", "colorMap", "clipPercentUpperbound", "clipPercentLowerbound", "overlayType"))
    options: dict = {}
    if spec.get("type", "PIXELS").upper() != "PIXELS":
        raise UsageProblem(f"{path}: {where}type {spec['type']}: igcli draws pixel heatmaps (PIXELS), not outlines")
    polarity = str(spec.get("polarity", "POSITIVE")).lower()
    if polarity not in POLARITY:
        raise UsageProblem(f"{path}: {where}polarity {spec['polarity']}: expected POSITIVE, NEGATIVE or BOTH")
    options["sign"] = POLARITY[polarity]
    if "colorMap" in spec:
        color = str(spec["colorMap"]).lower()
        if color not in COLOR_MAPS:
            raise UsageProblem(f"{path}: {where}colorMap {spec['colorMap']}: expected one of {', '.join(sorted(COLOR_MAPS)).upper()}")
        options["cmap"] = COLOR_MAPS[color]
    if "clipPercentUpperbound" in spec:
        options["clip_percentile"] = _positive(path, "clipPercentUpperbound", spec["clipPercentUpperbound"])
    if "clipPercentLowerbound" in spec:
        options["clip_low_percentile"] = float(spec["clipPercentLowerbound"])
    overlay = str(spec.get("overlayType", "ORIGINAL")).upper()
    if overlay not in ("ORIGINAL", "NONE"):
        raise UsageProblem(f"{path}: {where}overlayType {overlay}: igcli overlays the map on the original image (ORIGINAL) or shows it alone (NONE)")
    if overlay == "NONE":
        options["alpha"] = 1.0
    return options


def class_names(path) -> list[str] | None:
    """The output's indexDisplayNameMapping, when the metadata has one."""
    for spec in (read(path).get("outputs") or {}).values():
        names = spec.get("indexDisplayNameMapping")
        if names is not None:
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise UsageProblem(f"{path}: indexDisplayNameMapping: expected a list of class names")
            return list(names)
    return None


def _tensor(name: str) -> str:
    """A TensorFlow tensor name ('dense_input:0') as a signature key or Keras name ('dense_input')."""
    return str(name).split(":")[0]


def _positive_int(path, key: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageProblem(f"{path}: {key} {value!r}: expected a positive integer")
    return value


def _positive(path, key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise UsageProblem(f"{path}: {key} {value!r}: expected a positive number")
    return float(value)
