"""The run plan: every option checked and every choice resolved once, before any work.

make_plan(options) receives parsed options (igcli/options.py) and checks how they combine
without TensorFlow first (checks.py: a bad combination fails in milliseconds), then loads the model and opens the inputs and resolves the rest: targets,
baselines, the attribution space, the parameters recorded with the results and the fingerprint
a --resume must match. The plan itself is plain data (it can travel to another process); the
loaded model and the open inputs come back beside it, in a Workbench.

What depends on the machine that runs the plan (the batch size chosen for `auto`, the parallel
branches) is resolved by the runner, and kept out of the fingerprint: a run interrupted on one
machine resumes on another."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from igcli import __version__
from igcli.baselines import Baselines
from igcli.checks import check_combinations, check_method_fits, estimate_reason
from igcli.data.batch import InputSource
from igcli.data.images import ImageInputs, ImageOptions
from igcli.data.inputs import open_inputs
from igcli.data.preprocess import Preprocess
from igcli.data.tables import CsvInputs, TableOptions
from igcli.errors import UsageProblem
from igcli.options import NOT_IN_FINGERPRINT, ExplainOptions
from igcli.smoothing import Smoothing
from igcli.stores import local_copy
from igcli.targets import Targets, read_class_names, resolve_targets


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
    estimate_reason: str | None  # why the run has no error estimate; None: it has one
    points_per_instance: int  # gradient evaluations per computed instance (fixed steps; 0: the method counts its own)
    parameters: dict  # recorded with the results (attributes of attributions.h5, run.json)
    fingerprint: dict  # what a --resume must match
    model_facts: dict  # for run.json
    work: str | None = None  # where the sinks write when OUT is in an object store (its local working copy)

    @property
    def out(self) -> Path:
        """Where the run's files are written: OUT, or the working copy of an OUT in a store."""
        return Path(self.work or self.options.out)

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
    def estimated(self) -> bool:
        """Whether every instance gets an error estimate (error_estimate, incomplete)."""
        return self.estimate_reason is None

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


def make_plan(options: ExplainOptions, warn=print, combination: tuple[str, int | None] | None = None, progress=None) -> tuple[RunPlan, Workbench]:
    """combination: check_combinations(options), when the caller made it already. progress: a bar for
    listing INPUTS in an object store."""
    started = time.perf_counter()
    rule, steps = combination or check_combinations(options)
    class_names = _class_names(options)
    preprocess, images = _image_options(options)
    table = TableOptions(list(options.columns.names) if options.columns else None, options.id_column, options.label_column)
    from igcli.models import file_sha256
    from igcli.space import attribution_space

    model = load_options_model(options)
    if options.precision != "float32":
        warn(f"warning: --precision {options.precision}: half-precision gradients can underflow to zero; check the deltas")
    if options.unsafe:
        warn(f"warning: --unsafe: {options.model} may run code stored in the file")
    loaded = time.perf_counter()
    inputs = _open_inputs(options, model, images, table, progress)
    _check_shape(inputs, model)
    space = attribution_space(options, model, inputs.instance_shape)
    _check_vocab(options, space)
    targets = _targets(options, model, inputs, class_names)
    baselines = _baselines(options, model, inputs, images)
    check_method_fits(options, model, space)
    if baselines.samples < options.baseline_samples:
        warn(f"warning: --baseline-samples {options.baseline_samples} ignored: baseline {options.baseline} is not random")
    kind = "images" if isinstance(inputs, ImageInputs) else "table" if isinstance(inputs, CsvInputs) else "arrays"
    if options.xrai and (kind != "images" or options.layer):
        raise UsageProblem("--xrai draws regions of images: it needs image inputs, attributed at the model input (no --layer)")
    sha256 = file_sha256(local_copy(options.model, "model"))
    plan = RunPlan(
        options=options,
        rule=rule,
        steps=steps,
        batch_size=options.batch_size.points,
        baselines=baselines,
        targets=targets,
        class_names=tuple(class_names) if class_names else None,
        preprocess=preprocess,
        image_options=images,
        smoothing=Smoothing(options.smooth, options.noise, options.seed, options.smooth_squared, options.noise_units == "input") if options.smooth else None,
        metrics=options.metrics.names if options.metrics else (),
        input_kind=kind,
        features=tuple(getattr(inputs, "features", ())),
        skipped=tuple(str(p) for p in getattr(inputs, "skipped", [])),
        instance_shape=tuple(inputs.instance_shape),
        stored_shape=tuple(space.stored_shape),
        per_token=space.per_token,
        layout=tuple(model.input_layout),
        estimate_reason=estimate_reason(options, rule, steps),
        points_per_instance=_points_per_instance(options, steps, baselines, targets),
        parameters=_parameters(options, rule, steps, model, inputs, space, baselines, sha256),
        fingerprint=fingerprint(options, sha256),
        model_facts=_model_facts(options, model, sha256),
    )
    if plan.draws_heatmaps:
        from igcli.sinks.heatmaps import check_heatmap_options

        check_heatmap_options(options)
    return plan, Workbench(model, inputs, space, load_seconds=loaded - started)


def _model_facts(options: ExplainOptions, model, sha256: str) -> dict:
    """run.json's `model`; output_name: the output explained (--records' outputName)."""
    output_name = options.output_key or (model.output_names[0] if len(model.output_names) == 1 else "")
    return {
        "path": str(options.model),
        "sha256": sha256,
        "kind": model.kind,
        "input_shape": model.input_shape,
        "output_shape": model.output_shape,
        "output_name": output_name,
    }


