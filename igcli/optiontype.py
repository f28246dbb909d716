"""How an option's text becomes a typed value, once, where the command line (or a --config file,
or a program building ExplainOptions) hands it over.

Each concept declares its own type beside its code (BASELINE in baselines.py, TARGET in
targets.py, ...): a ParsedOption made of the concept's parse function, which raises UsageProblem
with a message naming the option. The value it returns is a Given: it keeps the text as the user
wrote it, which run.json and the --resume fingerprint record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from igcli.errors import UsageProblem


@dataclass(frozen=True)
class Given:
    """A value parsed from an option's text; str() gives that text back. (Keyword-only, so that a
    concept's own fields come first in its constructor.)"""

    text: str = field(default="", kw_only=True)

    def __str__(self) -> str:
        return self.text


class ParsedOption(click.ParamType):
    """A Click type from a parse function: text -> a Given (or another typed value); values that
    are already parsed pass through, so converting twice is harmless."""

    def __init__(self, name: str, parse: Callable[[str], Any], parsed: type | tuple[type, ...]):
        self.name, self.parse, self.parsed = name, parse, parsed

    def convert(self, value, param, ctx):
        if isinstance(value, self.parsed):
            return value
        return self.parse(str(value))


def as_given(value):
    """An option's value as the user gave it: a Given's text, any other value itself."""
    return value.text if isinstance(value, Given) else value


def whole_or_auto(text: str, option: str, expected: str) -> int | None:
    """An option that takes N (at least 1) or auto: -> N, or None for auto; expected says what N
    is in the message that refuses anything else."""
    if text.strip() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise UsageProblem(f"{option} {text!r}: expected {expected} or auto") from None
    if value < 1:
        raise UsageProblem(f"{option} {text}: must be at least 1")
    return value
