"""read -> explain -> write, streamed a group of instances at a time."""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from igcli import __version__
from igcli.baselines import Baselines, parse_baseline
from igcli.errors import InstanceError, UsageProblem
from igcli.journal import Journal
from igcli.inputs import CsvInputs, ImageInputs, ImageOptions, TableOptions, open_inputs, parse_resize
from igcli.outputs import Results, check_heatmap_options, open_sinks, prepare_out_dir, write_run_json
from igcli.preprocess import Preprocess, parse_floats
from igcli.quadrature import alphas_and_weights
from igcli.streaming import BackgroundWriter, prefetch
from igcli.targets import parse_target, read_class_names

# Instances read and explained together; their paths are then cut into --batch-size chunks.
GROUP_SIZE = 32


@dataclass
class ExplainConfig:
    model: str
    inputs: str
    out: str = "igcli-out"
    overwrite: bool = False
    steps: int = 50
    method: str = "gausslegendre"
    batch_size: str = "auto"
    baseline: str = "zero"
    baseline_samples: int = 1
    seed: int = 0
    target: str = "predicted"
    class_names: str | None = None
    output: str | None = None
    signature: str | None = None
    input_key: str | None = None
    output_key: str | None = None
    key: str | None = None
    format: str = "h5"
    unsafe: bool = False
    custom_objects: str | None = None
    # images
    color: str = "auto"
    resize: str | None = None
    scale: str = "0..1"
    mean: str | None = None
    std: str | None = None
    max_pixels: int = ImageOptions.max_pixels
    # tables
    columns: str | None = None
    id_column: str | None = None
    label_column: str | None = None
    # heatmaps
    heatmap: bool = True
    sign: str = "absolute"
    cmap: str | None = None
    clip_percentile: float = 99.5
    alpha: float = 0.6
    panel: bool = False
    xla: bool = False
    precision: str = "float32"
    max_delta: float | None = None
    fail_fast: bool = False
    resume: bool = False
    # layers and tokens
    layer: str | None = None
    layer_input: bool = False
    vocab: str | None = None
    debug: bool = False


@dataclass
class RunReport:
    out: str
    instances: int = 0
    explained: int = 0
    reused: int = 0  # --resume: taken from an earlier attempt, not computed again
    failed: int = 0
    errors: list = field(default_factory=list)  # {"id", "source", "error"}
    skipped: list = field(default_factory=list)  # files in a folder that are not images
    timings: dict = field(default_factory=dict)
    max_relative_delta: float | None = None
    over_max_delta: list = field(default_factory=list)  # ids whose relative delta exceeds --max-delta
    stopped_early: bool = False  # --fail-fast stopped at the first failure

    @property
    def exit_code(self) -> int:
        if self.failed:
            return 1
        return 3 if self.over_max_delta else 0


