"""The command line: parse options, merge --config, call the pipeline, map errors to exit codes.

Nothing here imports TensorFlow, so `igcli --help` and `igcli --version` are instant."""

from __future__ import annotations

import json
import logging
import os
import sys
import tomllib
import traceback
from pathlib import Path

import click

from igcli import __version__
from igcli.errors import IgcliError, tensorflow_error_line
from igcli.options import ExplainOptions, cli_fields
from igcli.stopping import Stopped


class OneLineErrors(click.Group):
    """Every error reaches the user as one line `igcli: error: ...` with the exit code the README gives it."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        debug = "--debug" in (sys.argv[1:] if args is None else list(args))
        try:
            code = super().main(args, prog_name or "igcli", complete_var, standalone_mode=False, **extra)
        except Stopped as stop:  # a signal during explain: what is saved, and how to continue
            click.echo(f"igcli: interrupted ({stop}){': ' + stop.progress if stop.progress else ''}", err=True)
            sys.exit(stop.exit_code)
        except (click.exceptions.Abort, KeyboardInterrupt):
            click.echo("igcli: interrupted", err=True)
            sys.exit(130)
        except click.ClickException as error:
            click.echo(f"igcli: error: {_one_line(error.format_message())}", err=True)
            sys.exit(error.exit_code)
        except IgcliError as error:
            if debug:
                traceback.print_exc()
            click.echo(f"igcli: error: {_one_line(str(error))}", err=True)
            sys.exit(error.exit_code)
        except Exception as error:  # a runtime failure (exit 1): one line, the traceback with --debug
            if debug:
                traceback.print_exc()
            click.echo(f"igcli: error: {_runtime_error_line(error)} (rerun with --debug for the traceback)", err=True)
            sys.exit(1)
        sys.exit(code or 0)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _runtime_error_line(error: Exception) -> str:
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is not None and isinstance(error, tensorflow.errors.OpError):
        return tensorflow_error_line(error)
    return f"{type(error).__name__}: {_one_line(str(error))[:500]}"


def _load_config(ctx: click.Context, _param, value):
    """--config FILE.toml: its keys (option names, - or _) become the options' defaults."""
    if not value:
        return value
    from igcli import stores

    path = Path(value)
    folder: Path | str = stores.parent(value) if stores.is_remote(value) else path.parent  # relative paths in it start there
    try:
        data = tomllib.loads(stores.local_copy(value, "config").read_text(encoding="utf-8"))
    except IgcliError as error:  # a config in an object store that cannot be read
        raise click.BadParameter(str(error)) from None
    except OSError as error:
        raise click.BadParameter(f"{path}: cannot read ({error.strerror or error})") from None
    except tomllib.TOMLDecodeError as error:
        raise click.BadParameter(f"{path}: not valid TOML ({error})") from None
    # option spelling (without dashes, - or _) -> the parameter that receives it
    known = {
        opt.lstrip("-").replace("-", "_"): param.name
        for param in ctx.command.params
        if isinstance(param, click.Option) and param.name not in ("config", "help")
        for opt in param.opts
        if opt.startswith("--")
    }
    defaults = {}
    for key, setting in data.items():
        name = known.get(key.replace("-", "_"))
        if name is None:
            raise click.BadParameter(f"{path}: unknown option {key!r}")
        defaults[name] = _from_folder(folder, name, setting)
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


# Options that name files, and the prefix their path follows: in a config file they are relative
# to its folder, so a cron line works from any directory.
_PATH_SETTINGS = {
    **{name: "" for name in ("out", "class_names", "vocab", "custom_objects", "explanation_metadata", "explanation_parameters")},
    "baseline": "samples:",
    "target": "labels:",
}


def _from_folder(folder: Path | str, name: str, setting):
    """A config file's setting, with a relative path in it made relative to the file's folder."""
    if name not in _PATH_SETTINGS or not isinstance(setting, str):
        return setting
    prefix = _PATH_SETTINGS[name]
    if name == "baseline" and setting.endswith((".npy", ".npz")) and not setting.startswith(prefix):
        prefix = ""  # baseline = "PATH.npy"
    if not setting.startswith(prefix):
        return setting  # baseline = "zero", target = "top:3": no path
    from igcli import stores

    given = setting[len(prefix) :]
    if stores.is_remote(given):
        return setting
    if isinstance(folder, str):  # a config in an object store: its relative paths are keys beside it
        return setting if given.startswith("/") else prefix + stores.join(folder, given)
    relative = Path(given).expanduser()
    return setting if relative.is_absolute() else prefix + str(folder / relative)


