"""A killed run resumes to the same bytes; a grown folder is explained incrementally."""

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest
from PIL import Image

from tests.conftest import assert_one_line_error


def small_image_model(path):
    keras.utils.set_random_seed(0)
    keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="tanh"), keras.layers.Flatten(), keras.layers.Dense(2)]).save(path)


def attributions(out):
    with h5py.File(out / "attributions.h5") as handle:
        return handle["attributions"][()], [i.decode() for i in handle["ids"][()]]


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_uninterrupted_bytes(tmp_path):
    small_image_model(tmp_path / "m.keras")
    x = np.random.default_rng(0).uniform(size=(400, 8, 8, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    base = [
        sys.executable,
        "-m",
        "igcli",
        "explain",
        str(tmp_path / "m.keras"),
        str(tmp_path / "x.npy"),
        "--steps",
        "64",
        "--batch-size",
        "16",
        "--quiet",
        "--no-progress",
    ]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    subprocess.run(base + ["-o", str(tmp_path / "whole")], check=True, env=env)
    killed = tmp_path / "killed"
    process = subprocess.Popen(base + ["-o", str(killed)], env=env)
    chunks = killed / ".igcli" / "chunks"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(chunks.glob("*.npz"))) < 3:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list(chunks.glob("*.npz")))
    assert 3 <= done_before < 400 // 32 + 1, "the kill must land mid-run"
    assert not (killed / "attributions.h5").exists()  # nothing partial under a final name
    resumed = subprocess.run(base + ["-o", str(killed), "--resume", "--json"], check=True, env=env, capture_output=True, text=True)
    assert json.loads(resumed.stdout)["exit_code"] == 0
    counts = json.loads((killed / "run.json").read_text())["counts"]
    assert counts["reused"] >= 3 * 32 and counts["reused"] + counts["computed"] == 400
    whole, whole_ids = attributions(tmp_path / "whole")
    again, again_ids = attributions(killed)
    assert again_ids == whole_ids
    assert again.tobytes() == whole.tobytes()


def test_resume_explains_only_new_and_changed_images(igcli, tmp_path):
    small_image_model(tmp_path / "m.keras")
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in ("a", "b", "c"):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{name}.png")
    out = tmp_path / "out"
    first = igcli("explain", tmp_path / "m.keras", folder, "-o", out, "--steps", 8)
    assert first.exit_code == 0, first.stderr
    before, _ = attributions(out)
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / "b.png")  # changed
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / "d.png")  # new
    second = igcli("explain", tmp_path / "m.keras", folder, "-o", out, "--steps", 8, "--resume")
    assert second.exit_code == 0, second.stderr
    assert second.run_json()["counts"]["reused"] == 2 and second.run_json()["counts"]["computed"] == 2
    after, ids = attributions(out)
    assert ids == ["a", "b", "c", "d"]
    assert after[0].tobytes() == before[0].tobytes() and after[2].tobytes() == before[2].tobytes()
    assert not np.array_equal(after[1], before[1])
    assert sorted(p.stem for p in (out / "heatmaps").glob("*.png")) == ["a", "b", "c", "d"]


def test_resume_refuses_other_options_and_foreign_directories(igcli, tmp_path):
    small_image_model(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", np.zeros((2, 8, 8, 3), np.float32))
    out = tmp_path / "out"
    assert igcli("explain", tmp_path / "m.keras", tmp_path / "x.npy", "-o", out, "--steps", 8).exit_code == 0
    assert_one_line_error(igcli("explain", tmp_path / "m.keras", tmp_path / "x.npy", "-o", out, "--steps", 9, "--resume"), 2, "steps")
    assert_one_line_error(igcli("explain", tmp_path / "m.keras", tmp_path / "x.npy", "-o", out, "--resume", "--overwrite"), 2, "exclude")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    assert_one_line_error(igcli("explain", tmp_path / "m.keras", tmp_path / "x.npy", "-o", foreign, "--resume"), 2, "not an igcli output")
    assert (foreign / "thesis.tex").read_text() == "precious"