def run_explain(config: ExplainConfig, progress=None, warn=print) -> RunReport:
    """progress: a callable(total) returning an object with update(n) and close(), or None."""
    started = time.perf_counter()
    batch_size = _parse_batch_size(config.batch_size)
    if config.max_delta is not None and not config.max_delta >= 0:
        raise UsageProblem(f"--max-delta {config.max_delta}: must be a non-negative number")
    if config.steps < 1:
        raise UsageProblem(f"--steps {config.steps}: must be at least 1")
    if config.baseline_samples < 1:
        raise UsageProblem(f"--baseline-samples {config.baseline_samples}: must be at least 1")
    try:
        alphas, weights = alphas_and_weights(config.method, config.steps)
    except ValueError as error:
        raise UsageProblem(f"--method {config.method}: {error}") from None
    baseline_spec = parse_baseline(config.baseline)
    class_names = read_class_names(config.class_names) if config.class_names else None
    preprocess = Preprocess(config.scale, parse_floats(config.mean, "--mean"), parse_floats(config.std, "--std"))
    image_options = ImageOptions(config.color, parse_resize(config.resize), preprocess, config.max_pixels)
    columns = [c.strip() for c in config.columns.split(",")] if config.columns else None
    table_options = TableOptions(columns, config.id_column, config.label_column)
    if not Path(config.model).exists():  # before the seconds of importing TensorFlow
        raise UsageProblem(f"{config.model}: no such model file or directory")

    from igcli.attribution import IntegratedGradients, auto_batch_size
    from igcli.models import file_sha256, load_model

    model = load_model(
        config.model, unsafe=config.unsafe, custom_objects_file=config.custom_objects, signature=config.signature,
        input_key=config.input_key, output_key=config.output_key, output=config.output, precision=config.precision,
    )
    if config.precision != "float32":
        warn(f"warning: --precision {config.precision}: half-precision gradients can underflow to zero; check the deltas")
    if config.unsafe:
        warn(f"warning: --unsafe: {config.model} may run code stored in the file")
    loaded = time.perf_counter()
    inputs = open_inputs(config.inputs, model_shape=model.input_shape, key=config.key, images=image_options, table=table_options, layout=model.input_layout)
    _check_shape(inputs, model)
    space = _attribution_space(config, model, inputs)
    if config.vocab:
        from igcli.tokens import read_vocab

        if not space.per_token:
            raise UsageProblem("--vocab is for token models attributed at their embedding (--layer EMBEDDING)")
        read_vocab(config.vocab)
    output_size = int(np.prod(model.output_shape)) if model.output_shape else 1
    if class_names is not None and len(class_names) != output_size:
        raise UsageProblem(f"{config.class_names}: {len(class_names)} class names for {output_size} model outputs")
    has_labels = isinstance(inputs, CsvInputs) and config.label_column is not None
    targets = parse_target(config.target, output_shape=model.output_shape, class_names=class_names, count=inputs.count, has_label_column=has_labels)
    value_range = preprocess.value_range(inputs.instance_shape)
    baselines = Baselines(baseline_spec, samples=config.baseline_samples, seed=config.seed, value_range=value_range, input_shape=model.input_shape, count=inputs.count, layout=model.input_layout)
    if baselines.samples < config.baseline_samples:
        warn(f"warning: --baseline-samples {config.baseline_samples} ignored: baseline {config.baseline} is not random")
    resolved_batch = batch_size or auto_batch_size(space.shape)
    engine = IntegratedGradients(space.model_call, space.shape, alphas, weights, resolved_batch, xla=config.xla)
    parameters = {
        "igcli_version": __version__, "model": str(config.model), "model_sha256": file_sha256(Path(config.model)),
        "model_description": model.description, "inputs": str(config.inputs), "method": config.method,
        "steps": config.steps, "baseline": config.baseline, "baseline_samples": baselines.samples, "seed": config.seed,
        "target": config.target, "output": config.output or "as the model outputs", "batch_size": resolved_batch,
        "branches": engine.branches,
        "xla": config.xla, "precision": config.precision,
    }
    if isinstance(inputs, ImageInputs):
        parameters.update(scale=config.scale, color=config.color, image_size=f"{inputs.size[0]}x{inputs.size[1]}")

    if isinstance(inputs, ImageInputs) and config.heatmap and config.layer is None:
        check_heatmap_options(config)
    if config.layer:
        parameters.update(layer=config.layer, layer_input=config.layer_input, layer_type=space.layer_type)
    out = Path(config.out)
    prepare_out_dir(out, config.overwrite, config.resume)
    journal = Journal(out, _fingerprint(config, parameters), config.resume)
    report = RunReport(out=str(out), skipped=[str(p) for p in getattr(inputs, "skipped", [])])
    for path in report.skipped:
        warn(f"igcli: skipped {path}: not an image file")
    sinks = [journal, *open_sinks(out, config, inputs, parameters, preprocess, space.stored_shape, model.input_layout)]
    bar = progress(inputs.count) if progress else None
    timings = {"compute": 0.0, "write": 0.0}

    def write(results):
        tick = time.perf_counter()
        for sink in sinks:
            sink.append(results)
        timings["write"] += time.perf_counter() - tick

    writer = BackgroundWriter(write)
    batches = prefetch(inputs.batches(GROUP_SIZE))
    compute_started = time.perf_counter()
    try:
        for batch in batches:
            tick = time.perf_counter()
            reused = _mark_reusable(batch, journal)
            results = _explain_batch(engine, space, batch, targets, baselines, class_names)
            for row in reused:
                journal.fill(results, row)
                results.extras[row]["reused"] = True
            report.reused += len(reused)
            timings["compute"] += time.perf_counter() - tick
            writer.submit(results)
            _tally(report, results, config.max_delta)
            if bar is not None:
                bar.update(len(batch.ids))
            if config.fail_fast and report.failed:
                report.stopped_early = True
                break
    finally:
        batches.close()
        writer.close()
        if bar is not None:
            bar.close()
    for sink in sinks:
        sink.close()
    if not report.stopped_early:
        journal.finish()
    finished = time.perf_counter()
    report.timings = {
        "load_seconds": round(loaded - started, 3),
        "compute_seconds": round(timings["compute"], 3),  # in the engine
        "write_seconds": round(timings["write"], 3),  # in the background writer, overlapping compute
        "explain_wall_seconds": round(finished - compute_started, 3),  # first batch read to last file closed
        "total_seconds": round(finished - started, 3),
    }
    write_run_json(out / "run.json", _manifest(config, parameters, report, model))
    return report


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


