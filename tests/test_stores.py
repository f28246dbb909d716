"""Inputs and outputs in an object store, against a real S3-compatible server on loopback (moto's
standalone server, tests/s3server.py): a run from bucket to bucket equals the run on local files,
a killed run resumes on the bucket, --overwrite and --resume work on a prefix, a long listing is
paged, and a missing bucket, a denied key or an unreachable store is one line naming the URI."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("s3fs")
pytest.importorskip("moto")

from tests.conftest import assert_one_line_error  # noqa: E402
from tests.s3server import environment, s3_server  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "shapes"


@pytest.fixture(scope="module")
def s3():
    """The user's environment for the server, set in this process; yields an s3fs file system."""
    import s3fs

    with s3_server() as env, environment(env):
        fs = s3fs.S3FileSystem()
        fs.mkdir("data")
        fs.put(str(SAMPLE / "images") + "/", "data/images/", recursive=True)
        fs.put_file(str(SAMPLE / "model.keras"), "data/model.keras")
        fs.put_file(str(SAMPLE / "class_names.txt"), "data/class_names.txt")
        fs.env = env
        yield fs


def read_arrays(path: Path) -> dict:
    with h5py.File(path, "r") as handle:
        return {name: handle[name][()] for name in handle}


def rows(summary: Path) -> list[list[str]]:
    """summary.csv's rows without the source column (a path here, a URI there)."""
    lines = [line.split(",") for line in summary.read_text().splitlines()]
    column = lines[0].index("source")
    return [line[:column] + line[column + 1 :] for line in lines]


def test_a_run_from_bucket_to_bucket_equals_the_local_run(igcli, s3, tmp_path):
    common = ["--steps", "8", "--format", "h5", "--class-names"]  # h5: the arrays compared as the local run writes them
    local = igcli("explain", SAMPLE / "model.keras", SAMPLE / "images", *common, SAMPLE / "class_names.txt", "-o", tmp_path / "local")
    remote = igcli("explain", "s3://data/model.keras", "s3://data/images", *common, "s3://data/class_names.txt", "-o", "s3://data/out")
    assert local.exit_code == remote.exit_code == 0, remote.stderr
    assert "into s3://data/out (0 reused, 24 computed, 0 failed)" in remote.stderr
    keys = {key.removeprefix("data/out/") for key in s3.find("data/out")}
    assert {"attributions.h5", "summary.csv", "run.json", "report.html", "overview.png", "heatmaps/circle_00.png"} <= keys  # --format h5 given
    assert not [key for key in keys if key.endswith(".partial") or key == ".igcli/lock.json"]
    s3.get("data/out/", str(tmp_path / "copy") + "/", recursive=True)
    mine, theirs = read_arrays(tmp_path / "local" / "attributions.h5"), read_arrays(tmp_path / "copy" / "attributions.h5")
    assert set(mine) == set(theirs)
    for name in mine:
        if name != "sources":
            np.testing.assert_allclose(mine[name], theirs[name], rtol=1e-6) if mine[name].dtype.kind == "f" else np.testing.assert_array_equal(
                mine[name], theirs[name]
            )
    assert theirs["sources"][0].decode() == "s3://data/images/circle_00.png"
    assert rows(tmp_path / "local" / "summary.csv") == rows(tmp_path / "copy" / "summary.csv")
    run = json.loads((tmp_path / "copy" / "run.json").read_text())
    assert run["configuration"]["out"] == "s3://data/out" and run["configuration"]["inputs"] == "s3://data/images"

    again = igcli("explain", "s3://data/model.keras", "s3://data/images", *common, "s3://data/class_names.txt", "-o", "s3://data/out")
    assert_one_line_error(again, 2, "s3://data/out: output directory is not empty")
    resumed = igcli("explain", "s3://data/model.keras", "s3://data/images", *common, "s3://data/class_names.txt", "-o", "s3://data/out", "--resume")
    assert resumed.exit_code == 0 and "(24 reused, 0 computed, 0 failed)" in resumed.stderr, resumed.stderr


