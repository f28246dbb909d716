"""The sinks' contract: --overwrite removes what igcli owns and nothing else; a failed run leaves
no partial file behind and keeps the journal; journal chunks of several writers never collide;
a resumed run may pick another batch size for `auto` (another machine) and still resume."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from igcli.journal import Journal
from igcli.results import Results
from igcli.sinks.selection import owned_names
from tests.conftest import assert_one_line_error, save_npy


@pytest.fixture(scope="module")
def table_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("sinks")
    keras.utils.set_random_seed(0)
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(root / "m.keras")
    # the same inputs, but a model that fails inside the compiled gradient when run
    module = tf.Module()
    module.serve = tf.function(
        lambda x: {"y": tf.reduce_sum(tf.reshape(x, [-1, 3]), axis=1, keepdims=True)}, input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")]
    )
    tf.saved_model.save(module, str(root / "fails"), signatures={"serving_default": module.serve})
    (root / "t.csv").write_text("a,b,c,d\n" + "".join(f"{i},{i + 1},{i + 2},{i + 3}\n" for i in range(40)))
    return root


def test_overwrite_removes_every_name_igcli_owns_and_nothing_else(igcli, table_model, tmp_path):
    out = tmp_path / "out"
    (out / "tokens").mkdir(parents=True)
    (out / "tokens" / "old.html").write_text("stale")
    for name in ("tokens.csv", ".summary.csv.partial", "overview.png", "mine.txt"):
        (out / name).write_text("stale")
    (out / ".arrays-x1y2").mkdir()
    (out / ".arrays-x1y2" / "attributions.raw").write_bytes(b"\0")
    run = igcli("explain", table_model / "m.keras", table_model / "t.csv", "-o", out, "--overwrite", "--steps", 2)
    assert run.exit_code == 0, run.stderr
    left = sorted(p.name for p in out.iterdir())
    assert left == [".igcli", "attributions.csv", "attributions.h5", "mine.txt", "report.html", "run.json", "summary.csv"]
    assert {"tokens.csv", "tokens", "heatmaps", "overview.png", ".arrays-*", "run.json", "report.html", ".igcli"} <= set(owned_names())


@pytest.mark.parametrize("fmt", ["h5", "npz", "npy"])
def test_a_failed_run_aborts_every_sink_and_keeps_nothing_partial(igcli, table_model, tmp_path, fmt):
    run = igcli("explain", table_model / "fails", table_model / "t.csv", "--steps", 2, "--format", fmt, "-o", tmp_path / "out")
    assert_one_line_error(run, 1, "TensorFlow failed")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [".igcli"], names  # no partial arrays or CSVs, no .arrays-* work folder
    assert (tmp_path / "out" / ".igcli" / "state.json").is_file()


def test_journal_chunks_of_two_writers_do_not_collide(tmp_path):
    def group(start):
        count = 2
        return Results(
            indices=np.arange(start, start + count),
            ids=[f"i{start}", f"i{start + 1}"],
            sources=["s", "s"],
            inputs=np.zeros((count, 3)),
            extras=[{"hash": "h"}, {"hash": "h"}],
            attributions=np.ones((count, 3), np.float32),
            targets=np.zeros(count, np.int64),
            predicted=np.zeros(count, np.int64),
            scores=np.ones(count),
            baseline_scores=np.zeros(count),
            sums=np.ones(count),
            deltas=np.zeros(count),
            errors=[None, None],
            steps=np.full(count, -1),
            error_estimates=np.full(count, np.nan),
            sum_errors=np.full(count, np.nan),
            incomplete=np.full(count, -1),
            hit_max_steps=np.zeros(count, bool),
            target_names=["", ""],
            predicted_names=["", ""],
        )

    first = Journal(tmp_path, {"k": 1}, resume=False)
    second = Journal(tmp_path, {"k": 1}, resume=True)  # another process joining the same run
    for journal in (first, second):
        journal.append(group(0))  # the same group, as a retried task would write it
        journal.append(group(2))
    chunks = sorted(p.name for p in (tmp_path / ".igcli" / "chunks").glob("*.npz"))
    assert len(chunks) == 4 and len({name.split("-")[0] for name in chunks}) == 2


def test_resume_on_a_machine_with_another_auto_batch_size(igcli, table_model, tmp_path, monkeypatch):
    x = save_npy(tmp_path / "x.npy", np.random.default_rng(0).uniform(size=(40, 4)))
    out = tmp_path / "out"
    assert igcli("explain", table_model / "m.keras", x, "-o", out, "--steps", 64).exit_code == 0
    fingerprint = json.loads((out / ".igcli" / "state.json").read_text())["fingerprint"]
    assert fingerprint["batch_size"] == "auto" and "branches" not in fingerprint
    import igcli.methods.core as core

    monkeypatch.setattr(core, "AUTO_BATCH_CPU_MAX", 16)  # the resolved size differs on this "machine"
    save_npy(x, np.random.default_rng(0).uniform(size=(41, 4)))  # one new row: work to do, the usual path
    resumed = igcli("explain", table_model / "m.keras", x, "-o", out, "--steps", 64, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    counts = resumed.run_json()["counts"]
    assert counts["reused"] == 40 and counts["computed"] == 1 and resumed.run_json()["resolved"]["batch_size"] == 16