# Options that change the numbers or pictures: a resume must use the same ones.
_NOT_IN_FINGERPRINT = ("out", "overwrite", "resume", "format", "max_delta", "fail_fast", "debug")


def _fingerprint(config: ExplainConfig, parameters: dict) -> dict:
    options = {k: v for k, v in asdict(config).items() if k not in _NOT_IN_FINGERPRINT}
    options["inputs"] = str(Path(config.inputs).resolve()) if Path(config.inputs).exists() else config.inputs
    return {**options, "model_sha256": parameters["model_sha256"], "batch_size": parameters["batch_size"], "branches": parameters["branches"], "igcli_version": __version__}


def _mark_reusable(batch, journal) -> list[int]:
    """Rows an earlier attempt finished with the same content: skipped by the engine."""
    rows = [row for row, (ident, error, extra) in enumerate(zip(batch.ids, batch.errors, batch.extras))
            if error is None and journal.reusable(ident, extra.get("hash", ""))]
    for row in rows:
        batch.errors[row] = "reused"  # placeholder: filled from the journal after the engine runs
    return rows


@dataclass
class AttributionSpace:
    """Where the path runs: the model input, or a layer's activations (--layer)."""

    model_call: object  # engine-space batch -> model outputs
    shape: tuple  # engine-space shape of one instance
    stored_shape: tuple  # shape of one instance's stored attributions
    to_space: object = None  # model-input batch -> engine-space batch; None: identity
    per_token: bool = False  # token models: attributions summed over the embedding dimension
    layer_type: str = ""

    def map(self, x: np.ndarray) -> np.ndarray:
        return x if self.to_space is None else self.to_space(x).numpy()

    def store(self, attributions: np.ndarray) -> np.ndarray:
        return attributions.sum(axis=-1) if self.per_token else attributions


def _attribution_space(config: ExplainConfig, model, inputs) -> AttributionSpace:
    from igcli.models import embedding_layers, integer_inputs, split_at_layer

    if config.layer is None:
        if integer_inputs(model):
            names = embedding_layers(model)
            hint = f"--layer {names[0]}" if names else "--layer NAME (see igcli inspect)"
            raise UsageProblem(f"{config.model}: the model takes integer token ids, which have no gradient; attribute to the embedding with {hint}")
        if config.layer_input:
            raise UsageProblem("--layer-input needs --layer NAME")
        return AttributionSpace(model.call, inputs.instance_shape, inputs.instance_shape)
    split = split_at_layer(model, config.layer, config.layer_input)
    per_token = integer_inputs(model) and split.shape[:-1] == tuple(inputs.instance_shape)
    stored = split.shape[:-1] if per_token else split.shape
    return AttributionSpace(split.head, split.shape, stored, split.activations, per_token, split.layer_type)


