"""Docs cannot drift from the code: the README's commands, the options page, links and configs."""

import importlib.util
import re
import tomllib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from igcli.cli import cli, explain

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
OPTIONS_PAGE = ROOT / "docs" / "options.md"


def _page_maker():
    spec = importlib.util.spec_from_file_location("make_options_page", ROOT / "docs" / "make_options_page.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def test_the_readme_fits_on_two_screens():
    assert README.count("\n") <= 200


def test_the_options_page_is_what_the_code_generates():
    assert OPTIONS_PAGE.read_text(encoding="utf-8") == _page_maker().page(), "run: python docs/make_options_page.py"


def test_the_options_page_and_help_name_the_same_options_with_the_same_words():
    shown = CliRunner().invoke(cli, ["explain", "--help"], terminal_width=10_000).output
    page = OPTIONS_PAGE.read_text(encoding="utf-8")
    in_help = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*(?![\w-])", shown))
    on_page = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*(?![\w-])", page))
    assert in_help == on_page
    for param in explain.params:
        if isinstance(param, click.Option) and param.help:
            words = " ".join(param.help.split())
            assert words in " ".join(shown.split()) and words.replace("|", "\\|") in page, param.name


def test_every_command_has_help():
    for name, command in cli.commands.items():
        assert command.help, name


@pytest.mark.parametrize("page", [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name)
def test_every_relative_link_points_at_a_file_of_the_repository(page):
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert (page.parent / target).resolve().exists(), f"{page.name}: {target}"
        assert (page.parent / target).resolve().is_relative_to(ROOT), f"{page.name}: {target} is outside the repository"
