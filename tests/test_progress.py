"""The progress bar counts gradient evaluations, so it moves within one large instance, and its
total (hence the ETA) is known from the start with fixed steps (issue 23)."""

import numpy as np

from igcli.options import ExplainOptions
from igcli.runner import run_explain
from tests.conftest import save_npy
from tests.models import linear


class RecordingBar:
    """Stands where tqdm stands: records every update with the total it had then."""

    def __init__(self, total, description, unit):
        self.total, self.unit, self.n = total, unit, 0
        self.seen: list[tuple[int, int | None]] = []

    def update(self, count):
        self.n += count
        self.seen.append((count, self.total))

    def refresh(self):
        pass

    def close(self):
        self.closed = True


def run_with_bar(tmp_path, instances, **options):
    rng = np.random.default_rng(0)
    linear(rng.normal(size=(6, 2)).astype(np.float32), np.zeros(2, np.float32)).save(tmp_path / "lin.keras")
    save_npy(tmp_path / "x.npy", rng.uniform(size=(instances, 6)).astype(np.float32))
    bars = []

    def progress(total, description, unit="inst"):
        bars.append(RecordingBar(total, description, unit))
        return bars[-1]

    config = ExplainOptions(model=str(tmp_path / "lin.keras"), inputs=str(tmp_path / "x.npy"), out=str(tmp_path / "out"), **options)
    tally = run_explain(config, progress=progress, warn=lambda _: None)
    assert tally.exit_code == 0 and len(bars) == 1
    return bars[0], tally


def test_one_large_instance_moves_the_bar_call_by_call_with_a_known_total(tmp_path):
    bar, tally = run_with_bar(tmp_path, 1, steps=64, batch_size=8)
    assert bar.unit == "grad" and bar.closed
    assert [count for count, _ in bar.seen] == [8] * 8  # a step of the bar per gradient call
    assert {total for _, total in bar.seen} == {64}  # the total, and so the ETA, from the first call
    assert bar.n == tally.gradient_evaluations == 64


def test_steps_auto_estimates_the_total_from_the_instances_done(tmp_path):
    bar, tally = run_with_bar(tmp_path, 40, steps="auto", batch_size=64)
    assert bar.n == tally.gradient_evaluations
    assert bar.seen[0][1] is None  # nothing done yet: no guess
    assert bar.total == bar.n  # after the last group the estimate is exact
