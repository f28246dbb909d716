"""Bad and hostile inputs: one clear line each, nothing lost, nothing written outside OUT."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.conftest import assert_one_line_error


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(0)
    keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(), keras.layers.Dense(2)]).save(root / "image.keras")
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(root / "table.keras")
    return root


def write_png(path, size=8):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), 120, np.uint8)).save(path)


def test_broken_files_in_a_folder_are_listed_and_the_rest_explained(igcli, models, tmp_path):
    folder = tmp_path / "in"
    write_png(folder / "good.png")
    write_png(folder / "odd name (1).png")
    (folder / "empty.png").write_bytes(b"")
    (folder / "readme.txt").write_text("not an image")
    Image.new("CMYK", (30, 20)).save(folder / "cmyk.jpg")
    Image.new("I;16", (3, 3)).save(folder / "deep.png")
    Image.new("RGB", (1, 1)).save(folder / "dot.gif")
    run = igcli("explain", models / "image.keras", folder, "--steps", 4)
    assert run.exit_code == 1
    with open(run.out / "summary.csv", newline="") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"good", "odd_name__1_", "empty", "cmyk", "deep", "dot"}
    assert rows["empty"]["status"] == "error" and "image" in rows["empty"]["error"]
    assert all(rows[name]["status"] == "ok" for name in ("good", "odd_name__1_", "cmyk", "deep", "dot"))
    manifest = run.run_json()
    assert [e["id"] for e in manifest["errors"]] == ["empty"]
    assert manifest["skipped_files"][0].endswith("readme.txt")
    assert "empty.png" in run.stderr and "readme.txt" in run.stderr


def test_ids_from_csv_cannot_escape_out(igcli, models, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("name,a,b,c\n../../evil,1,2,3\n/etc/passwd,1,2,3\nCON,1,2,3\n..,1,2,3\n")
    run = igcli("explain", models / "table.keras", table, "--id-column", "name", "--steps", 2)
    assert run.exit_code == 0, run.stderr
    with open(run.out / "attributions.csv", newline="") as handle:
        ids = [row["id"] for row in csv.DictReader(handle)]
    assert ids == ["_/_/evil", "etc/passwd", "_CON", "_"]
    assert not (tmp_path / "evil").exists()


def test_output_directory_that_cannot_be_written(igcli, models, tmp_path):
    (tmp_path / "file").write_text("x")
    np.save(tmp_path / "x.npy", np.zeros((1, 3), np.float32))
    assert_one_line_error(igcli("explain", models / "table.keras", tmp_path / "x.npy", "-o", tmp_path / "file" / "out"), 2, "file")


def test_empty_inputs(igcli, models, tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(igcli("explain", models / "image.keras", tmp_path / "empty"), 2, "no images")
    (tmp_path / "e.csv").write_text("")
    assert_one_line_error(igcli("explain", models / "table.keras", tmp_path / "e.csv"), 2, "empty CSV")
    (tmp_path / "text.csv").write_text("a,b,c\nx,y,z\n")
    assert_one_line_error(igcli("explain", models / "table.keras", tmp_path / "text.csv"), 2, "no numeric")


def test_a_table_one_column_too_wide_names_the_label_column_option(igcli, models, tmp_path):
    # issue 23: a CSV with its label column beside the 3 features the model takes
    (tmp_path / "labelled.csv").write_text("a,b,c,label\n1,2,3,0\n4,5,6,1\n")
    run = igcli("explain", models / "table.keras", tmp_path / "labelled.csv")
    assert_one_line_error(run, 2, "labelled.csv", "(4,)", "a, b, c, label", "--label-column", "--columns")
    run = igcli("explain", models / "table.keras", tmp_path / "labelled.csv", "--label-column", "label", "--steps", 2, "-o", tmp_path / "out")
    assert run.exit_code == 0, run.output
    (tmp_path / "narrow.csv").write_text("a,b,note\n1,2,x\n")
    run = igcli("explain", models / "table.keras", tmp_path / "narrow.csv")
    assert_one_line_error(run, 2, "narrow.csv", "(2,)", "not a number", "--columns")


def like_a_terminal() -> None:
    """In the child before exec: Ctrl-C's default action, as a terminal gives a foreground command
    (a background job, such as CI run from a script with &, inherits SIGINT ignored, and Python then
    keeps ignoring it), at low priority so that the test's polling is not starved."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.nice(10)


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_leaves_a_resumable_directory(models, tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).uniform(size=(1200, 8, 8, 3)).astype(np.float32))
    command = [
        sys.executable,
        "-m",
        "igcli",
        "explain",
        str(models / "image.keras"),
        str(tmp_path / "x.npy"),
        "-o",
        str(tmp_path / "out"),
        "--steps",
        "64",
        "--batch-size",
        "16",
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, preexec_fn=like_a_terminal)
    chunks = tmp_path / "out" / ".igcli" / "chunks"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(chunks.glob("*.npz"))) < 2:
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
    resumed = subprocess.run(command + ["--resume", "--json"], capture_output=True, text=True)
    assert resumed.returncode == 0
    assert json.loads((tmp_path / "out" / "run.json").read_text())["counts"]["reused"] >= 64


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(images=st.lists(st.binary(max_size=300), min_size=1, max_size=4), table=st.text(max_size=200))
def test_random_bytes_and_text_never_crash(igcli, models, tmp_path_factory, images, table):
    root = tmp_path_factory.mktemp("fuzz")
    folder = root / "images"
    for number, data in enumerate(images):
        (folder / f"{number}.png").parent.mkdir(parents=True, exist_ok=True)
        (folder / f"{number}.png").write_bytes(data)
    write_png(folder / "z_good.png")
    run = igcli("explain", models / "image.keras", folder, "--steps", 2, "-o", root / "out1")
    assert run.exit_code in (0, 1) and "Traceback" not in run.stderr
    with h5py.File(root / "out1" / "attributions.h5") as handle:
        assert len(handle["ids"]) == len(images) + 1  # every file accounted for, explained or failed
        assert (b"error" in list(handle["status"][()])) == (run.exit_code == 1)
    (root / "t.csv").write_text(table)
    run = igcli("explain", models / "table.keras", root / "t.csv", "--steps", 2, "-o", root / "out2")
    assert run.exit_code in (0, 1, 2) and "Traceback" not in run.stderr
    if run.exit_code == 2:
        assert len(run.stderr.strip().splitlines()) == 1 and run.stderr.startswith("igcli: error: ")
    else:  # exit 1 only for instances that failed and are listed, never for a crash
        with open(root / "out2" / "summary.csv", newline="") as handle:
            statuses = [row["status"] for row in csv.DictReader(handle)]
        assert ("error" in statuses) == (run.exit_code == 1)


