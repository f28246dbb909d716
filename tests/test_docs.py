"""Docs cannot drift from the code: README commands, options and configs are checked here."""

import re
import tomllib
from pathlib import Path

import click
import pytest

from igcli.cli import cli, explain

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("config", sorted((ROOT / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_every_example_config_names_real_options(config):
    ctx = click.Context(explain)
    from igcli.cli import _load_config

    _load_config(ctx, None, str(config))  # raises on an unknown key
    assert ctx.default_map and len(ctx.default_map) == len(tomllib.loads(config.read_text()))


def test_readme_opens_with_the_two_setup_commands():
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", README, flags=re.S)
    assert "igcli explain" in blocks[0]
    assert "pytest" in blocks[1]
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = [line for line in blocks[1].splitlines() if "pytest" in line][0].strip()
    assert test_command in ci, "CI must run the README's test command"


def test_every_explain_option_is_documented_in_the_readme():
    # whole names: `--out` must not pass because `--output` is documented
    documented = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*(?![\w-])", README))
    for param in explain.params:
        if isinstance(param, click.Option) and param.help is not None:
            long_names = [opt for opt in param.opts + param.secondary_opts if opt.startswith("--")]
            assert all(name in documented for name in long_names), f"{long_names} missing from README"
            assert param.help, f"{param.name} has no help"


def test_every_command_has_help():
    for name, command in cli.commands.items():
        assert command.help, name
