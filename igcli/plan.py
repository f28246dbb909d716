"""The run plan: every option checked and every choice resolved once, before any work.

make_plan(options) validates what it can without TensorFlow first (so a typo fails in
milliseconds), then loads the model and opens the inputs and resolves the rest: targets,
baselines, the attribution space, the parameters recorded with the results and the fingerprint
a --resume must match. The plan itself is plain data (it can travel to another process); the
loaded model and the open inputs come back beside it, in a Workbench.

What depends on the machine that runs the plan (the batch size chosen for `auto`, the parallel
branches) is resolved by the runner, and kept out of the fingerprint: a run interrupted on one
machine resumes on another."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from igcli import __version__
from igcli.baselines import Baselines, parse_baseline
from igcli.data import CsvInputs, ImageInputs, ImageOptions, InputSource, TableOptions, open_inputs
from igcli.data.images import parse_resize
from igcli.data.preprocess import Preprocess, parse_floats
from igcli.errors import UsageProblem
from igcli.faithfulness import parse_metrics
from igcli.methods.quadrature import alphas_and_weights
from igcli.options import NOT_IN_FINGERPRINT, ExplainOptions
from igcli.smoothing import Smoothing
from igcli.targets import Targets, parse_target, read_class_names


@dataclass(frozen=True)
class RunPlan:
    options: ExplainOptions
    rule: str  # the quadrature rule (--method, resolved)
    steps: int | None  # points per path; None with --steps auto
    batch_size: int | None  # None: auto, resolved by the runner for its device
    baselines: Baselines
    targets: Targets
    class_names: tuple[str, ...] | None
    preprocess: Preprocess
    image_options: ImageOptions  # how image files become model inputs (a cluster worker decodes with it)
    smoothing: Smoothing | None  # --smooth N
    metrics: tuple[str, ...]  # --metrics
    input_kind: str  # images, table or arrays
    features: tuple[str, ...]  # table inputs: the feature columns
    skipped: tuple[str, ...]  # files in an image folder that are not images
    instance_shape: tuple  # one instance as the model takes it
    stored_shape: tuple  # one instance's stored attributions
    per_token: bool  # token models: attributions per token
    layout: tuple  # several model inputs: (name, shape) each
    parameters: dict  # recorded with the results (attributes of attributions.h5, run.json)
    fingerprint: dict  # what a --resume must match
    model_facts: dict  # for run.json

    @property
    def out(self) -> Path:
        return Path(self.options.out)

    @property
    def metric_passes(self) -> int:
        """Forward passes --metrics costs per instance: M + 1 per curve, a curve per metric and target."""
        return len(self.metrics) * (self.options.metric_steps + 1) * self.targets.count

    @property
    def progress_note(self) -> str:
        return f"explain + {self.metric_passes} metric passes each" if self.metrics else "explain"

    @property
    def writes_report(self) -> bool:
        """report.html is written for image, table and token inputs, unless --no-report."""
        return self.options.report and (self.input_kind in ("images", "table") or self.per_token)

    @property
    def draws_heatmaps(self) -> bool:
        """Heatmaps are drawn for image inputs attributed at the model input."""
        return self.input_kind == "images" and self.options.heatmap and self.options.layer is None


@dataclass
class Workbench:
    """The live objects a plan runs on in this process."""

    model: object  # models.LoadedModel
    inputs: InputSource
    space: object  # space.AttributionSpace
    load_seconds: float


def make_plan(options: ExplainOptions, warn=print) -> tuple[RunPlan, Workbench]:
    started = time.perf_counter()
    checked = _check_options(options)
    from igcli.models import file_sha256
    from igcli.space import attribution_space

    model = load_options_model(options)
    if options.precision != "float32":
        warn(f"warning: --precision {options.precision}: half-precision gradients can underflow to zero; check the deltas")
    if options.unsafe:
        warn(f"warning: --unsafe: {options.model} may run code stored in the file")
    loaded = time.perf_counter()
    inputs = open_inputs(
        options.inputs, model_shape=model.input_shape, key=options.key, images=checked["images"], table=checked["table"], layout=model.input_layout
    )
    _check_shape(inputs, model)
    space = attribution_space(options, model, inputs.instance_shape)
    if options.vocab:
        from igcli.sinks.tokens import read_vocab

        if not space.per_token:
            raise UsageProblem("--vocab is for token models attributed at their embedding (--layer EMBEDDING)")
        read_vocab(options.vocab)
    class_names = checked["class_names"]
    output_size = int(np.prod(model.output_shape)) if model.output_shape else 1
    if class_names is not None and len(class_names) != output_size:
        raise UsageProblem(f"{options.class_names}: {len(class_names)} class names for {output_size} model outputs")
    has_labels = isinstance(inputs, CsvInputs) and options.label_column is not None
    targets = parse_target(options.target, output_shape=model.output_shape, class_names=class_names, count=inputs.count, has_label_column=has_labels)
    preprocess = checked["preprocess"]
    reference = None
    if checked["baseline"].kind == "samples":
        from igcli.data.reference import ReferenceSet

        reference = ReferenceSet(checked["baseline"].path, model_shape=inputs.instance_shape, images=checked["images"], layout=model.input_layout)
    baselines = Baselines(
        checked["baseline"],
        samples=options.baseline_samples,
        seed=options.seed,
        value_range=preprocess.value_range(inputs.instance_shape),
        input_shape=model.input_shape,
        count=inputs.count,
        layout=model.input_layout,
        reference=reference,
    )
    _check_method_fits(options, model, space)
    if baselines.samples < options.baseline_samples:
        warn(f"warning: --baseline-samples {options.baseline_samples} ignored: baseline {options.baseline} is not random")
    kind = "images" if isinstance(inputs, ImageInputs) else "table" if isinstance(inputs, CsvInputs) else "arrays"
    sha256 = file_sha256(Path(options.model))
    parameters = {
        "igcli_version": __version__,
        "model": str(options.model),
        "model_sha256": sha256,
        "model_description": model.description,
        "inputs": str(options.inputs),
        "method": checked["rule"],
        "steps": checked["steps"] or "auto",
        "baseline": options.baseline,
        "baseline_samples": baselines.samples,
        "seed": options.seed,
        "target": options.target,
        "output": options.output or "as the model outputs",
        "xla": options.xla,
        "precision": options.precision,
    }
    if checked["steps"] is None:
        parameters.update(tolerance=options.tolerance, max_steps=options.max_steps)
    parameters.update(_method_parameters(options))
    if kind == "images":
        parameters.update(scale=options.scale, color=options.color, image_size=f"{inputs.size[0]}x{inputs.size[1]}")
    if options.layer:
        parameters.update(layer=options.layer, layer_input=options.layer_input, layer_type=space.layer_type)
    plan = RunPlan(
        options=options,
        rule=checked["rule"],
        steps=checked["steps"],
        batch_size=checked["batch_size"],
        baselines=baselines,
        targets=targets,
        class_names=tuple(class_names) if class_names else None,
        preprocess=preprocess,
        image_options=checked["images"],
        smoothing=Smoothing(options.smooth, options.noise, options.seed, options.smooth_squared) if options.smooth else None,
        metrics=checked["metrics"],
        input_kind=kind,
        features=tuple(getattr(inputs, "features", ())),
        skipped=tuple(str(p) for p in getattr(inputs, "skipped", [])),
        instance_shape=tuple(inputs.instance_shape),
        stored_shape=tuple(space.stored_shape),
        per_token=space.per_token,
        layout=tuple(model.input_layout),
        parameters=parameters,
        fingerprint=_fingerprint(options, sha256),
        model_facts={"path": str(options.model), "sha256": sha256, "kind": model.kind, "input_shape": model.input_shape, "output_shape": model.output_shape},
    )
    if plan.draws_heatmaps:
        from igcli.sinks.heatmaps import check_heatmap_options

        check_heatmap_options(options)
    return plan, Workbench(model, inputs, space, load_seconds=loaded - started)


def load_options_model(options: ExplainOptions):
    """The model as the options load it (a cluster worker loads it the same way)."""
    from igcli.models import load_model

    return load_model(
        options.model,
        unsafe=options.unsafe,
        custom_objects_file=options.custom_objects,
        signature=options.signature,
        input_key=options.input_key,
        output_key=options.output_key,
        output=options.output,
        precision=options.precision,
    )


def open_model(plan: RunPlan):
    """-> (the loaded model, its attribution space) for a plan made elsewhere (a cluster worker)."""
    from igcli.space import attribution_space

    model = load_options_model(plan.options)
    return model, attribution_space(plan.options, model, plan.instance_shape)


def _check_options(options: ExplainOptions) -> dict:
    """Everything that can be checked without TensorFlow, parsed."""
    if options.max_delta is not None and not options.max_delta >= 0:
        raise UsageProblem(f"--max-delta {options.max_delta}: must be a non-negative number")
    steps = _parse_steps(options.steps)
    rule = options.method or ("gausslegendre" if steps else "riemann_trapezoid")
    if steps is None:
        from igcli.methods.adaptive import MIN_STEPS

        if rule != "riemann_trapezoid":
            raise UsageProblem(
                f"--steps auto refines nested points, keeping every gradient already computed: it works with --method riemann_trapezoid (its default); {rule}'s points are not nested"
            )
        if not options.tolerance > 0:
            raise UsageProblem(f"--tolerance {options.tolerance}: must be a positive number")
        if options.max_steps < MIN_STEPS:
            raise UsageProblem(f"--max-steps {options.max_steps}: must be at least {MIN_STEPS} (the first mesh of --steps auto)")
    if options.baseline_samples < 1:
        raise UsageProblem(f"--baseline-samples {options.baseline_samples}: must be at least 1")
    _check_method_options(options, steps)
    try:
        alphas_and_weights(rule, steps or 2)
    except ValueError as error:
        raise UsageProblem(f"--method {rule}: {error}") from None
    try:
        metrics = parse_metrics(options.metrics)
    except ValueError as error:
        raise UsageProblem(f"--metrics {options.metrics}: {error}") from None
    if metrics and options.metric_steps < 1:
        raise UsageProblem(f"--metric-steps {options.metric_steps}: must be at least 1")
    checked = {
        "metrics": metrics,
        "rule": rule,
        "steps": steps,
        "batch_size": _parse_batch_size(options.batch_size),
        "baseline": parse_baseline(options.baseline),
        "class_names": read_class_names(options.class_names) if options.class_names else None,
        "preprocess": Preprocess(options.scale, parse_floats(options.mean, "--mean"), parse_floats(options.std, "--std")),
    }
    checked["images"] = ImageOptions(options.color, parse_resize(options.resize), checked["preprocess"], options.max_pixels)
    columns = [c.strip() for c in options.columns.split(",")] if options.columns else None
    checked["table"] = TableOptions(columns, options.id_column, options.label_column)
    if not Path(options.model).exists():  # before the seconds of importing TensorFlow
        raise UsageProblem(f"{options.model}: no such model file or directory")
    return checked


def _check_method_options(options: ExplainOptions, steps: int | None) -> None:
    """The path, IDGI and SmoothGrad options, and how they combine with the rest."""
    if options.path != "straight":
        if steps is None:
            raise UsageProblem(f"--steps auto refines the straight path only; give --path {options.path} a number of steps")
        if options.path == "guided" and options.method is not None:
            raise UsageProblem("--method does not apply to --path guided: Guided IG takes its own steps (--steps)")
        if options.path == "blur" and (options.baseline != "zero" or options.baseline_samples != 1):
            raise UsageProblem("--path blur starts from the blurred input: --baseline and --baseline-samples do not apply")
    if options.path == "blur" and not options.blur_sigma > 0:
        raise UsageProblem(f"--blur-sigma {options.blur_sigma}: must be positive")
    if not 0 < options.guided_fraction <= 1:
        raise UsageProblem(f"--guided-fraction {options.guided_fraction}: must be in (0, 1]")
    if not 0 <= options.guided_max_dist <= 1:
        raise UsageProblem(f"--guided-max-dist {options.guided_max_dist}: must be in [0, 1]")
    if options.idgi and steps is None:
        raise UsageProblem("--idgi weighs a fixed set of points; give --steps a number")
    if options.smooth < 0:
        raise UsageProblem(f"--smooth {options.smooth}: must be 0 (off) or a number of noisy copies")
    if options.smooth and not options.noise > 0:
        raise UsageProblem(f"--noise {options.noise}: must be positive")
    if options.smooth_squared and not options.smooth:
        raise UsageProblem("--smooth-squared needs --smooth N")
    if options.smooth_squared and options.max_delta is not None:
        raise UsageProblem("--max-delta: squared attributions (--smooth-squared) have no completeness to check")


def _check_method_fits(options: ExplainOptions, model, space) -> None:
    """What needs the model and the attribution space to check."""
    if options.path == "blur" and (len(space.shape) != 3 or space.to_space is not None or model.input_layout):
        raise UsageProblem(
            f"--path blur blurs images (height, width, channels) at the model input; these are {tuple(space.shape)}"
            + (" at a layer" if space.to_space is not None else "")
        )
    if options.smooth and "int" in str(model.input_dtype):
        raise UsageProblem("--smooth adds noise to the input: token ids cannot take it")


def _method_parameters(options: ExplainOptions) -> dict:
    """The method's settings, recorded where they differ from plain IG."""
    recorded = {"path": options.path}
    if options.path == "blur":
        recorded.update(blur_sigma=options.blur_sigma, blur_derivative=options.blur_derivative)
    if options.path == "guided":
        recorded.update(guided_fraction=options.guided_fraction, guided_max_dist=options.guided_max_dist)
    if options.idgi:
        recorded["idgi"] = True
    if options.smooth:
        recorded.update(smooth=options.smooth, noise=options.noise, smooth_squared=options.smooth_squared)
    if options.metrics:
        recorded.update(metrics=options.metrics, metric_steps=options.metric_steps)
    return recorded if len(recorded) > 1 or options.path != "straight" else {}


