"""The report page's data: read back from a finished output directory (run.json, summary.csv and
the heatmaps and token pages on disk), encoded column by column for the page's script.

How it stays quick with 100,000 instances: repeated text travels as a dictionary and codes, and
the histograms are binned here with numpy; the page parses one JSON blob and draws only the rows
in view."""

from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from igcli.render import XRAI_TOP_AREA
from igcli.report_page.features import feature_data
from igcli.tally import ESTIMATE_WARNING

MAX_GALLERY = 96  # tiles the gallery shows at first; the page adds as many again on request
FAILED_TILES = 12  # failures the gallery shows as tiles before the heatmaps; all are listed above it
MAX_LISTED = 500  # failures and skipped files listed in full; the table holds every instance
HISTOGRAM_BINS = 30
XRAI = ".xrai"  # the XRAI picture of a row: heatmaps/<key>.xrai.png (--xrai)
NORMALISED = "_normalised"  # summary.csv's metric columns on a common scale (faithfulness.normalised_area)

# Columns that are text whatever they look like: an id "007" stays "007".
TEXT_COLUMNS = {"id", "source", "original_size", "predicted_name", "target_name", "status", "error"}


def report_data(out: Path, max_gallery: int = MAX_GALLERY) -> dict:
    notes: list[str] = []
    run = read_json_object(out / "run.json", notes, "the run did not finish")
    header, columns = _read_summary(out / "summary.csv", notes)
    rows = len(columns[0]) if columns else 0
    ids = columns[header.index("id")] if "id" in header else [""] * rows

    keys = _file_keys(header, columns, ids)
    heatmaps = _files_under(out / "heatmaps", ".png")
    xrai = _xrai_files(run, heatmaps)
    tokens = _files_under(out / "tokens", ".html")
    encoded, numbers = [], {}
    for name, values in zip(header, columns):
        column, parsed = encode_column(name, values)
        encoded.append(column)
        if parsed is not None:
            numbers[name] = parsed

    metrics = _metric_columns(run, numbers)
    limits = _limits(run)
    histogram_columns = ["relative_delta", "error_estimate", *(name for name in metrics if name not in ("relative_delta", "error_estimate"))]
    thresholds = {name: limit["value"] for name, limit in limits.items()}
    histograms = [histogram(name, numbers[name], thresholds.get(name)) for name in histogram_columns if name in numbers]
    features = feature_data(out, notes)
    if features and features["top"]["targets"] is not None:
        features["top"]["target_names"] = _target_names(header, columns, features["top"])
    return {
        "format": 1,
        "out_name": out.resolve().name,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "notes": notes,
        "run": run,
        "rows": rows,
        "columns": encoded,
        "files": keys if keys != ids else None,
        "heatmap": _flags(keys, heatmaps),
        "xrai": _flags(keys, xrai),
        "xrai_area": XRAI_TOP_AREA,
        "tokens": _flags(keys, tokens),
        "image_run": bool(heatmaps),
        "metrics": metrics,
        "metric_means": {name: _mean(numbers[name]) for name in metrics if name.endswith(NORMALISED)},
        "limits": limits,
        "panels": _panels(run, header),
        "features": features,
        "histograms": histograms,
        "max_gallery": max(1, int(max_gallery)),
        "failed_tiles": FAILED_TILES,
        "max_listed": MAX_LISTED,
    }


def _metric_columns(run: dict, numbers: dict) -> list[str]:
    """The metric columns to show of those run.json names: each one's normalised score
    (<metric>_normalised, on a scale that compares across runs) where summary.csv has it."""
    names = run["metrics"] if isinstance(run.get("metrics"), dict) else {}
    shown = [name + NORMALISED if name + NORMALISED in numbers else name for name in names]
    return [name for name in shown if name in numbers]


def _mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else None