def test_overwrite_on_a_prefix_replaces_igcli_objects_and_keeps_the_users(igcli, s3, tmp_path):
    s3.pipe_file("data/mixed/notes.txt", b"mine")
    args = ["explain", "s3://data/model.keras", "s3://data/images/circle_0[0-3].png", "--steps", "4", "--no-report", "--format", "h5", "-o", "s3://data/mixed"]
    assert_one_line_error(igcli(*args), 2, "s3://data/mixed: output directory is not empty")
    first = igcli(*args, "--overwrite")
    assert first.exit_code == 0, first.stderr
    assert s3.exists("data/mixed/attributions.h5") and s3.exists("data/mixed/heatmaps/circle_03.png")
    second = igcli(*args[:2], "s3://data/images/circle_0[0-1].png", *args[3:], "--overwrite", "--format", "npz")
    assert second.exit_code == 0, second.stderr
    keys = {key.removeprefix("data/mixed/") for key in s3.find("data/mixed")}
    assert "attributions.npz" in keys and "attributions.h5" not in keys  # the earlier format's array is gone
    assert "heatmaps/circle_01.png" in keys and "heatmaps/circle_03.png" not in keys  # so are gone inputs' heatmaps
    assert s3.cat_file("data/mixed/notes.txt") == b"mine"
    with np.load(s3.open("data/mixed/attributions.npz")) as data:
        assert list(data["ids"]) == ["circle_00", "circle_01"]


def test_a_config_in_the_bucket_names_files_beside_it(igcli, s3):
    s3.pipe_file("data/configs/job.toml", b'steps = 4\nclass-names = "../class_names.txt"\nreport = false\n')
    run = igcli("explain", "s3://data/model.keras", "s3://data/images/square_00.png", "--config", "s3://data/configs/job.toml", "-o", "s3://data/cfg")
    assert run.exit_code == 0, run.stderr
    assert b"square" in s3.cat_file("data/cfg/summary.csv")


def test_file_uris_are_local_paths(igcli, tmp_path):
    out = tmp_path / "out"
    run = igcli("explain", f"file://{SAMPLE / 'model.keras'}", f"file://{SAMPLE / 'images' / 'circle_00.png'}", "--steps", "4", "-o", f"file://{out}")
    assert run.exit_code == 0, run.stderr
    assert (out / "attributions.h5").is_file()


def test_a_long_listing_is_read_a_page_at_a_time_with_progress(s3):
    from igcli.stores import list_objects

    s3.pipe({f"data/many/{i:05d}.png": b"x" for i in range(1100)})
    seen = []
    listed = list_objects("s3://data/many", seen.append)
    assert len(listed) == 1100 and listed[-1] == ("data/many/01099.png", 1)  # S3 gives at most 1000 a page: two were read
    assert seen == [1000]  # a progress step per page


def test_store_errors_are_one_line_naming_the_uri(igcli, s3, tmp_path):
    model = SAMPLE / "model.keras"
    run = igcli("explain", model, "s3://nobucket/images", "--steps", "4", "-o", tmp_path / "o1")
    line = assert_one_line_error(run, 2, "s3://nobucket/images", "not found")
    assert "bucket" in line
    run = igcli("explain", model, SAMPLE / "images", "--steps", "4", "-o", "s3://nobucket/out")
    assert_one_line_error(run, 2, "s3://nobucket/out", "not found")
    run = igcli("explain", "s3://data/nomodel.keras", SAMPLE / "images", "-o", tmp_path / "o2")
    assert_one_line_error(run, 2, "s3://data/nomodel.keras: no such model file")
    run = igcli("explain", model, "gs://bucket/images", "-o", tmp_path / "o3")
    if "gcsfs" not in sys.modules and not _installed("gcsfs"):
        assert_one_line_error(run, 2, "gs://bucket/images", "pip install 'igcli[gcs]'")


def _installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_a_denied_key_and_an_unreachable_store_are_one_line(tmp_path):
    """A server that checks every key (none is known to it), and a port where nothing listens."""
    model = SAMPLE / "model.keras"
    with s3_server(INITIAL_NO_AUTH_ACTION_COUNT="0") as env:
        run = _cli(model, "s3://locked/images", tmp_path / "o1", env)
        line = assert_one_line_error(run, 2, "s3://locked/images", "access denied")
        assert "AWS_PROFILE or AWS_ACCESS_KEY_ID" in line
        closed = {**env, "AWS_ENDPOINT_URL": env["AWS_ENDPOINT_URL"].rsplit(":", 1)[0] + ":9", "AWS_MAX_ATTEMPTS": "1"}
    run = _cli(model, "s3://any/images", tmp_path / "o2", closed)
    assert_one_line_error(run, 2, "s3://any/images", "cannot reach the store", "AWS_ENDPOINT_URL")


class _Outcome:
    def __init__(self, process: subprocess.CompletedProcess):
        self.exit_code, self.stdout, self.stderr = process.returncode, process.stdout, process.stderr


def _cli(model, inputs, out, env) -> _Outcome:
    args = [sys.executable, "-m", "igcli", "explain", str(model), str(inputs), "-o", str(out), "--steps", "4"]
    return _Outcome(subprocess.run(args, capture_output=True, text=True, env={**os.environ, **env}, timeout=300))