def _parse_steps(value) -> int | None:
    """--steps N -> N; --steps auto -> None."""
    if str(value).strip() == "auto":
        return None
    try:
        steps = int(value)
    except (TypeError, ValueError):
        raise UsageProblem(f"--steps {value!r}: expected a whole number or auto") from None
    if steps < 1:
        raise UsageProblem(f"--steps {value}: must be at least 1")
    return steps


def _parse_batch_size(text) -> int | None:
    if str(text) == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise UsageProblem(f"--batch-size {text!r}: expected a positive integer or auto") from None
    if value < 1:
        raise UsageProblem(f"--batch-size {text}: must be at least 1")
    return value


def _check_shape(inputs, model) -> None:
    expected = model.input_shape
    got = inputs.instance_shape
    if len(got) != len(expected) or any(e is not None and e != g for g, e in zip(got, expected)):
        shown = tuple("?" if e is None else e for e in expected)
        raise UsageProblem(f"{inputs.path}: instances of shape {got} do not fit the model's input {shown}")


def _fingerprint(options: ExplainOptions, model_sha256: str) -> dict:
    """Every option that changes numbers or pictures, as given (batch_size 'auto' stays 'auto'),
    the model's content and igcli's version."""
    fingerprint = {k: v for k, v in asdict(options).items() if k not in NOT_IN_FINGERPRINT}
    fingerprint["inputs"] = str(Path(options.inputs).resolve()) if Path(options.inputs).exists() else options.inputs
    return {**fingerprint, "model_sha256": model_sha256, "igcli_version": __version__}