def _limits(run: dict) -> dict:
    """Where relative_delta and error_estimate count as out of range: the run's --max-delta and
    --max-error, else ESTIMATE_WARNING (the figure above which a run names them on stderr)."""
    estimate: dict = run["error_estimate"] if isinstance(run.get("error_estimate"), dict) else {}
    max_error = _setting(run, "max_error")
    if max_error is None and isinstance(estimate.get("max_error"), (int, float)) and not isinstance(estimate.get("max_error"), bool):
        max_error = float(estimate["max_error"])
    limits = {}
    for name, value, option in (("relative_delta", _setting(run, "max_delta"), "--max-delta"), ("error_estimate", max_error, "--max-error")):
        limits[name] = {"value": value, "option": option} if value is not None else {"value": ESTIMATE_WARNING, "option": None}
    return limits


def _panels(run: dict, header: list[str]) -> bool:
    """Whether the gallery's heatmaps are --panel's wide PNGs (one target: a panel per instance)."""
    configuration: dict = run["configuration"] if isinstance(run.get("configuration"), dict) else {}
    return configuration.get("panel") is True and "rank" not in header


def _target_names(header: list[str], columns: list, top: dict) -> list[str]:
    """The class name of each (id, target) of the per-feature view, from summary.csv ("" if none)."""
    if not {"id", "target", "target_name"} <= set(header):
        return [""] * len(top["ids"])
    ids, targets, names = (columns[header.index(name)] for name in ("id", "target", "target_name"))
    known = {(ident, target): name for ident, target, name in zip(ids, targets, names)}
    return [known.get((ident, target), "") for ident, target in zip(top["ids"], top["targets"])]


