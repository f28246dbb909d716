"""compare.html's data: read back from DIFF (compare.json and compare.csv), bounded for the page.

compare.csv is read once, row by row: every row's figures go into the histograms, and only the
MAX_ROWS rows with the largest relative_change are kept for the page's table (compare.csv keeps
them all). The kept rows travel column by column, as report.html's do (igcli/report_page/columns.js
decodes them): numbers as numbers, repeated text as a dictionary and codes."""

from __future__ import annotations

import csv
import heapq
import math
import os
import time
from pathlib import Path

import numpy as np

from igcli.report_page.data import encode_column, histogram, read_json_object
from igcli.report_page.page import clean_json

MAX_ROWS = 20_000  # rows of compare.csv the page's table holds: the most changed
# Columns that stay text whatever they look like (an id "007" stays "007").
TEXT_COLUMNS = {"id", "target_name_a", "target_name_b", "verdict", "most_changed_feature"}
# the per-instance figures drawn as histograms, and the threshold of compare.json that gates each
FIGURES = ("relative_change", "spearman_abs", "spearman", "iou_10", "iou_5", "iou_1", "cosine", "region_iou", "feature_change", "score_change")
GATES = {"spearman_abs": "min_rank_corr", "spearman": "min_rank_corr", "iou_10": "min_top_iou"}


def compare_data(out: Path, max_rows: int = MAX_ROWS) -> dict:
    notes: list[str] = []
    record = read_json_object(out / "compare.json", notes, "the comparison did not finish")
    header, kept, total, figures = _read_rows(out / "compare.csv", max(1, int(max_rows)), notes)
    thresholds: dict = record["thresholds"] if isinstance(record.get("thresholds"), dict) else {}
    histograms = [histogram(name, np.asarray(values, np.float64), _number(thresholds.get(GATES.get(name, "")))) for name, values in figures.items()]
    pairs = [_pair(item, out) for item in record.pop("pairs_shown", None) or [] if isinstance(item, dict)]
    return {
        "format": 1,
        "diff_name": out.resolve().name,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "notes": notes,
        "record": clean_json(record),
        "pairs": clean_json(pairs),
        "image_run": any(p["heatmap_a"] or p["heatmap_b"] for p in pairs),
        "rows": len(kept),
        "total_rows": total,
        "max_rows": max(1, int(max_rows)),
        "columns": [encode_column(name, [row[k] for row in kept], TEXT_COLUMNS)[0] for k, name in enumerate(header)],
        "histograms": histograms,
    }


def _change(value: str) -> float:
    """relative_change as a sort key: most changed first, empty and NaN last (as compare orders)."""
    try:
        number = float(value)
    except ValueError:
        return -1.0
    return number if number == number else -1.0


def _read_rows(path: Path, max_rows: int, notes: list) -> tuple[list[str], list[list[str]], int, dict]:
    """compare.csv's header, its max_rows most changed rows (ties in file order), its number of rows,
    and every row's figures by column (NaN where a cell is empty)."""
    heap: list[tuple[float, int, list[str]]] = []
    figures: dict[str, list[float]] = {}
    total = 0
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            at = header.index("relative_change") if "relative_change" in header else -1
            where = {name: header.index(name) for name in FIGURES if name in header}
            figures = {name: [] for name in where}
            width = len(header)
            for row in reader:
                if len(row) != width:
                    row = (row + [""] * (width - len(row)))[:width]
                for name, k in where.items():
                    figures[name].append(_float(row[k]))
                item = (_change(row[at]) if at >= 0 else 0.0, -total, row)
                total += 1
                if len(heap) < max_rows:
                    heapq.heappush(heap, item)
                elif item[:2] > heap[0][:2]:
                    heapq.heapreplace(heap, item)
    except FileNotFoundError:
        notes.append("compare.csv is missing")
        return [], [], 0, {}
    except (OSError, csv.Error) as error:
        notes.append(f"compare.csv could not be read: {error}")
        return [], [], 0, {}
    kept = [row for _, _, row in sorted(heap, key=lambda item: item[:2], reverse=True)]
    return header, kept, total, figures


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def _pair(item: dict, out: Path) -> dict:
    """One of compare.json's pairs_shown, its heatmaps kept only where they are PNG files on disk,
    addressed by a relative path."""
    pair = dict(item)
    for key in ("heatmap_a", "heatmap_b"):
        path = item.get(key)
        usable = isinstance(path, str) and path.endswith(".png") and not os.path.isabs(path) and (out / path).is_file()
        pair[key] = path if usable else None
    return pair