def _points_per_instance(options: ExplainOptions, steps: int | None, baselines: Baselines, targets: Targets) -> int:
    """Gradient evaluations (a forward pass, then a backward pass per target) of one instance with
    fixed steps: a path per baseline sample and noisy copy; Guided IG walks one per target too."""
    if steps is None:
        return 0
    paths = baselines.samples * max(1, options.smooth) * (targets.count if options.path == "guided" else 1)
    return steps * paths


def _check_vocab(options: ExplainOptions, space) -> None:
    if options.vocab:
        from igcli.data.vocab import read_vocab

        if not space.per_token:
            raise UsageProblem("--vocab is for token models attributed at their embedding (--layer EMBEDDING)")
        read_vocab(options.vocab)


def _targets(options: ExplainOptions, model, inputs, class_names: list[str] | None) -> Targets:
    output_size = int(np.prod(model.output_shape)) if model.output_shape else 1
    if class_names is not None and len(class_names) != output_size:
        raise UsageProblem(f"{options.class_names}: {len(class_names)} class names for {output_size} model outputs")
    has_labels = isinstance(inputs, CsvInputs) and options.label_column is not None
    return resolve_targets(options.target, output_shape=model.output_shape, class_names=class_names, count=inputs.count, has_label_column=has_labels)


def _baselines(options: ExplainOptions, model, inputs, images: ImageOptions) -> Baselines:
    spec = options.baseline
    reference = None
    if spec.kind == "samples" and spec.path is not None:
        from igcli.data.reference import ReferenceSet

        reference = ReferenceSet(spec.path, model_shape=inputs.instance_shape, images=images, layout=model.input_layout)
    return Baselines(
        spec,
        samples=options.baseline_samples,
        seed=options.seed,
        value_range=images.preprocess.value_range(inputs.instance_shape),
        input_shape=model.input_shape,
        count=inputs.count,
        layout=model.input_layout,
        reference=reference,
    )


def _parameters(options: ExplainOptions, rule: str, steps: int | None, model, inputs, space, baselines: Baselines, sha256: str) -> dict:
    """What the results record of how they were made (run.json's `resolved`, attributions.h5's attributes)."""
    parameters: dict[str, object] = {
        "igcli_version": __version__,
        "model": str(options.model),
        "model_sha256": sha256,
        "model_description": model.description,
        "inputs": str(options.inputs),
        "method": rule,
        "steps": steps or "auto",
        "baseline": str(options.baseline),
        "baseline_samples": baselines.samples,
        "seed": options.seed,
        "target": str(options.target),
        "output": options.output or "as the model outputs",
        "xla": options.xla,
        "precision": options.precision,
    }
    if steps is None:
        parameters.update(tolerance=options.tolerance, max_steps=options.max_steps)
    parameters.update(_method_parameters(options))
    if isinstance(inputs, ImageInputs):
        parameters.update(scale=options.scale, color=options.color, image_size=f"{inputs.size[0]}x{inputs.size[1]}")
    if options.layer:
        parameters.update(layer=options.layer, layer_input=options.layer_input, layer_type=space.layer_type)
    return parameters


def _open_inputs(options: ExplainOptions, model, images: ImageOptions, table: TableOptions, progress) -> InputSource:
    return open_inputs(options.inputs, model_shape=model.input_shape, key=options.key, images=images, table=table, layout=model.input_layout, progress=progress)


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


def _class_names(options: ExplainOptions) -> list[str] | None:
    """--class-names, else the names of Vertex's indexDisplayNameMapping (--explanation-metadata)."""
    if options.class_names:
        return read_class_names(options.class_names)
    if options.explanation_metadata:
        from igcli import vertex

        return vertex.class_names(options.explanation_metadata)
    return None


def _image_options(options: ExplainOptions) -> tuple[Preprocess, ImageOptions]:
    preprocess = Preprocess(options.scale, options.mean.array() if options.mean else None, options.std.array() if options.std else None)
    size = (options.resize.height, options.resize.width) if options.resize else None
    return preprocess, ImageOptions(options.color, size, preprocess, options.max_pixels, options.fit)


def _method_parameters(options: ExplainOptions) -> dict:
    """The method's settings, recorded where they differ from plain IG."""
    recorded: dict[str, object] = {"path": options.path}
    if options.path == "blur":
        recorded.update(blur_sigma=options.blur_sigma, blur_derivative=options.blur_derivative)
    if options.path == "guided":
        recorded.update(guided_fraction=options.guided_fraction, guided_max_dist=options.guided_max_dist)
    if options.idgi:
        recorded["idgi"] = True
    if options.smooth:
        recorded.update(smooth=options.smooth, noise=options.noise, smooth_squared=options.smooth_squared)
        if options.noise_units != "range":
            recorded["noise_units"] = options.noise_units
    if options.metrics:
        recorded.update(metrics=str(options.metrics), metric_steps=options.metric_steps)
    return recorded if len(recorded) > 1 or options.path != "straight" else {}


def _check_shape(inputs, model) -> None:
    expected = model.input_shape
    got = inputs.instance_shape
    if len(got) != len(expected) or any(e is not None and e != g for g, e in zip(got, expected)):
        shown = tuple("?" if e is None else e for e in expected)
        hint = getattr(inputs, "width_hint", lambda _: "")(expected[-1])
        raise UsageProblem(f"{inputs.path}: instances of shape {got} do not fit the model's input {shown}{hint}")


def fingerprint(options: ExplainOptions, model_sha256: str) -> dict:
    """Every option that changes numbers or pictures, as given (batch_size 'auto' stays 'auto'),
    the model's content and igcli's version."""
    given = {k: v for k, v in options.as_given().items() if k not in NOT_IN_FINGERPRINT}
    given["inputs"] = str(Path(options.inputs).resolve()) if Path(options.inputs).exists() else options.inputs
    return {**given, "model_sha256": model_sha256, "igcli_version": __version__}
