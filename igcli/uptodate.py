"""A rerun with nothing to do: `--resume` over inputs that have not changed since the last run
finished, with the same options, ends without importing TensorFlow or loading the model.

The last finished run left OUT/.igcli/finished.json (runner/frame.py): its fingerprint, its other
settings, a digest of every instance's id and content hash in input order, how many failed and
which outputs it wrote. This run computes the same without the model (the model file's sha256;
image files' bytes, array rows and CSV rows hashed as the readers hash them) and, when all of it
matches, every instance succeeded and every output is still there, leaves the results as they are,
rewrites run.json (and report.html) to say that this run reused every instance and computed none,
and reports the last run's figures. Anything else (a model with several inputs, whose arrays need
the model to be read) takes the usual path, which reuses every instance from the journal."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from igcli.optiontype import as_given
from igcli.tally import Tally

# Options that change nothing a finished run left in OUT (where it runs, how it reports).
RUN_ONLY = ("model", "inputs", "out", "overwrite", "resume", "debug", "fail_fast", "ray", "workers", "gpus_per_worker", "cpus_per_worker", "wait", "break_lock")


def listing_line(ident: str, digest: str) -> bytes:
    return f"{ident}\t{digest}\n".encode()


def settings_of(options) -> dict:
    """The options a finished run's outputs depend on, as given (JSON, to compare with finished.json)."""
    given = {name: as_given(value) for name, value in options.as_given().items() if name not in RUN_ONLY}
    return json.loads(json.dumps(given, default=str))


def up_to_date(options, started: float) -> Tally | None:
    """The last run's tally when OUT already holds this run's results, else None."""
    out = Path(options.out)
    try:
        finished = json.loads((out / ".igcli" / "finished.json").read_text())
        run = json.loads((out / "run.json").read_text())
    except (OSError, ValueError):
        return None
    if finished.get("failed") != 0 or finished.get("settings") != settings_of(options):
        return None
    if not all((out / name).exists() for name in finished.get("outputs", ["-"])):
        return None
    from igcli.models.adapter import file_sha256
    from igcli.plan import fingerprint
    from igcli.stores import local_copy

    if json.loads(json.dumps(fingerprint(options, file_sha256(local_copy(options.model, "model"))), default=str)) != finished.get("fingerprint"):
        return None
    listed = input_listing(options)
    if listed is None:
        return None
    pairs, skipped = listed
    digest = hashlib.sha256()
    for ident, content in pairs:
        digest.update(listing_line(ident, content))
    if len(pairs) != finished.get("instances") or digest.hexdigest() != finished.get("listing"):
        return None
    tally = _last_tally(out, run, len(pairs), skipped, started)
    _refresh_run_json(out, run, options, tally, "report.html" in finished.get("outputs", []))
    return tally


def input_listing(options) -> tuple[list[tuple[str, str]], list[str]] | None:
    """(id, content hash) of every instance in input order, and the skipped files; None where
    listing them needs the model (several inputs) or a file cannot be read."""
    from igcli.errors import UsageProblem

    path = Path(options.inputs)
    suffix = path.suffix.lower()
    try:
        if path.is_file() and suffix in (".npy", ".npz", ".csv"):
            return _rows(path, suffix, options), []
        from igcli.data.batch import content_hash
        from igcli.data.ids import image_ids
        from igcli.data.images import list_images

        _, files, relative, skipped = list_images(path)
        return list(zip(image_ids(relative), (content_hash(file.read_bytes()) for file in files))), [str(p) for p in skipped]
    except (UsageProblem, OSError, ValueError, KeyError):
        return None


def _rows(path: Path, suffix: str, options) -> list[tuple[str, str]]:
    if suffix == ".csv":
        from igcli.data.tables import CsvInputs, TableOptions

        columns = list(options.columns.names) if options.columns else None
        reader = CsvInputs(path, TableOptions(columns, options.id_column, options.label_column))
    else:
        from igcli.data.arrays import ArrayInputs

        reader = ArrayInputs(path, options.key)  # type: ignore[assignment]
    return [(ident, extra.get("hash", "")) for batch in reader.batches(4096) for ident, extra in zip(batch.ids, batch.extras)]


def _last_tally(out: Path, run: dict, count: int, skipped: list[str], started: float) -> Tally:
    adaptive = run.get("adaptive") or {}
    estimate = run.get("error_estimate") or {}
    return Tally(
        out=str(out),
        instances=count,
        explained=count,
        reused=count,
        skipped=skipped,
        max_relative_delta=run.get("max_relative_delta"),
        over_max_delta=list(run.get("over_max_delta") or []),
        over_max_error=list(estimate.get("over_max_error") or []),
        over_estimate=[(0.0, name) for name in (estimate.get("above") or {}).get("ids") or []],  # already the worst first
        incomplete=list((estimate.get("incomplete") or {}).get("ids") or []),
        uninformative=list((run.get("uninformative_baselines") or {}).get("ids") or []),
        hit_max_steps=list(adaptive.get("hit_max_steps_ids") or []),
        steps_histogram=dict(adaptive.get("steps_histogram") or {}),
        timings={"total_seconds": round(time.perf_counter() - started, 3)},
        up_to_date=True,
    )


def _refresh_run_json(out: Path, run: dict, options, tally: Tally, report: bool) -> None:
    """run.json says what this run did: everything reused, nothing computed (the rest as before)."""
    import sys

    from igcli.sinks.run_json import write_run_json

    run = {**run, "configuration": options.as_given(), "timings": tally.timings, "command": sys.argv, "up_to_date": True}
    run["counts"] = {**run.get("counts", {}), "reused": tally.instances, "computed": 0}
    run["gradient_evaluations"] = 0
    if "adaptive" in run:
        run["adaptive"] = {**run["adaptive"], "gradient_evaluations": 0}
    if "metric_forward_passes" in run:
        run["metric_forward_passes"] = 0
    write_run_json(out / "run.json", run)
    if report:
        from igcli.report_page import write_report

        write_report(out)