_VERTEX_FILES = ("explanation_metadata", "explanation_parameters")


def _load_vertex(ctx: click.Context, param, value):
    """--explanation-metadata / --explanation-parameters: the file's settings as option defaults."""
    if not value:
        return value
    from igcli import vertex

    read = vertex.metadata_options if param.name == "explanation_metadata" else vertex.parameters_options
    try:
        settings = read(value)
    except IgcliError as error:
        raise click.BadParameter(str(error)) from None
    earlier = ctx.default_map or {}
    if settings.get("baseline") == vertex.WEAK_BASELINE and "baseline" in earlier:
        del settings["baseline"]  # XRAI's default baselines yield to those a --config or the metadata set
    ctx.default_map = {**earlier, **settings}
    return value


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="igcli", message="%(prog)s %(version)s")
def cli():
    """Integrated Gradients attributions for TensorFlow/Keras models, in batch."""


def _explain_options(command):
    """The options of ExplainOptions (igcli/options.py), in its order, with its types and defaults."""
    for spec in reversed(cli_fields()):
        cli = spec.metadata["cli"]
        names = cli["names"] or (f"--{spec.name.replace('_', '-')}",)
        kwargs = {"default": spec.default, "help": cli["help"], "show_default": spec.default is not None and spec.default is not False}
        if cli["flag"]:
            kwargs.update(is_flag=True, show_default=False)
        elif cli["path"]:
            kwargs["type"] = click.Path()
        if spec.name in _VERTEX_FILES:  # read first, so that their settings become defaults that flags override
            kwargs.update(callback=_load_vertex, is_eager=True)
        elif cli["type"] is not None:
            kwargs["type"] = cli["type"]
        command = click.option(*names, spec.name, **kwargs)(command)
    return command


@cli.command()
@click.argument("model", type=click.Path())
@click.argument("inputs", type=click.Path())
@click.option(
    "--config", type=click.Path(), callback=_load_config, is_eager=True, expose_value=False, help="TOML file whose keys set option defaults; flags win."
)
@_explain_options
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr [on when stderr is a terminal].")
@click.option("--quiet", is_flag=True, help="No progress bar or notes on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON on stdout.")
def explain(model, inputs, progress, quiet, as_json, **options):
    """Explain every instance of INPUTS with Integrated Gradients of MODEL.

    MODEL: .keras, .h5/.hdf5, or a SavedModel directory. INPUTS: an image, a folder of images
    (recursive), a glob, .npy, .npz or .csv."""
    from igcli.outcome import closing_lines, json_summary
    from igcli.runner import run_explain
    from igcli.stopping import stop_on_signals
    from igcli.tfimport import set_debug

    set_debug(options["debug"])
    config = ExplainOptions(model=model, inputs=inputs, **options)
    show_progress = (not quiet) and (progress if progress is not None else sys.stderr.isatty())

    def progress_bar(total, description="explain", unit="inst"):
        from tqdm import tqdm

        return tqdm(total=total, unit=unit, unit_scale=unit != "inst", file=sys.stderr, disable=not show_progress, desc=description)

    def warn(message):
        if not quiet:
            click.echo(message, err=True)

    with stop_on_signals():
        tally = run_explain(config, progress=progress_bar, warn=warn)
    if as_json:
        click.echo(json.dumps(json_summary(tally)))
    for line in closing_lines(tally, config, counts=not as_json, quiet=quiet):
        click.echo(line, err=True)
    return tally.exit_code


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON on stdout.")
@click.option("--unsafe", is_flag=True, help="Allow model files that run code (Lambda layers).")
@click.option("--custom-objects", type=click.Path(), help="Python file that defines or registers custom layers.")
@click.option("--debug", is_flag=True, help="Full tracebacks and TensorFlow logs.")
def inspect(model, as_json, unsafe, custom_objects, debug):
    """Show MODEL's inputs, outputs and layers (Keras) or signatures (SavedModel).

    Use it to find the --layer, --input-key, --output-key or --signature to pass to explain."""
    from igcli.models import describe_model
    from igcli.tfimport import set_debug

    set_debug(debug)
    info = describe_model(model, unsafe=unsafe, custom_objects_file=custom_objects)
    if as_json:
        click.echo(json.dumps(info))
        return
    click.echo(f"{info['path']}: {info['kind']}")
    if info["kind"] == "savedmodel":
        for name, signature in info["signatures"].items():
            click.echo(f"signature {name}")
            for role in ("inputs", "outputs"):
                for spec in signature[role]:
                    click.echo(f"  {role[:-1]:<6} {spec['name']:<24} {str(spec['shape']):<22} {spec['dtype']}")
        click.echo(f"preprocessing: {info['preprocessing']['advice']}")
        return
    for role in ("inputs", "outputs"):
        for spec in info[role]:
            click.echo(f"{role[:-1]:<6} {spec['name']:<24} {str(spec['shape']):<22} {spec['dtype']}")
    for layer in info["preprocessing"]["layers"]:
        click.echo(f"preprocessing layer {layer['name']} ({layer['type']}): {layer['setting']}")
    click.echo(f"preprocessing: {info['preprocessing']['advice']}")
    if info["softmax_head"]:
        click.echo("the last layer applies softmax: --output logits attributes the value before it")
    click.echo("layers:")
    for layer in info["layers"]:
        click.echo(f"  {layer['name']:<28} {layer['type']:<24} {layer['output_shape']}")