def _explain_batch(engine, space, batch, targets, baselines, class_names) -> Results:
    results = Results.empty(batch, space.stored_shape)
    good = np.array([error is None for error in results.errors])
    if good.any():
        x_space = space.map(batch.arrays[good])  # engine space: the input, or the layer's activations
        outputs = engine.outputs(x_space)
        results.predicted[good] = outputs.argmax(axis=1)
        labels = [extra.get("label") for extra, ok in zip(batch.extras, good) if ok]
        chosen, problems = targets.resolve(batch.indices[good], outputs, labels)
        for row, problem in zip(np.flatnonzero(good), problems):
            results.errors[row] = problem
        keep = np.array([problem is None for problem in problems])
        rows = np.flatnonzero(good)[keep]
        x = batch.arrays[rows]
        try:
            baseline = baselines.make(x, batch.indices[rows]) if rows.size else None
        except InstanceError as error:
            for row in rows:
                results.errors[row] = str(error)
            rows = rows[:0]
        if rows.size:
            x = x_space[keep]
            if space.to_space is not None:  # the path runs between the activations of x and x'
                baseline = space.map(baseline.reshape(-1, *baseline.shape[2:])).reshape(*baseline.shape[:2], *x.shape[1:])
            explanation = engine.explain(x, baseline, chosen[keep], x_outputs=outputs[keep])
            results.attributions[rows] = space.store(explanation.attributions)
            results.targets[rows] = chosen[keep]
            results.scores[rows] = explanation.scores
            results.baseline_scores[rows] = explanation.baseline_scores
            results.sums[rows] = explanation.sums
            results.deltas[rows] = explanation.deltas
    if class_names:
        results.target_names = [class_names[t] if t >= 0 else "" for t in results.targets]
        results.predicted_names = [class_names[p] if p >= 0 else "" for p in results.predicted]
    return results


def _tally(report: RunReport, results: Results, max_delta: float | None) -> None:
    report.instances += len(results.ids)
    for ident, source, error in zip(results.ids, results.sources, results.errors):
        if error is None:
            report.explained += 1
        else:
            report.failed += 1
            report.errors.append({"id": ident, "source": source, "error": error})
    ok = np.array([e is None for e in results.errors])
    relative = results.relative_deltas[ok]
    if max_delta is not None:
        report.over_max_delta += [i for i, r in zip(np.array(results.ids)[ok], relative) if not r <= max_delta]
    if relative.size:
        worst = float(np.max(relative))
        report.max_relative_delta = worst if report.max_relative_delta is None else max(worst, report.max_relative_delta)


def _manifest(config: ExplainConfig, parameters: dict, report: RunReport, model) -> dict:
    import h5py
    import keras
    import tensorflow as tf

    return {
        "igcli_version": __version__,
        "configuration": asdict(config),
        "resolved": parameters,
        "versions": {
            "python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "h5py": h5py.__version__,
        },
        "model": {"path": str(config.model), "sha256": parameters["model_sha256"], "kind": model.kind, "input_shape": model.input_shape, "output_shape": model.output_shape},
        "counts": {"instances": report.instances, "explained": report.explained, "reused": report.reused, "computed": report.explained - report.reused, "failed": report.failed, "skipped_files": len(report.skipped)},
        "max_relative_delta": report.max_relative_delta,
        "over_max_delta": report.over_max_delta,
        "stopped_early": report.stopped_early,
        "exit_code": report.exit_code,
        "timings": report.timings,
        "errors": report.errors,
        "skipped_files": report.skipped,
        "command": sys.argv,
    }