def test_a_killed_run_resumes_on_the_bucket_and_recomputes_nothing_that_finished(s3, tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="tanh"), keras.layers.Flatten(), keras.layers.Dense(2)]).save(
        tmp_path / "m.keras"
    )
    np.save(tmp_path / "x.npy", np.random.default_rng(0).uniform(size=(1200, 8, 8, 3)).astype(np.float32))
    s3.put_file(str(tmp_path / "x.npy"), "data/long/x.npy")
    s3.put_file(str(tmp_path / "m.keras"), "data/long/m.keras")
    args = [sys.executable, "-m", "igcli", "explain", "s3://data/long/m.keras", "s3://data/long/x.npy", "-o", "s3://data/long/out", "--steps", "64"]
    env = {**os.environ, **s3.env}
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    chunks: list[str] = []
    deadline = time.time() + 240
    while len(chunks) < 2:
        assert first.poll() is None and time.time() < deadline, first.stderr.read() if first.poll() is not None else "no chunk in time"
        time.sleep(0.3)
        s3.invalidate_cache()
        chunks = s3.glob("data/long/out/.igcli/chunks/*.npz")
    first.send_signal(signal.SIGKILL)
    first.wait()
    s3.invalidate_cache()
    saved = sum(len(np.load(s3.open(chunk))["ids"]) for chunk in s3.glob("data/long/out/.igcli/chunks/*.npz"))
    assert 0 < saved < 1200
    assert not s3.exists("data/long/out/attributions.zarr")  # nothing but whole groups was put
    resumed = subprocess.run([*args, "--resume"], capture_output=True, text=True, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"({saved} reused, {1200 - saved} computed, 0 failed)" in resumed.stderr
    assert "took over s3://data/long/out from a run that ended without releasing it" in resumed.stderr
    whole = subprocess.run(
        [sys.executable, "-m", "igcli", "explain", str(tmp_path / "m.keras"), str(tmp_path / "x.npy"), "-o", str(tmp_path / "whole"), "--steps", "64"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert whole.returncode == 0, whole.stderr
    import zarr

    resumed_arrays = zarr.open_group("s3://data/long/out/attributions.zarr", mode="r")  # the default format for an OUT in a store
    np.testing.assert_array_equal(resumed_arrays["attributions"][:], read_arrays(tmp_path / "whole" / "attributions.h5")["attributions"])


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.skipif(not _installed("ray"), reason="the ray extra is not installed: pip install 'igcli[ray]'")
def test_a_cluster_run_from_bucket_to_bucket_writes_zarr_equal_to_the_local_run(s3, tmp_path):
    """--ray local, every path a URI: the workers read the images and write their chunks of
    attributions.zarr (the default format for an OUT in a store) and their heatmaps to the bucket."""
    import zarr

    pattern = "circle_0[0-5].png"
    local = subprocess.run(
        [sys.executable, "-m", "igcli", "explain", str(SAMPLE / "model.keras"), str(SAMPLE / "images" / pattern), "-o", str(tmp_path / "local")]
        + ["--steps", "8", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert local.returncode == 0, local.stderr
    args = ["explain", "s3://data/model.keras", f"s3://data/images/{pattern}", "-o", "s3://data/ray", "--steps", "8", "--ray", "local"]
    remote = subprocess.run([sys.executable, "-m", "igcli", *args, "--workers", "2"], capture_output=True, text=True, env={**os.environ, **s3.env}, timeout=900)
    assert remote.returncode == 0, remote.stderr
    s3.invalidate_cache()
    keys = {key.removeprefix("data/ray/") for key in s3.find("data/ray")}
    assert {"summary.csv", "run.json", "report.html", "overview.png", "heatmaps/circle_05.png", "attributions.zarr/zarr.json"} <= keys
    assert not [key for key in keys if key.startswith("shards/") or key.endswith(".partial")]
    group = zarr.open_group("s3://data/ray/attributions.zarr", mode="r")
    want = read_arrays(tmp_path / "local" / "attributions.h5")
    assert [str(v) for v in group["ids"][:]] == [v.decode() for v in want["ids"]]
    np.testing.assert_allclose(group["attributions"][:], want["attributions"], rtol=1e-4, atol=1e-6 * np.abs(want["attributions"]).max())
    s3.get_file("data/ray/summary.csv", str(tmp_path / "ray.csv"))
    assert [row[:4] for row in rows(tmp_path / "ray.csv")] == [row[:4] for row in rows(tmp_path / "local" / "summary.csv")]


def test_inspect_reads_a_model_in_the_bucket(igcli, s3):
    run = igcli("inspect", "s3://data/model.keras")
    assert run.exit_code == 0, run.stderr
    assert run.stdout.splitlines()[0] == "s3://data/model.keras: keras"
