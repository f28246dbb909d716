"""What `igcli compare` leaves in DIFF and says: compare.csv (streamed, a row per matched instance
and target), compare.json (both runs' settings, the thresholds, the global figures, the
distributions, the violations), the closing lines on stderr and the --json summary."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from igcli.atomic import PartialFile, atomic_path
from igcli.compare.engine import MIN_CLASS_INSTANCES, NOISE_MARGIN, Comparison, Pairing, Thresholds
from igcli.compare.runs import Run
from igcli.data.ids import target_label

LISTED = 100  # ids listed in compare.json per list
SHOWN = 5  # worst ids named on stderr
PAGE_PAIRS = 200  # the most-changed pairs whose heatmaps compare.html shows


class CsvRows:
    """compare.csv, written a chunk at a time under a temporary name, renamed at close."""

    def __init__(self, path: Path):
        self.file = PartialFile(path)
        self.handle = open(self.file.temporary, "w", newline="", encoding="utf-8")
        self.writer: csv.DictWriter | None = None

    def __call__(self, rows: list[dict]) -> None:
        if rows and self.writer is None:
            self.writer = csv.DictWriter(self.handle, fieldnames=list(rows[0]))
            self.writer.writeheader()
        if self.writer is not None:
            self.writer.writerows(rows)

    def close(self, completed: bool) -> None:
        if self.writer is None:
            self.handle.write("id,position,verdict\n")  # no matched instance: the header alone
        self.handle.close()
        self.file.commit() if completed else self.file.discard()


def summary(a: Run, b: Run, pairing: Pairing, result: Comparison, thresholds: Thresholds, diff: Path) -> dict:
    changed = [i for i, v in enumerate(result.verdicts) if v == "changed"]
    change = np.asarray(result.figures.get("relative_change", []), np.float64)
    worst = sorted(changed, key=lambda i: -change[i])
    globals_ = _globals(a, result, thresholds)
    below = [g for g in globals_ if g["below"]]
    record = {
        "run_a": _run_facts(a),
        "run_b": _run_facts(b),
        "settings_differ": settings_differ(a, b),
        "thresholds": {**vars(thresholds), "noise_margin": NOISE_MARGIN, "min_class_instances": MIN_CLASS_INSTANCES},
        "counts": _counts(a, b, pairing, result),
        "only_in_a": pairing.only_a[:LISTED],
        "only_in_b": pairing.only_b[:LISTED],
        "failed_in_either": pairing.failed[:LISTED],
        "global": globals_,
        "distributions": {name: _distribution(values) for name, values in result.figures.items()},
        "violations": {"instances": [_pair(result, i) for i in worst[:LISTED]], "global": below},
        "exit_code": 3 if changed or below else 0,
    }
    if a.feature_names:
        pooled = next((g for g in globals_ if g["class"] is None), None)
        record["columns"] = pooled.pop("columns") if pooled and "columns" in pooled else []
    record["pairs_shown"] = _pairs_shown(a, b, result, change, diff)
    return record


def settings_differ(a: Run, b: Run) -> dict:
    """The resolved settings that differ, name -> [A's, B's]; the model by its sha256."""
    sa, sb = a.settings, b.settings
    return {key: [sa.get(key), sb.get(key)] for key in sorted(set(sa) | set(sb)) if sa.get(key) != sb.get(key)}


def _run_facts(run: Run) -> dict:
    resolved = run.record.get("resolved") or {}
    keep = ("igcli_version", "model", "model_sha256", "inputs", "method", "steps", "baseline", "target", "output")
    return {"path": str(run.folder), "instances": len(run.ids), **{k: resolved.get(k) for k in keep if k in resolved}}


def _counts(a: Run, b: Run, pairing: Pairing, result: Comparison) -> dict:
    verdicts = result.verdicts
    changed_predictions = sum(1 for i in pairing.rows_a if a.predicted.get(a.ids[i], ("",))[0] != b.predicted.get(a.ids[i], ("",))[0])
    return {
        "instances_a": len(a.ids),
        "instances_b": len(b.ids),
        "matched": len(pairing.rows_a),
        "pairs": len(verdicts),
        "only_in_a": len(pairing.only_a),
        "only_in_b": len(pairing.only_b),
        "failed_in_either": len(pairing.failed),
        "same": verdicts.count("same"),
        "within_noise": verdicts.count("within noise"),
        "changed": verdicts.count("changed"),
        "prediction_changed": changed_predictions,
    }


def _globals(a: Run, result: Comparison, thresholds: Thresholds) -> list[dict]:
    names = {int(t): str(n) for t, n in zip(a.targets.ravel(), a.target_names.ravel()) if n}
    out = []
    for entry in result.globals:
        gated = entry["class"] is None or entry["instances"] >= MIN_CLASS_INSTANCES
        value = entry["ndcg"]
        item = {"class": entry["class"], "class_name": names.get(entry["class"], "") if entry["class"] is not None else "all"}
        item.update(instances=entry["instances"], ndcg=value, gated=gated, below=bool(gated and value == value and value < thresholds.min_ndcg))
        if a.feature_names and entry["class"] is None:
            mean_a, mean_b = entry["mean_abs_a"], entry["mean_abs_b"]
            item["columns"] = [
                {"name": name, "mean_abs_a": float(x), "mean_abs_b": float(y), "change": float(y - x)} for name, x, y in zip(a.feature_names, mean_a, mean_b)
            ]
        out.append(item)
    return out


def _distribution(values: list) -> dict:
    finite = np.asarray(values, np.float64)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return {"count": 0}
    low, p5, p25, median, high = np.percentile(finite, [0, 5, 25, 50, 100])
    return {"count": int(finite.size), "min": low, "p5": p5, "p25": p25, "median": median, "mean": float(finite.mean()), "max": high}


def _pair(result: Comparison, i: int) -> dict:
    keep = ("relative_change", "spearman_abs", "spearman", "iou_10")
    return {"id": result.ids[i], "position": result.positions[i], **{k: result.figures[k][i] for k in keep}}


def _pairs_shown(a: Run, b: Run, result: Comparison, change: np.ndarray, diff: Path) -> list[dict]:
    """The most-changed pairs (any verdict), with their heatmaps' paths relative to DIFF."""
    order = np.argsort(-np.nan_to_num(change, nan=-1.0), kind="stable")[:PAGE_PAIRS]
    where_a = {ident: row for row, ident in enumerate(a.ids)}
    where_b = {ident: row for row, ident in enumerate(b.ids)}
    shown = []
    for i in order:
        ident, position = result.ids[i], result.positions[i]
        item = {**_pair(result, int(i)), "verdict": result.verdicts[i], "cosine": result.figures["cosine"][i]}
        if a.image:
            item["heatmap_a"] = _heatmap(a, where_a.get(ident), ident, position, diff)
            item["heatmap_b"] = _heatmap(b, where_b.get(ident), ident, position, diff)
        shown.append(item)
    return shown


