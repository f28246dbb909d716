"""Token models: per-token attributions as a table and as coloured text a person can read."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from igcli.atomic import write_text
from igcli.data.vocab import read_vocab
from igcli.sinks.outdir import remove_others
from igcli.sinks.tables import CsvSink


def token_html(ident: str, tokens: list[str], attributions: np.ndarray, caption: str) -> str:
    """Red for evidence for the target, blue against; strength relative to the largest |A|."""
    scale = float(np.max(np.abs(attributions))) or 1.0
    spans = []
    for token, value in zip(tokens, attributions):
        strength = min(1.0, abs(float(value)) / scale)
        colour = "220, 50, 32" if value > 0 else "35, 100, 220"
        spans.append(
            f'<span title="{value:+.4g}" style="background: rgba({colour}, {strength:.3f}); padding: 2px 3px; border-radius: 3px">{html.escape(token)}</span>'
        )
    return (
        f'<!doctype html><meta charset="utf-8"><title>{html.escape(ident)}</title>'
        f'<body style="font: 18px/2.2 sans-serif; max-width: 50em; margin: 2em auto">'
        f'<p style="font-size: 14px; color: #555">{html.escape(caption)} - red: evidence for the target, '
        f"blue: against; hover a word for its attribution</p><p>{' '.join(spans)}</p></body>\n"
    )


class TokenWriter(CsvSink):
    """OUT/tokens.csv (id, position, token_id, token, attribution) and OUT/tokens/<id>.html; with
    several targets, tokens.csv gains a `target` column after id and each target has its page,
    tokens/<id>/<target>.html."""

    OWNS = ("tokens.csv", "tokens")

    def __init__(self, out: Path, vocab_path: str, several: bool = False):
        self.vocab = read_vocab(vocab_path)
        self.directory = out / "tokens"
        self.several = several
        self.expected: set[Path] = set()  # every explained instance's pages: the others leave at close
        super().__init__(out / "tokens.csv", ["id", *(["target"] if several else []), "position", "token_id", "token", "attribution"])

    def token(self, token_id: int) -> str:
        return self.vocab[token_id] if 0 <= token_id < len(self.vocab) else f"<{token_id}>"

    def rows(self, results):
        for row, (ident, error) in enumerate(zip(results.ids, results.errors)):
            if error is not None:
                continue
            ids = results.inputs[row].astype(np.int64).reshape(-1)
            tokens = [self.token(int(t)) for t in ids]
            for k, label in enumerate(results.target_labels(row)):
                values = results.attributions[row, k].reshape(-1)
                target = [int(results.targets[row, k])] if self.several else []
                for position, (token_id, token, value) in enumerate(zip(ids, tokens, values)):
                    yield [ident, *target, position, int(token_id), token, repr(float(value))]
                name = results.target_names[row][k] or f"class {results.targets[row, k]}"
                page = self.directory / (f"{ident}/{label}.html" if self.several else f"{ident}.html")
                self.expected.add(page)
                write_text(page, token_html(ident, tokens, values, f"{ident}: {name}, score {results.scores[row, k]:.4g}"))

    def close(self) -> None:
        super().close()
        remove_others(self.directory, self.expected, ".html")