def read_json_object(path: Path, notes: list, missing: str) -> dict:
    """A JSON file holding an object; {} with a note for the page when it is missing (`missing`
    says what that means) or unreadable."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        notes.append(f"{path.name} is missing: {missing}")
        return {}
    except (OSError, ValueError) as error:
        notes.append(f"{path.name} could not be read: {error}")
        return {}
    if not isinstance(value, dict):
        notes.append(f"{path.name} does not hold an object")
        return {}
    return value


def _read_summary(path: Path, notes: list) -> tuple[list[str], list[list[str]]]:
    """The header and the columns (lists of strings); rows short of cells are padded."""
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            rows = list(reader)
    except FileNotFoundError:
        notes.append("summary.csv is missing")
        return [], []
    except (OSError, csv.Error) as error:
        notes.append(f"summary.csv could not be read: {error}")
        return [], []
    width = len(header)
    if any(len(row) != width for row in rows):
        rows = [(row + [""] * (width - len(row)))[:width] for row in rows]
    columns = [list(column) for column in zip(*rows)] if rows else [[] for _ in header]
    return header, columns


def encode_column(name: str, values: list[str], text_columns=TEXT_COLUMNS) -> tuple[dict, np.ndarray | None]:
    """A column as columns.js decodes it, and its floats (NaN where empty) when it is numeric:
    every non-empty cell parses as a float (never for the names in text_columns). Non-finite
    numbers travel as strings ("Infinity") that the page turns back into numbers; text repeated
    often travels as a dictionary and codes. The compare page encodes its rows the same way."""
    empty = not any(values)
    if name not in text_columns and not empty:
        try:
            parsed = np.array([float(v) if v else math.nan for v in values], dtype=np.float64)
        except ValueError:
            parsed = None
        if parsed is not None:
            cells = parsed.tolist()
            if not np.isfinite(parsed).all():
                cells = [v if math.isfinite(v) else (None if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")) for v in cells]
            return {"name": name, "kind": "number", "values": cells}, parsed
    column = {"name": name, "kind": "text", "empty": empty}
    distinct = dict.fromkeys(values)
    if len(distinct) <= max(64, len(values) // 4):
        index = {value: code for code, value in enumerate(distinct)}
        column["dictionary"] = list(distinct)
        column["codes"] = [index[v] for v in values]
    else:
        column["values"] = values
    return column, None


def _files_under(folder: Path, suffix: str) -> set[str]:
    """Relative POSIX paths, without the suffix, of the regular files under folder."""
    found: set[str] = set()
    if not folder.is_dir():
        return found
    for root, _, files in os.walk(folder):
        relative = Path(root).relative_to(folder).as_posix()
        prefix = "" if relative == "." else relative + "/"
        for name in files:
            if name.endswith(suffix) and not name.startswith("."):
                found.add(prefix + name[: -len(suffix)])
    return found


def _file_keys(header: list[str], columns: list, ids: list[str]) -> list[str]:
    """Where each row's heatmap or token page lives, without the suffix: its id, or with several
    targets (summary.csv has a rank column) <id>/<target name, else index>, as the sinks write them."""
    if "rank" not in header or "target" not in header:
        return ids
    from igcli.data.ids import target_label

    targets = columns[header.index("target")]
    names = columns[header.index("target_name")] if "target_name" in header else [""] * len(ids)
    return [f"{ident}/{target_label(name, target)}" if target != "" else ident for ident, target, name in zip(ids, targets, names)]


def _xrai_files(run: dict, heatmaps: set[str]) -> set[str]:
    """The rows' keys with an XRAI picture (<key>.xrai.png beside <key>.png) in a run made with
    --xrai; none otherwise, so that a heatmap a run without it names <id>.xrai stays a heatmap."""
    configuration: dict = run["configuration"] if isinstance(run.get("configuration"), dict) else {}
    if configuration.get("xrai") is not True:
        return set()
    return {key[: -len(XRAI)] for key in heatmaps if key.endswith(XRAI)}


def _flags(ids: list[str], present: set[str]) -> list[int] | int:
    """1 where the id has a file; 0 when none has (a number, not a list of zeros)."""
    if not present:
        return 0
    return [1 if ident in present else 0 for ident in ids]


def _setting(run: dict, name: str):
    for section in ("resolved", "configuration"):
        value = (run.get(section) or {}).get(name) if isinstance(run.get(section), dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


def histogram(name: str, values: np.ndarray, threshold: float | None) -> dict:
    """Counts over HISTOGRAM_BINS bins; logarithmic when the values are non-negative, the positive
    ones span two decades or more and the median lies in the lowest tenth of the range (a
    linear axis would put most of them in the first bin); zeros are then counted apart."""
    finite = values[np.isfinite(values)]
    result = {
        "column": name,
        "count": int(finite.size),
        "missing": int(np.isnan(values).sum()),
        "infinite": int(np.isinf(values).sum()),
        "zeros": 0,
        "log": False,
        "edges": [],
        "counts": [],
        "threshold": threshold,
    }
    if not finite.size:
        return result
    positive = finite[finite > 0]
    low, high = float(finite.min()), float(finite.max())
    bins = int(min(HISTOGRAM_BINS, max(5, math.ceil(math.sqrt(finite.size)))))
    skewed = low >= 0 and positive.size and float(positive.max()) >= 100 * float(positive.min()) and float(np.median(finite)) <= high / 10
    if skewed:
        result["log"] = True
        result["zeros"] = int(finite.size - positive.size)
        low, high = math.log10(positive.min()), math.log10(positive.max())
        if threshold is not None and threshold > 0 and low - 1 <= math.log10(threshold) <= high + 1:
            low, high = min(low, math.log10(threshold)), max(high, math.log10(threshold))  # the limit in view
        edges = np.logspace(low, high, bins + 1)
        edges[0], edges[-1] = min(edges[0], positive.min()), max(edges[-1], positive.max())  # not lost to rounding
        counts, edges = np.histogram(positive, bins=edges)
    else:
        if threshold is not None and low - (high - low) <= threshold <= high + (high - low):
            low, high = min(low, threshold), max(high, threshold)
        if high - low <= 1e-9 * max(1.0, abs(high)):  # one value, give or take rounding: numpy cannot cut it into bins
            low, high = low - 0.5, high + 0.5
        counts, edges = np.histogram(finite, bins=bins, range=(low, high))
    result["edges"] = [float(e) for e in edges]
    result["counts"] = [int(c) for c in counts]
    return result