def _heatmap(run: Run, row: int | None, ident: str, position: int, diff: Path) -> str | None:
    if run.several and row is not None:
        label = target_label(str(run.target_names[row, position]), int(run.targets[row, position]))  # as the heatmap writer names it
        path = run.folder / "heatmaps" / ident / f"{label}.png"
    else:
        path = run.folder / "heatmaps" / f"{ident}.png"
    return os.path.relpath(path, diff.resolve()) if path.is_file() else None


def closing_lines(record: dict, thresholds: Thresholds, diff: Path, quiet: bool = False) -> list[str]:
    """The lines on stderr; quiet: only the violations (a cron job's mail)."""
    violations = _violation_lines(record, thresholds)
    if quiet:
        return violations
    counts = record["counts"]
    lines = []
    if record["settings_differ"]:
        shown = ", ".join(f"{key} ({_short(a)} / {_short(b)})" for key, (a, b) in list(record["settings_differ"].items())[:8])
        lines.append(f"igcli: warning: the runs differ in: {shown}")
    pooled = next((g for g in record["global"] if g["class"] is None), None)
    lines.append(
        f"igcli: compared {counts['pairs']} map(s) of {counts['matched']} instance(s) into {diff}: {counts['changed']} changed, "
        f"{counts['within_noise']} within integration noise, {counts['same']} same; {counts['prediction_changed']} prediction(s) changed"
        + (f"; global nDCG {pooled['ndcg']:.4f}" if pooled else "")
    )
    if counts["only_in_a"] or counts["only_in_b"] or counts["failed_in_either"]:
        lines.append(
            f"igcli: {counts['only_in_a']} only in A, {counts['only_in_b']} only in B, {counts['failed_in_either']} failed in either (listed in compare.json)"
        )
    return lines + violations


def _violation_lines(record: dict, thresholds: Thresholds) -> list[str]:
    counts, lines = record["counts"], []
    worst = record["violations"]["instances"]
    if worst:
        named = ", ".join(f"{v['id']}" + (f":{v['position']}" if v["position"] else "") for v in worst[:SHOWN])
        lines.append(
            f"igcli: {counts['changed']} map(s) changed beyond the gate (rank correlation < {thresholds.min_rank_corr} or top-10% IoU < "
            f"{thresholds.min_top_iou}, by more than integration noise), most changed first: {named}{' ...' if counts['changed'] > SHOWN else ''}"
        )
    for entry in record["violations"]["global"]:
        lines.append(f"igcli: global importance of {entry['class_name'] or entry['class']}: nDCG {entry['ndcg']:.4f} < {thresholds.min_ndcg}")
    return lines


def _short(value) -> str:
    """A setting as the warning shows it: a sha256 by its first 12 digits."""
    text = str(value)
    return text[:12] if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else text


def write_json(path: Path, record: dict) -> None:
    with atomic_path(path) as temporary:
        Path(temporary).write_text(json.dumps(record, indent=1, default=_plain) + "\n", encoding="utf-8")


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(type(value).__name__)