def test_console_script_keeps_exit_code_and_output_after_tensorflow(tmp_path):
    # The console script ends with os._exit after TensorFlow was imported (skipping its teardown):
    # the exit code, the JSON on stdout and the closed files must all survive that.
    sample = Path(__file__).resolve().parents[1] / "sample_data" / "shapes"
    command = [
        sys.executable,
        "-m",
        "igcli",
        "explain",
        str(sample / "model.keras"),
        str(sample / "images" / "circle_00.png"),
        "-o",
        str(tmp_path / "out"),
        "--steps",
        "1",
        "--max-delta",
        "1e-9",
        "--json",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 3, done.stderr  # one Gauss point cannot integrate a CNN to 1e-9
    assert json.loads(done.stdout)["exit_code"] == 3
    assert json.loads((tmp_path / "out" / "run.json").read_text())["exit_code"] == 3
    with h5py.File(tmp_path / "out" / "attributions.h5", "r") as handle:
        assert handle["attributions"].shape == (1, 64, 64, 3)


@pytest.mark.slow
def test_a_run_leaves_the_temporary_directory_as_it_found_it(tmp_path):
    # TensorFlow's autograph writes generated sources to the temporary directory and deletes them
    # only at interpreter exit, which the console script skips; igcli keeps them in a folder of its
    # own and removes it, after a successful run and after a failed one alike.
    sample = Path(__file__).resolve().parents[1] / "sample_data" / "shapes"
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "TMPDIR": str(temporary)}
    for extra, code in (([], 0), (["--layer", "no_such_layer"], 2)):
        command = [
            sys.executable,
            "-m",
            "igcli",
            "explain",
            str(sample / "model.keras"),
            str(sample / "images" / "circle_00.png"),
            "-o",
            str(tmp_path / "out"),
            "--overwrite",
            "--steps",
            "2",
            *extra,
        ]
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        assert done.returncode == code, done.stderr
        assert list(temporary.iterdir()) == []


def test_a_tensorflow_failure_at_run_time_is_one_line_without_the_graph_trace(igcli, tmp_path):
    import tensorflow as tf

    # a SavedModel that accepts any batch of 4 values but reshapes them to rows of 3: fails only
    # when run, inside the compiled gradient
    module = tf.Module()
    module.serve = tf.function(
        lambda x: {"y": tf.reduce_sum(tf.reshape(x, [-1, 3]), axis=1, keepdims=True)}, input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")]
    )
    tf.saved_model.save(module, str(tmp_path / "bad"), signatures={"serving_default": module.serve})
    np.save(tmp_path / "x.npy", np.ones((2, 4), np.float32))
    run = igcli("explain", tmp_path / "bad", tmp_path / "x.npy", "--steps", 2)
    line = assert_one_line_error(run, 1, "TensorFlow failed at Reshape", "InvalidArgumentError", "requested shape requires a multiple of 3", "--debug")
    assert "File " not in line and "Detected at node" not in line and "{{" not in line and len(line) < 300
    debug = igcli("explain", tmp_path / "bad", tmp_path / "x.npy", "--steps", 2, "--overwrite", "-o", run.out, "--debug")
    assert debug.exit_code == 1 and "Traceback" in debug.stderr
