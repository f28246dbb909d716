"""The frame of every run, whichever executor computes it (in this process, or on a cluster).

Opening: the output directory prepared, the journal taken over or started, the tally begun, the
skipped files named. Between: the executor hands the frame its groups of results in input
order; the frame counts them and writes them to the sinks. Closing: every sink closed (or every
one aborted), the journal finished, then run.json and report.html, written last from the
finished files."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from igcli.journal import Journal
from igcli.results import Results
from igcli.sinks.outdir import prepare_out_dir
from igcli.sinks.run_json import run_record, write_run_json
from igcli.sinks.selection import owned_names
from igcli.tally import Tally


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
        prepare_out_dir(plan.out, options.overwrite, options.resume, owned_names())
        self.journal = Journal(plan.out, plan.fingerprint, options.resume)
        self.tally = Tally(out=str(plan.out), skipped=list(plan.skipped))
        for path in self.tally.skipped:
            warn(f"igcli: skipped {path}: not an image file")
        self.sinks: list = []
        self.write_seconds = 0.0

    def open_sinks(self, sinks: list) -> None:
        self.sinks = sinks

    def count(self, results: Results) -> None:
        """Add a group to the tally (in the executor's thread, as soon as it is computed)."""
        self.tally.add(results, self.plan.options.max_delta)

    def write(self, results: Results) -> None:
        """Hand a group to every sink, in input order (a local run does it in its writer thread)."""
        tick = time.perf_counter()
        for sink in self.sinks:
            sink.append(results)
        self.write_seconds += time.perf_counter() - tick

    def close_sinks(self, completed: bool) -> None:
        """Close every sink after a completed run, abort every one otherwise. When a close fails,
        the sinks not yet closed are aborted and that error is raised."""
        for number, sink in enumerate(self.sinks):
            if not completed:
                quietly(sink.abort)
                continue
            try:
                sink.close()
            except BaseException:
                for rest in self.sinks[number + 1 :]:
                    quietly(rest.abort)
                raise

    def finish(self, closing: Closing) -> Tally:
        """The journal finished (unless --fail-fast stopped the run), then run.json and report.html."""
        plan, tally = self.plan, self.tally
        if not tally.stopped_early:
            self.journal.finish()
        tally.timings = {**closing.timings, "total_seconds": round(time.perf_counter() - self.started, 3)}
        parameters = {**plan.parameters, **closing.parameters}
        write_run_json(plan.out / "run.json", run_record(plan, parameters, tally, closing.sections))
        if plan.writes_report:
            from igcli.report_page import write_report

            write_report(plan.out)
        return tally


def quietly(action) -> None:
    """Clean-up on a path that is already failing: its own errors must not hide the first."""
    try:
        action()
    except Exception:
        pass
