"""Writes docs/options.md from the options of `igcli explain`: the same help records `--help`
prints (igcli/options.py and the command line), so the page cannot say anything else.

    python docs/make_options_page.py            # rewrite docs/options.md
    python docs/make_options_page.py --check    # exit 1 when docs/options.md is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

PAGE = Path(__file__).resolve().parent / "options.md"


def help_records() -> list[tuple[str, str]]:
    """(spellings with metavar, help with default and range) of every explain option, as --help shows them."""
    from igcli.cli import cli, explain

    context = click.Context(explain, info_name="explain", parent=click.Context(cli, info_name="igcli", **cli.context_settings))
    options = [param for param in explain.get_params(context) if isinstance(param, click.Option)]
    return [record for param in options if (record := param.get_help_record(context)) is not None]


def page() -> str:
    from igcli.cli import explain

    lines = [
        "# Options of `igcli explain`",
        "",
        "Generated from the code (`igcli/options.py` and `igcli/cli.py`) by `python docs/make_options_page.py`;",
        "`igcli explain --help` prints the same. Do not edit by hand: `tests/test_docs.py` fails when they differ.",
        "Every option can also be set in a `--config FILE.toml` (its name without the dashes, `-` or `_`).",
        "",
        "```",
        f"igcli explain {' '.join(p.human_readable_name for p in explain.params if isinstance(p, click.Argument))} [OPTIONS]",
        "```",
        "",
        explain.help.split("\n\n")[-1].strip().replace("\n    ", " ").replace("\n", " "),
        "",
        "| option | what it does [default; range] |",
        "| --- | --- |",
    ]
    for names, text in help_records():
        lines.append(f"| `{_cell(names)}` | {_cell(text)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


if __name__ == "__main__":
    written = page()
    if "--check" in sys.argv[1:]:
        sys.exit(0 if PAGE.is_file() and PAGE.read_text(encoding="utf-8") == written else 1)
    PAGE.write_text(written, encoding="utf-8")
    print(PAGE)
