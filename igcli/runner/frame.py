"""The frame of every run, whichever executor computes it (in this process, or on a cluster).

Opening: where the run writes (OUT, or OUT/.igcli/next for an --overwrite over earlier results:
sinks/outdir.py), the journal taken over or started, the tally begun, the skipped files named.
Between: the executor hands the frame its groups of results in input order; the frame counts
them and writes them to the sinks. Closing: every sink closed (or every one aborted), the
journal finished, run.json and report.html written last from the finished files, and an
--overwrite run's results moved in. The caller holds OUT's lock throughout (igcli/outlock.py)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from igcli.atomic import remove
from igcli.journal import Journal
from igcli.results import Results
from igcli.sinks.outdir import JOURNAL, move_in, results_in, where_to_write
from igcli.sinks.run_json import run_record, write_run_json
from igcli.sinks.selection import owned_names
from igcli.tally import Tally
from igcli.uptodate import listing_line, settings_of


@dataclass
class Closing:
    """What an executor adds to run.json: the parameters it resolved for its machines (batch
    size, branches), its timings, and sections of its own (a cluster run's `cluster`)."""

    parameters: dict
    timings: dict
    sections: dict = field(default_factory=dict)


class RunFrame:
    def __init__(self, plan, warn, started: float):
        options = plan.options
        self.plan, self.started = plan, started
        self.dir = where_to_write(plan.out, options.overwrite, owned_names())  # where the sinks write
        self.staged = self.dir != plan.out
        continuing = options.resume
        if plan.work and options.overwrite:  # OUT in a store: an --overwrite stopped before left its groups in its journal
            continuing = _same_run(self.dir, plan.fingerprint)
        if self.staged:  # an --overwrite stopped before, with the same options, left groups to continue from
            continuing = _same_run(self.dir, plan.fingerprint)
            if not continuing:
                remove(self.dir)
                self.dir.mkdir(parents=True)
        self.journal = Journal(self.dir, plan.fingerprint, continuing)
        self.tally = Tally(
            out=str(options.out),
            skipped=list(plan.skipped),
            max_delta=options.max_delta,
            max_error=options.max_error,
            points_per_instance=plan.points_per_instance,
            image_size=plan.instance_shape[:2] if plan.input_kind == "images" else None,
        )
        for path in self.tally.skipped:
            warn(f"igcli: skipped {path}: not an image file")
        self.sinks: list = []
        self.write_seconds = 0.0
        self.listing = hashlib.sha256()  # every instance's id and content hash, in input order
        self.saved_elsewhere: int | None = None  # instances an executor saved outside the journal (a cluster's shards)
        self.after_write = None  # after_write(sinks, results) once a group is written (an OUT in a store puts its files)

    @property
    def saved(self) -> int:
        """Instances this run has saved where the next run finds them."""
        return self.journal.saved if self.saved_elsewhere is None else self.saved_elsewhere

    def open_sinks(self, sinks: list) -> None:
        self.sinks = sinks

    def count(self, results: Results) -> None:
        """Add a group to the tally (in the executor's thread, as soon as it is computed)."""
        self.tally.add(results)
        for ident, extra in zip(results.ids, results.extras):
            self.listing.update(listing_line(ident, extra.get("hash", "")))

    def write(self, results: Results) -> None:
        """Hand a group to every sink, in input order (a local run does it in its writer thread)."""
        tick = time.perf_counter()
        for sink in self.sinks:
            sink.append(results)
        if self.after_write is not None:
            self.after_write(self.sinks, results)
        self.write_seconds += time.perf_counter() - tick

    def close_sinks(self, completed: bool) -> None:
        """Close every sink after a completed run, abort every one otherwise. When a close fails,
        that sink and those not yet closed are aborted, and its error raised."""
        for number, sink in enumerate(self.sinks):
            if not completed:
                quietly(sink.abort)
                continue
            try:
                sink.close()
            except BaseException:
                for rest in self.sinks[number:]:  # the one that failed too: its partial files go
                    quietly(rest.abort)
                raise

    def finish(self, closing: Closing) -> Tally:
        """The journal finished (unless --fail-fast stopped the run), run.json and report.html,
        then an --overwrite run's results in place of the earlier ones."""
        plan, tally = self.plan, self.tally
        tally.timings = {**closing.timings, "total_seconds": round(time.perf_counter() - self.started, 3)}
        parameters = {**plan.parameters, **closing.parameters}
        write_run_json(self.dir / "run.json", run_record(plan, parameters, tally, closing.sections))
        if plan.writes_report:
            from igcli.report_page import write_report

            write_report(self.dir)
        if not tally.stopped_early:
            outputs = sorted(path.name for path in results_in(self.dir, owned_names()))
            self.journal.finish(
                {
                    "settings": settings_of(plan.options),
                    "instances": tally.instances,
                    "listing": self.listing.hexdigest(),
                    "failed": tally.failed,
                    "outputs": outputs,
                }
            )
        if self.staged:
            move_in(self.dir, plan.out, owned_names())
        return tally


def _same_run(stage: Path, fingerprint: dict) -> bool:
    """Whether an --overwrite run stopped earlier left its groups for this same run."""
    try:
        state = json.loads((stage / JOURNAL / "state.json").read_text())
    except (OSError, ValueError):
        return False
    return state.get("fingerprint") == json.loads(json.dumps(fingerprint, default=str))


def quietly(action) -> None:
    """Clean-up on a path that is already failing: its own errors must not hide the first."""
    try:
        action()
    except Exception:
        pass
