"""Every `igcli explain` option: its type (which parses its text once, with its range), its
default and its help, in one place.

The command line (cli.py) builds its options from these fields, --config files set the same
names, docs/options.md is generated from them, and the run plan (plan.py) reads the typed values;
nothing else states a default. Each option's type is declared beside its concept (BASELINE in
baselines.py, TARGET in targets.py, ...). Defaults are written as a user would type them."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import click

from igcli.baselines import BASELINE, BaselineSpec
from igcli.data.images import COLORS, DEFAULT_MAX_PIXELS, FITS, RESIZE, Resize
from igcli.data.preprocess import SCALES, Floats, float_list
from igcli.data.tables import COLUMNS, Columns
from igcli.faithfulness import METRIC_NAMES, MetricNames
from igcli.methods.quadrature import BATCH_SIZE, METHODS, STEPS, BatchSize
from igcli.optiontype import as_given
from igcli.render import DEFAULT_SIGN, SIGNS
from igcli.runner.cluster.settings import GPUS, WORKERS, Workers
from igcli.sinks import FORMATS
from igcli.targets import TARGET, TargetSpec

PATHS = ("straight", "blur", "guided")
POSITIVE = click.FloatRange(min=0, min_open=True)
FRACTION = click.FloatRange(0, 1)
AT_LEAST_ONE = click.IntRange(min=1)


def option(default, help: str, *, flag: bool = False, names: tuple[str, ...] = (), type=None, path: bool = False):
    """A field that is also a command-line option (names: its spellings [--field-name]). type: a
    Click type, or a tuple of names to choose from."""
    if isinstance(type, tuple):
        type = click.Choice(type)
    cli = {"help": help, "flag": flag, "names": names, "type": type, "path": path}
    return field(default=default, metadata={"cli": cli})


@dataclass(frozen=True)
class ExplainOptions:
    model: str
    inputs: str
    out: str = option("igcli-out", "Output directory.", names=("-o", "--out"))
    overwrite: bool = option(False, "Replace the results in a non-empty output directory.", flag=True)
    resume: bool = option(False, "Continue an interrupted run, or explain only new and changed inputs, in OUT.", flag=True)
    wait: bool = option(False, "When another run is writing OUT, wait for it to end instead of stopping (exit 75).", flag=True)
    break_lock: bool = option(False, "Take OUT over from a run that did not release it, on another host (make sure it has ended).", flag=True)
    steps: int | str = option(50, "Quadrature points along the path, or auto: refined per instance until --tolerance.", type=STEPS)
    tolerance: float = option(0.01, "--steps auto: estimated relative L1 error of the attributions to reach, per instance.", type=POSITIVE)
    max_steps: int = option(1024, "--steps auto: most gradient evaluations per path.", type=AT_LEAST_ONE)
    method: str | None = option(None, "Quadrature rule [riemann_middle; riemann_trapezoid with --steps auto].", type=METHODS)
    batch_size: BatchSize = option("auto", "Path points per gradient call: N or auto.", type=BATCH_SIZE)
    path: str = option("straight", "The path from baseline to input: straight (IG), blur (Blur IG), guided (Guided IG).", type=PATHS)
    blur_sigma: float = option(50.0, "--path blur: the largest Gaussian sigma in pixels, where the path starts.", type=POSITIVE)
    blur_derivative: str = option("exact", "--path blur: the path's velocity: exact, or finite (PAIR saliency's forward difference).", type=("exact", "finite"))
    guided_fraction: float = option(
        0.25, "--path guided: fraction of the features moved at each step, smallest |gradient| first.", type=click.FloatRange(0, 1, min_open=True)
    )
    guided_max_dist: float = option(0.02, "--path guided: how far (in alpha) a feature may stray from the straight line.", type=FRACTION)
    idgi: bool = option(False, "Weigh every step by the change of F, along the gradient's direction (IDGI): exactly complete.", flag=True)
    smooth: int = option(0, "SmoothGrad: average over N noisy copies of each input [0: off].", type=click.IntRange(min=0))
    noise: float = option(0.15, "--smooth: the noise's standard deviation, as a fraction of the input's value range.", type=POSITIVE)
    noise_units: str = option(
        "range", "--smooth: --noise as a fraction of each input's value range, or in the model input's own units.", type=("range", "input")
    )
    smooth_squared: bool = option(False, "--smooth: average the squared attributions (SmoothGrad-Squared).", flag=True)
    baseline: BaselineSpec = option("zero", "zero|black|white|constant:V|uniform|gaussian:SIGMA|blur:SIGMA|samples:PATH|PATH.", type=BASELINE)
    baseline_samples: int = option(1, "Average IG over K random baselines.", type=AT_LEAST_ONE)
    seed: int = option(0, "Seed for random baselines.")
    target: TargetSpec = option("predicted", "predicted|INT|I,J|NAME|labels:PATH|label, or several: top:K|all|LIST.", type=TARGET)
    class_names: str | None = option(None, "Text file, one class name per line.", path=True)
    explanation_metadata: str | None = option(
        None, "Vertex Explainable AI's ExplanationMetadata JSON: its settings become these options' defaults (docs/vertex.md).", path=True
    )
    explanation_parameters: str | None = option(None, "Vertex Explainable AI's ExplanationParameters JSON, read the same way.", path=True)
    output: str | None = option(None, "Attribute logits (softmax removed) or probabilities.", type=("logits", "probabilities"))
    signature: str | None = option(None, "SavedModel signature [serving_default].")
    input_key: str | None = option(None, "SavedModel signature input to attribute to (a signature with one input).")
    output_key: str | None = option(None, "Model output to explain (SavedModel key or Keras output name).")
    key: str | None = option(None, "Array in an .npz input [the only one, else x].")
    format: str = option(
        None, "Attribution array format [h5; zarr when OUT is in an object store] (zarr: a Zarr v3 store chunked by instance, needs igcli[zarr]).", type=FORMATS
    )
    color: str = option("auto", "Images: convert to the model's channels, or force rgb/grayscale.", type=COLORS)
    resize: Resize | None = option(None, "Images: resize to HxW [the model's input size].", type=RESIZE)
    fit: str = option("stretch", "Images of other proportions than the model's input: stretch, crop (centre) or pad (black borders).", type=FITS)
    scale: str = option("0..1", "Images: pixel scaling the model expects.", type=SCALES)
    mean: Floats | None = option(None, "Images: subtract these per-channel values after --scale (comma-separated).", type=float_list("--mean"))
    std: Floats | None = option(None, "Images: then divide by these per-channel values.", type=float_list("--std"))
    max_pixels: int = option(DEFAULT_MAX_PIXELS, "Images: refuse larger images (decompression bombs).", type=AT_LEAST_ONE)
    columns: Columns | None = option(None, "CSV: feature columns, comma-separated [every numeric column].", type=COLUMNS)
    id_column: str | None = option(None, "CSV: column that holds instance ids [row number].")
    label_column: str | None = option(None, "CSV: column of labels, excluded from features; for --target label.")
    layer: str | None = option(None, "Attribute to this layer's output (see igcli inspect); Keras models.")
    layer_input: bool = option(False, "With --layer: attribute to the layer's input instead.", flag=True)
    vocab: str | None = option(None, "Token models: vocabulary file, one token per line (line number = id).", path=True)
    heatmap: bool = option(True, "PNG heatmaps for image inputs.", names=("--heatmap/--no-heatmap",))
    sign: str = option(DEFAULT_SIGN, "Heatmaps: which attributions to show.", type=SIGNS)
    cmap: str | None = option(None, "Heatmaps: matplotlib colormap [inferno; coolwarm for --sign all].")
    clip_percentile: float = option(99.5, "Heatmaps: magnitude percentile shown at full colour.", type=click.FloatRange(0, 100, min_open=True))
    clip_low_percentile: float = option(
        0.0, "Heatmaps: pixels whose magnitude is under this percentile shown as zero.", type=click.FloatRange(0, 100, max_open=True)
    )
    alpha: float = option(0.6, "Heatmaps: opacity of the colour over the image.", type=FRACTION)
    panel: bool = option(False, "Heatmaps: input | heatmap | overlay side by side.", flag=True)
    xrai: bool = option(False, "Images: XRAI region maps over the attributions (needs igcli[xrai]; --baseline black+white is Vertex's default).", flag=True)
    xrai_algorithm: str = option("full", "--xrai: full (the best region at every step) or fast (regions ranked once).", type=("full", "fast"))
    xrai_area_threshold: float = option(
        1.0, "--xrai full: stop once this share of the image is covered by regions.", type=click.FloatRange(0, 1, min_open=True)
    )
    xrai_scales: Floats = option("50,100,150,250,500,1200", "--xrai: Felzenszwalb segmentation scales.", type=float_list("--xrai-scales"))
    metrics: MetricNames | None = option(
        None, "Faithfulness per instance: deletion, insertion, or both comma-separated (M forward passes each).", type=METRIC_NAMES
    )
    metric_steps: int = option(20, "--metrics: steps M along each curve.", type=AT_LEAST_ONE)
    records: str | None = option(None, "Also write OUT/explanations.jsonl: Vertex Explainable AI's attribution records, a line per instance.", type=("jsonl",))
    report: bool = option(True, "OUT/report.html: the run, its failures, histograms, every instance and the worst heatmaps.", names=("--report/--no-report",))
    max_delta: float | None = option(None, "Exit 3 when any instance's relative completeness error exceeds this.", type=click.FloatRange(min=0))
    max_error: float | None = option(
        None, "Exit 3 when any instance's error estimate (the relative L1 error of its attributions) exceeds this.", type=click.FloatRange(min=0, min_open=True)
    )
    fail_fast: bool = option(False, "Stop at the first instance that fails.", flag=True)
    xla: bool = option(False, "Compile the gradient with XLA (try on GPUs; slower on the CPUs we measured).", flag=True)
    precision: str = option(
        "float32", "Keras models: compute in half precision (faster on GPUs, less complete).", type=("float32", "mixed_float16", "mixed_bfloat16")
    )
    unsafe: bool = option(False, "Allow model files that run code (Lambda layers). Only for trusted files.", flag=True)
    custom_objects: str | None = option(None, "Python file that defines or registers custom layers.", path=True)
    debug: bool = option(False, "Full tracebacks and TensorFlow logs.", flag=True)
    # A Ray cluster (igcli/runner/cluster/): where the same run goes; no number depends on it.
    ray: str | None = option(None, "Run on a Ray cluster: local (a throwaway one on this machine), auto (the running one) or its ADDRESS; needs igcli[ray].")
    workers: Workers = option("auto", "--ray: worker processes, MIN:MAX or N [auto: 1 up to as many as the cluster's CPUs (GPUs) hold].", type=WORKERS)
    gpus_per_worker: float = option(0, "--ray: whole GPUs per worker.", type=GPUS)
    cpus_per_worker: int = option(1, "--ray: CPUs per worker (its TensorFlow threads, parallel branches and decoding threads).", type=AT_LEAST_ONE)

    def __post_init__(self):
        """Options given as text by a program (not through the command line) are parsed as the
        command line parses them; parsed values pass through. A file:// URI is its local path."""
        from igcli.stores import plain

        for name in ("model", "inputs", "out", "class_names", "vocab", "custom_objects", "explanation_metadata", "explanation_parameters"):
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, plain(getattr(self, name)))
        if self.format is None:  # a bucket's readers open Zarr lazily, by instance; an .h5 object must be fetched whole
            from igcli.stores import is_remote

            object.__setattr__(self, "format", "zarr" if is_remote(self.out) else "h5")
        for spec in cli_fields():
            kind, value = spec.metadata["cli"]["type"], getattr(self, spec.name)
            if isinstance(kind, click.ParamType) and value is not None:
                object.__setattr__(self, spec.name, kind.convert(value, None, None))

    def as_given(self) -> dict:
        """Every option as the user gave it (parsed values as their text): run.json's
        configuration and the --resume fingerprint."""
        return {spec.name: as_given(getattr(self, spec.name)) for spec in fields(self)}


def cli_fields():
    """The fields that are command-line options, in --help order."""
    return [f for f in fields(ExplainOptions) if "cli" in f.metadata]


# Options that do not change any number or picture: a --resume may differ in them.
NOT_IN_FINGERPRINT = (
    "model",  # the model counts by its content (model_sha256), not by how its path was typed
    "out",
    "wait",
    "break_lock",
    "overwrite",
    "resume",
    "format",
    "max_delta",
    "max_error",
    "fail_fast",
    "debug",
    "report",
    "records",
    "ray",
    "workers",
    "gpus_per_worker",
    "cpus_per_worker",
)