@cli.command()
@click.argument("run_a", type=click.Path())
@click.argument("run_b", type=click.Path())
@click.option("-o", "--out", default="igcli-compare", show_default=True, type=click.Path(), help="Output directory: compare.csv, compare.json, compare.html.")
@click.option("--min-rank-corr", type=click.FloatRange(-1, 1), default=0.9, show_default=True, help="Gate: Spearman correlation of each map, on |A| and on A.")
@click.option("--min-top-iou", type=click.FloatRange(0, 1), default=0.7, show_default=True, help="Gate: overlap (IoU) of each map's top 10% features.")
@click.option("--min-ndcg", type=click.FloatRange(0, 1), default=0.9, show_default=True, help="Gate: nDCG of the global importance (mean |A| per feature).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison's summary as JSON on stdout.")
@click.option("--quiet", is_flag=True, help="Only the violations on stderr.")
@click.option("--debug", is_flag=True, help="Full tracebacks.")
def compare(run_a, run_b, out, min_rank_corr, min_top_iou, min_ndcg, as_json, quiet, debug):
    """Compare the attributions of two runs (igcli explain output directories) instance by instance.

    Exit 3 when a map changed beyond the gate by more than integration noise, or the global
    importance moved; docs/compare.md."""
    from igcli.compare import Thresholds, run_compare
    from igcli.compare.report import closing_lines

    thresholds = Thresholds(min_rank_corr, min_top_iou, min_ndcg)
    record = run_compare(run_a, run_b, out, thresholds)
    if as_json:
        short = {k: v for k, v in record.items() if k not in ("pairs_shown", "columns", "distributions")}
        click.echo(json.dumps({**short, "out": out}, default=float))
    for line in closing_lines(record, thresholds, Path(out), quiet):
        click.echo(line, err=True)
    return record["exit_code"]


@cli.command()
@click.argument("out", type=click.Path())
@click.option("--gallery", type=click.IntRange(min=1), default=None, help="Heatmaps the page's gallery shows at first [96].")
def report(out, gallery):
    """Write OUT/report.html again from a run's files (summary.csv, run.json, heatmaps/, tokens/).

    For an output directory whose page was skipped (--no-report) or whose files were edited."""
    from igcli.errors import UsageProblem
    from igcli.report_page import write_report

    folder = Path(out)
    if not (folder / "summary.csv").is_file() and not (folder / "run.json").is_file():
        raise UsageProblem(f"{folder}: not an igcli output directory (no summary.csv or run.json)")
    click.echo(write_report(folder, *([gallery] if gallery else [])))


def main():
    """The console script. After a run that imported TensorFlow, skip the interpreter's teardown:
    TensorFlow's takes 0.6-1 s here, and every file igcli writes is closed before this point."""
    code: str | int | None = 0
    try:
        cli()
    except SystemExit as done:
        code = done.code
    if "tensorflow" not in sys.modules or not isinstance(code, int):
        sys.exit(code)
    from igcli.tfimport import remove_private_tempdir

    remove_private_tempdir()  # os._exit skips atexit handlers
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`igcli ... | head`): nothing more to say
            pass
    os._exit(code)
