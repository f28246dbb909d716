"""The report's per-feature view: for table inputs (OUT/attributions.csv, a column per feature) and
token models (OUT/tokens.csv, a row per token), the mean |A| of each feature over the run and each
explained row's strongest features.

Bounded whatever the run's size: the mean |A| of every feature is computed here over every
explained row (instance, or instance and target), but the page gets the MAX_FEATURES largest; and
the top features of the first MAX_FEATURE_ROWS rows only (the CSV files keep every row)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

MAX_FEATURES = 1000  # features the page lists: those of the largest mean |A|
MAX_FEATURE_ROWS = 2000  # explained rows whose top features the page carries, the first in the file
TOP_FEATURES = 5  # per row: the largest |A|, with their sign
CHUNK = 8192  # CSV rows parsed at a time


def feature_data(out: Path, notes: list) -> dict | None:
    """The view's data, or None when the run wrote neither file."""
    try:
        if (out / "attributions.csv").is_file():
            return _columns(out / "attributions.csv")
        if (out / "tokens.csv").is_file():
            return _tokens(out / "tokens.csv")
    except (OSError, csv.Error, ValueError, IndexError) as error:
        notes.append(f"the per-feature view is left out: {error}")
    return None


def _chunks(reader):
    while chunk := [row for _, row in zip(range(CHUNK), reader)]:
        yield chunk


def _floats(cells) -> np.ndarray:
    """CSV cells -> float64 of the same shape, NaN where empty (a failed instance)."""
    text = np.array(cells, dtype=np.str_)
    if text.size:
        text[text == ""] = "nan"
    return text.astype(np.float64)


class _Sums:
    """|A|, A and counts per feature, added a chunk at a time."""

    def __init__(self):
        self.absolute, self.signed, self.counts = np.zeros(0), np.zeros(0), np.zeros(0, np.int64)

    def grow(self, size: int) -> None:
        more = size - len(self.counts)
        if more > 0:
            self.absolute, self.signed = np.append(self.absolute, np.zeros(more)), np.append(self.signed, np.zeros(more))
            self.counts = np.append(self.counts, np.zeros(more, np.int64))

    def add(self, values: np.ndarray, features: np.ndarray) -> None:
        """values [n] of the features [n] (indices, repeats allowed)."""
        np.add.at(self.absolute, features, np.abs(values))
        np.add.at(self.signed, features, values)
        np.add.at(self.counts, features, 1)


def _view(kind: str, names: list[str], sums: _Sums, rows: int, top: dict, top_total: int) -> dict:
    """The page's data: the MAX_FEATURES features of the largest mean |A|, in the file's order. With
    several targets no signed mean: the evidence for one class and against another would cancel."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_abs, mean = sums.absolute / sums.counts, sums.signed / sums.counts
    seen = np.flatnonzero(sums.counts > 0)
    kept = np.sort(seen[np.argsort(-mean_abs[seen], kind="stable")[:MAX_FEATURES]])
    return {
        "kind": kind,
        "features": int(seen.size),
        "rows": rows,
        "names": [names[i] for i in kept],
        "mean_abs": mean_abs[kept].tolist(),
        "mean": None if top["targets"] is not None else mean[kept].tolist(),
        "count": sums.counts[kept].tolist(),
        "top": top,
        "top_total": top_total,
        "top_size": TOP_FEATURES,
    }


def _strongest(values: np.ndarray) -> np.ndarray:
    """Indices of the TOP_FEATURES largest |values| of each row [rows, n], the largest first (ties: first in order)."""
    return np.argsort(-np.abs(values), axis=-1, kind="stable")[..., :TOP_FEATURES]


def _columns(path: Path) -> dict:
    """attributions.csv: id, (rank and target with several targets,) then a column per feature."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        several = header[1:3] == ["rank", "target"]
        first = 3 if several else 1
        names = header[first:]
        sums, rows = _Sums(), 0
        sums.grow(len(names))
        top: dict = {"ids": [], "targets": [] if several else None, "names": [], "values": [], "positions": None}
        everything = np.arange(len(names))
        for chunk in _chunks(reader):
            values = _floats([row[first:] for row in chunk])
            explained = np.flatnonzero(np.isfinite(values).all(axis=1))
            rows += explained.size
            sums.add(values[explained].ravel(), np.tile(everything, explained.size))
            chosen = explained[: MAX_FEATURE_ROWS - len(top["ids"])]
            for i, order in zip(chosen, _strongest(values[chosen])):
                top["ids"].append(chunk[i][0])
                if several:
                    top["targets"].append(chunk[i][2])
                top["names"].append([names[j] for j in order])
                top["values"].append(values[i, order].tolist())
    return _view("columns", names, sums, rows, top, rows)


def _tokens(path: Path) -> dict:
    """tokens.csv: id, (target with several targets,) position, token_id, token, attribution;
    a token's mean |A| is over its every occurrence. The rows of one (id, target) are consecutive."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        several = "target" in header
        where = {name: header.index(name) for name in ("position", "token", "attribution")}
        index: dict[str, int] = {}  # token -> feature
        groups: dict[tuple, list] = {}  # (id, target) -> [(position, token, value)] of the first MAX_FEATURE_ROWS
        sums, count, last = _Sums(), 0, None
        collecting = True
        for chunk in _chunks(reader):
            values = _floats([row[where["attribution"]] for row in chunk])
            distinct, first, inverse = np.unique([row[where["token"]] for row in chunk], return_index=True, return_inverse=True)
            for u in np.argsort(first):  # features numbered as first seen
                index.setdefault(str(distinct[u]), len(index))
            features = np.array([index[str(token)] for token in distinct], np.int64)[inverse]
            sums.grow(len(index))
            sums.add(values, features)
            keys = [(row[0], row[1] if several else "") for row in chunk]
            count += sum(1 for a, b in zip([last, *keys[:-1]], keys) if a != b)
            last = keys[-1]
            for key, row, value in zip(keys, chunk, values.tolist()) if collecting else ():
                if key not in groups:
                    if len(groups) == MAX_FEATURE_ROWS:
                        collecting = False
                        break
                    groups[key] = []
                groups[key].append((int(row[where["position"]]), row[where["token"]], value))
    top: dict = {"ids": [], "targets": [] if several else None, "names": [], "values": [], "positions": []}
    for (ident, target), entries in groups.items():
        order = _strongest(np.array([value for _, _, value in entries]))
        top["ids"].append(ident)
        if several:
            top["targets"].append(target)
        top["names"].append([entries[j][1] for j in order])
        top["values"].append([entries[j][2] for j in order])
        top["positions"].append([entries[j][0] for j in order])
    return _view("tokens", list(index), sums, count, top, count)
