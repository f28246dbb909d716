"""The command line: parse options, merge --config, call the pipeline, map errors to exit codes.

Nothing here imports TensorFlow, so `igcli --help` and `igcli --version` are instant."""

from __future__ import annotations

import json
import sys
import tomllib
import traceback
from pathlib import Path

import click

from igcli import __version__
from igcli.errors import IgcliError
from igcli.outputs import FORMATS
from igcli.quadrature import METHODS


class OneLineErrors(click.Group):
    """Every error reaches the user as one line `igcli: error: ...` with SPEC.md's exit code."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        debug = "--debug" in (sys.argv[1:] if args is None else list(args))
        try:
            code = super().main(args, prog_name or "igcli", complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort:
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
        sys.exit(code or 0)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _load_config(ctx: click.Context, _param, value):
    """--config FILE.toml: its keys (option names, - or _) become the options' defaults."""
    if not value:
        return value
    path = Path(value)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise click.BadParameter(f"{path}: cannot read ({error.strerror or error})") from None
    except tomllib.TOMLDecodeError as error:
        raise click.BadParameter(f"{path}: not valid TOML ({error})") from None
    known = {p.name for p in ctx.command.params if p.name not in ("config", "model", "inputs")}
    defaults = {}
    for key, setting in data.items():
        name = key.replace("-", "_")
        if name not in known:
            raise click.BadParameter(f"{path}: unknown option {key!r}")
        defaults[name] = setting
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="igcli", message="%(prog)s %(version)s")
def cli():
    """Integrated Gradients attributions for TensorFlow/Keras models, in batch."""


@cli.command()
@click.argument("model", type=click.Path())
@click.argument("inputs", type=click.Path())
@click.option("--config", type=click.Path(), callback=_load_config, is_eager=True, expose_value=False, help="TOML file whose keys set option defaults; flags win.")
@click.option("-o", "--out", default="igcli-out", show_default=True, help="Output directory.")
@click.option("--overwrite", is_flag=True, help="Replace the results in a non-empty output directory.")
@click.option("--steps", type=int, default=50, show_default=True, help="Quadrature points along the path.")
@click.option("--method", type=click.Choice(METHODS), default="gausslegendre", show_default=True, help="Quadrature rule.")
@click.option("--batch-size", default="auto", show_default=True, help="Path points per gradient call: N or auto.")
@click.option("--baseline", default="zero", show_default=True, help="zero|black|white|constant:V|uniform|gaussian:SIGMA|blur:SIGMA|PATH.")
@click.option("--baseline-samples", type=int, default=1, show_default=True, help="Average IG over K random baselines.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for random baselines.")
@click.option("--target", default="predicted", show_default=True, help="predicted|INT|I,J|NAME|labels:PATH|label.")
@click.option("--class-names", type=click.Path(), help="Text file, one class name per line.")
@click.option("--output", type=click.Choice(["logits", "probabilities"]), help="Attribute logits (softmax removed) or probabilities.")
@click.option("--signature", help="SavedModel signature [serving_default].")
@click.option("--input-key", help="SavedModel signature input to attribute to.")
@click.option("--output-key", help="Model output to explain (SavedModel key or Keras output name).")
@click.option("--key", help="Array in an .npz input [the only one, else x].")
@click.option("--format", "format_", type=click.Choice(FORMATS), default="h5", show_default=True, help="Attribution array format.")
@click.option("--unsafe", is_flag=True, help="Allow model files that run code (Lambda layers). Only for trusted files.")
@click.option("--custom-objects", type=click.Path(), help="Python file that defines or registers custom layers.")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr [on when stderr is a terminal].")
@click.option("--quiet", is_flag=True, help="No progress bar or notes on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON on stdout.")
@click.option("--debug", is_flag=True, help="Full tracebacks and TensorFlow logs.")
def explain(model, inputs, out, overwrite, steps, method, batch_size, baseline, baseline_samples, seed, target, class_names, output, signature, input_key, output_key, key, format_, unsafe, custom_objects, progress, quiet, as_json, debug):
    """Explain every instance of INPUTS with Integrated Gradients of MODEL.

    MODEL: .keras, .h5/.hdf5, or a SavedModel directory. INPUTS: .npy or .npz."""
    from igcli.pipeline import ExplainConfig, run_explain
    from igcli.tfimport import set_debug

    set_debug(debug)

    config = ExplainConfig(
        model=model, inputs=inputs, out=out, overwrite=overwrite, steps=steps, method=method,
        batch_size=batch_size, baseline=baseline, baseline_samples=baseline_samples, seed=seed,
        target=target, class_names=class_names, output=output, signature=signature,
        input_key=input_key, output_key=output_key, key=key, format=format_, unsafe=unsafe,
        custom_objects=custom_objects, debug=debug,
    )
    show_progress = (not quiet) and (progress if progress is not None else sys.stderr.isatty())

    def progress_bar(total):
        from tqdm import tqdm

        return tqdm(total=total, unit="inst", file=sys.stderr, disable=not show_progress)

    def warn(message):
        if not quiet:
            click.echo(message, err=True)

    report = run_explain(config, progress=progress_bar, warn=warn)
    summary = {
        "out": report.out, "instances": report.instances, "explained": report.explained,
        "failed": report.failed, "max_relative_delta": report.max_relative_delta,
        "timings": report.timings, "errors": report.errors, "exit_code": report.exit_code,
    }
    if as_json:
        click.echo(json.dumps(summary))
    elif not quiet:
        click.echo(f"igcli: explained {report.explained} of {report.instances} instances into {report.out}", err=True)
        for error in report.errors:
            click.echo(f"igcli: failed {error['source']}: {error['error']}", err=True)
    return report.exit_code


def main():
    cli()
