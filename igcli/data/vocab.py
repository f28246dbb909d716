"""--vocab: a token model's vocabulary, one token per line."""

from __future__ import annotations

from pathlib import Path

from igcli.errors import UsageProblem
from igcli.stores import local_copy


def read_vocab(path: str | Path) -> list[str]:
    """One token per line; the line number (from 0) is the token id."""
    path = local_copy(path, "vocabulary")
    try:
        tokens = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageProblem(f"{path}: cannot read the vocabulary ({error})") from None
    if not tokens:
        raise UsageProblem(f"{path}: empty vocabulary")
    return tokens
