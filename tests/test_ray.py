"""`igcli explain --ray`: the same run on a Ray cluster (igcli/runner/cluster/).

One local cluster (2 CPUs, `ray start --head --block`) serves every test here: a cluster costs
seconds to start. Each run uses 2 workers of 1 CPU. Skipped when the ray extra is not installed,
except the checks that need no cluster (the missing-extra message among them)."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from igcli.cli import cli
from tests.conftest import assert_one_line_error

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    # Ray Data's DataContext warns about its own deprecated settings when it copies itself
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context"),
]
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the ray extra is not installed: pip install 'igcli[ray]'")

# Different batch compositions change float32 sums (README, "Same run, same numbers"); measured
# here: 0 to 2e-7 of the largest attribution.
TOLERANCE = 2e-3
IMAGES = 96
OPTIONS = ("--steps", "128", "--quiet")
CLUSTER = ("--workers", "2", "--cpus-per-worker", "1")
WORKER_TITLE = b"ExplainWorker"  # in the command line Ray gives an actor's process
WRITE_TITLE = b"write_outputs"  # ... and a worker process while it runs a write task


def invoke(*args) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stderr


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A small CNN, a folder of IMAGES 48x48 images and one broken file, and a local run."""
    import keras

    root = tmp_path_factory.mktemp("ray")
    keras.utils.set_random_seed(0)
    keras.Sequential(
        [
            keras.Input((48, 48, 3)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    ).save(root / "model.keras")
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for number in range(IMAGES):
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(images / f"img{number:03d}.png")
    (images / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")  # fails alone, as locally
    local = root / "local"
    code, stderr = invoke("explain", root / "model.keras", images, "-o", local, *OPTIONS)
    assert code == 1, stderr  # the broken file
    return root


class Cluster(str):
    """A cluster's address, and the process that started it (its workers descend from it)."""

    def __new__(cls, address: str, pid: int):
        made = super().__new__(cls, address)
        made.pid = pid
        return made


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A local Ray cluster of 2 CPUs (its address), stopped after the module's tests."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("the ray extra is not installed: pip install 'igcli[ray]'")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("cluster") / "ray.log"
    ray_cli = Path(sys.executable).with_name("ray")
    command = [
        str(ray_cli) if ray_cli.exists() else "ray",
        "start",
        "--head",
        "--block",
        f"--port={port}",
        "--num-cpus=2",
        "--num-gpus=0",
        "--include-dashboard=false",
        "--disable-usage-stats",
    ]
    # Token authentication with a token of its own (Ray 2.60 enables it for `ray start` only where
    # ~/.ray/auth_token exists; drivers that name an address need RAY_AUTH_MODE=token and the token);
    # no 30 s drain of the node on SIGTERM (meant for serving clusters).
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env = {**os.environ, **auth, "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}
    with open(log, "w") as output:
        head = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    saved = {name: os.environ.get(name) for name in auth}
    os.environ.update(auth)  # for the drivers: this process's and its subprocesses
    try:
        deadline = time.time() + 90
        while "Ray runtime started" not in log.read_text():
            assert head.poll() is None and time.time() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
        address = next(line.split("--address='")[1].split("'")[0] for line in log.read_text().splitlines() if "--address='" in line)
        yield Cluster(address, head.pid)
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops what it started
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def read(out: Path) -> dict:
    with h5py.File(out / "attributions.h5", "r") as handle:
        arrays = {name: handle[name][()] for name in handle}
        arrays["virtual"] = handle["attributions"].is_virtual
        if arrays["virtual"]:
            arrays["shard_files"] = {source.file_name for source in handle["attributions"].virtual_sources()}
    with open(out / "summary.csv", newline="") as handle:
        arrays["summary"] = list(csv.reader(handle))
    arrays["run"] = json.loads((out / "run.json").read_text())
    arrays["heatmaps"] = sorted(str(p.relative_to(out / "heatmaps")) for p in (out / "heatmaps").rglob("*.png"))
    return arrays


def assert_same_results(cluster_out: Path, local_out: Path, changed: dict | None = None, same_sources: bool = True):
    """Every output of a cluster run equals the local run's: text exactly, numbers within what
    another batch composition may change. changed: id -> a local run of that one image, for an
    image changed since. same_sources: False for a run over a copy of the folder."""
    got, want = read(cluster_out), read(local_out)
    assert got["virtual"] and not want["virtual"]
    assert all(name.startswith("shards/") for name in got["shard_files"])
    ids = [i.decode() for i in want["ids"]]
    assert len(set(ids)) == len(ids)
    same = [row for row, ident in enumerate(ids) if ident not in (changed or {})]
    for name in ("ids", "sources", "status", "target_names", "targets") if same_sources else ("ids", "status", "target_names", "targets"):
        assert list(got[name][same]) == list(want[name][same]), name
    attributions, expected = got["attributions"], want["attributions"].copy()
    scores = {name: want[name].copy() for name in ("scores", "baseline_scores", "deltas")}
    for ident, other in (changed or {}).items():
        row, theirs = ids.index(ident), read(other)
        expected[row] = theirs["attributions"][0]
        for name in scores:
            scores[name][row] = theirs[name][0]
    ok = np.array([s == b"ok" for s in want["status"]])
    largest = np.abs(expected[ok]).max()
    assert np.abs(attributions[ok] - expected[ok]).max() <= TOLERANCE * largest
    assert np.isnan(attributions[~ok]).all()
    for name, values in scores.items():
        # deltas sit at the rounding floor of sum(A) in float32: another batch composition moves
        # them by about eps * sqrt(features) * sum|A| (float32 sums in another order), not by a
        # share of their own size (measured: 2.3e-8, with sum|A| = 0.57 over 6,912 features)
        flat = np.abs(expected[ok]).reshape(int(ok.sum()), -1)
        rounding = np.finfo(np.float32).eps * np.sqrt(flat.shape[1]) * flat.sum(axis=1).max()
        scale = rounding if name == "deltas" else TOLERANCE * np.abs(values[ok]).max()
        np.testing.assert_allclose(got[name][ok], values[ok], rtol=1e-4, atol=scale)
    assert [row[0] for row in got["summary"]] == [row[0] for row in want["summary"]]  # input order
    assert got["summary"][0] == want["summary"][0]
    for mine, theirs in zip(got["summary"][1:], want["summary"][1:]):
        if not same_sources:
            mine, theirs = mine[:1] + mine[2:], theirs[:1] + theirs[2:]
        if changed and mine[0] in changed:
            continue
        assert mine[:6] == theirs[:6] and mine[-2:] == theirs[-2:]  # id, source, size, classes, status, error
    assert got["heatmaps"] == want["heatmaps"]
    assert got["run"]["counts"]["instances"] == want["run"]["counts"]["instances"]
    assert got["run"]["counts"]["failed"] == want["run"]["counts"]["failed"] == 1
    assert (cluster_out / "report.html").is_file() and (cluster_out / "overview.png").is_file()
    return got


def test_missing_extra_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    (tmp_path / "m.keras").write_bytes(b"not read: refused before the model")
    (tmp_path / "images").mkdir()
    run = CliRunner().invoke(cli, ["explain", str(tmp_path / "m.keras"), str(tmp_path / "images"), "-o", str(tmp_path / "out"), "--ray", "local"])
    line = assert_one_line_error(run, 2, "--ray needs Ray", "pip install 'igcli[ray]'")
    assert "Traceback" not in line and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("--workers", "3:1"), "1 <= MIN <= MAX"),
        (("--workers", "two"), "expected N, MIN:MAX or auto"),
        (("--gpus-per-worker", "0.5"), "whole GPUs"),
        (("--cpus-per-worker", "0"), "cpus-per-worker"),
        (("--format", "npz"), "use --format h5 or zarr with --ray"),
    ],
)
def test_cluster_options_are_checked_before_any_cluster(tmp_path, args, fragment):
    (tmp_path / "m.keras").write_bytes(b"not read")
    (tmp_path / "images").mkdir()
    run = CliRunner().invoke(cli, ["explain", str(tmp_path / "m.keras"), str(tmp_path / "images"), "-o", str(tmp_path / "out"), "--ray", "local", *args])
    assert_one_line_error(run, 2, fragment)


@needs_ray
def test_every_other_option_is_checked_before_the_cluster_is_touched(tmp_path):
    (tmp_path / "images").mkdir()
    nobody = "127.0.0.1:1"  # were it contacted, the error would say that no cluster answers there
    run = CliRunner().invoke(cli, ["explain", str(tmp_path / "m.keras"), str(tmp_path / "images"), "-o", str(tmp_path / "out"), "--ray", nobody])
    assert_one_line_error(run, 2, "no such model")
    (tmp_path / "m.keras").write_bytes(b"not read")
    run = CliRunner().invoke(
        cli, ["explain", str(tmp_path / "m.keras"), str(tmp_path / "images"), "-o", str(tmp_path / "out"), "--steps", "0", "--ray", nobody]
    )
    assert_one_line_error(run, 2, "--steps 0")


@needs_ray
def test_array_and_table_inputs_run_on_a_cluster_split_by_rows(cluster, tmp_path):
    """.npy and .csv inputs: the driver reads the rows and hands them out by groups; every
    array and summary row equals the local run's (a CSV with ids and labels, --target label)."""
    import keras

    keras.utils.set_random_seed(0)
    keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(3)]).save(tmp_path / "m.keras")
    rng = np.random.default_rng(0)
    features = rng.normal(size=(70, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", features)
    with open(tmp_path / "t.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", *(f"f{i}" for i in range(6)), "label"])
        writer.writerows([f"row{n}", *(f"{v:.6f}" for v in row), n % 3] for n, row in enumerate(features))
    table = ("--id-column", "name", "--label-column", "label", "--target", "label")
    for inputs, more in ((tmp_path / "x.npy", ()), (tmp_path / "t.csv", table)):
        local, remote = tmp_path / f"local-{inputs.suffix[1:]}", tmp_path / f"ray-{inputs.suffix[1:]}"
        code, stderr = invoke("explain", tmp_path / "m.keras", inputs, "-o", local, *OPTIONS, *more)
        assert code == 0, stderr
        code, stderr = invoke("explain", tmp_path / "m.keras", inputs, "-o", remote, *OPTIONS, *more, "--ray", cluster, *CLUSTER)
        assert code == 0, stderr
        with h5py.File(local / "attributions.h5") as want, h5py.File(remote / "attributions.h5") as got:
            for name in ("ids", "sources", "targets", "status"):
                assert list(got[name][()]) == list(want[name][()]), name
            largest = np.abs(want["attributions"][()]).max()
            assert np.abs(got["attributions"][()] - want["attributions"][()]).max() <= TOLERANCE * largest
        summary = [row[:7] for row in csv.reader(open(remote / "summary.csv"))]
        assert summary == [row[:7] for row in csv.reader(open(local / "summary.csv"))]


@needs_ray
def test_a_cluster_run_equals_the_local_run(data, cluster, tmp_path):
    out = tmp_path / "cluster"
    code, stderr = invoke("explain", data / "model.keras", data / "images", "-o", out, *OPTIONS, "--ray", cluster, *CLUSTER)
    assert code == 1, stderr  # the broken image failed, alone
    got = assert_same_results(out, data / "local")
    facts = got["run"]["cluster"]
    assert facts["workers"] == {"min": 2, "max": 2} and facts["duplicate_rows_dropped"] == 0
    assert 1 <= len(facts["worker_processes"]) <= 2  # usually both took groups; a slow start can leave one idle
    assert sum(w["instances"] for w in facts["worker_processes"].values()) == IMAGES + 1
    assert got["run"]["resolved"]["branches"] == 1  # one CPU per worker: one branch, whatever the node has
    assert {p.name for p in (out / "shards").iterdir()} == {Path(n).name for n in got["shard_files"]}  # no leftovers


def worker_processes(cluster: Cluster, *titles: bytes) -> list[int]:
    """This cluster's processes (never another's on the machine) whose command line, Ray's title
    for a busy worker, names one of titles."""
    parents, commands = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
                commands[int(entry.name)] = (entry / "cmdline").read_bytes()
            except (OSError, ValueError):
                continue

    def ours(pid: int) -> bool:
        while pid > 1:
            if pid == cluster.pid:
                return True
            pid = parents.get(pid, 0)
        return False

    return [pid for pid, command in commands.items() if any(title in command for title in titles or (WORKER_TITLE,)) and ours(pid)]


@needs_ray
def test_a_killed_worker_is_retried_and_every_instance_explained_once(data, cluster, tmp_path):
    out = tmp_path / "cluster"
    killed = {}

    def kill_one_worker():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            pids = worker_processes(cluster)
            if pids and (out / "shards").is_dir() and any((out / "shards").glob("*.h5")):
                os.kill(pids[0], signal.SIGKILL)
                killed.update(pid=pids[0], at=time.time())
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_worker, daemon=True)
    killer.start()
    code, stderr = invoke("explain", data / "model.keras", data / "images", "-o", out, *OPTIONS, "--ray", cluster, *CLUSTER)
    killer.join()
    assert killed, "no worker was killed"
    assert code == 1, stderr
    later = [p for p in (out / "shards").glob("*.h5") if p.stat().st_mtime > killed["at"]]
    assert later, "the kill must land mid-run"
    got = assert_same_results(out, data / "local")
    assert sorted(i.decode() for i in got["ids"]) == sorted(set(i.decode() for i in got["ids"]))
    assert got["run"]["counts"]["explained"] == IMAGES and got["run"]["counts"]["computed"] == IMAGES


@needs_ray
def test_a_killed_driver_resumes_computing_only_what_is_missing(data, cluster, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(data / "images", images)
    out = tmp_path / "cluster"
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    command = [sys.executable, "-m", "igcli", "explain", str(data / "model.keras"), str(images), "-o", str(out), *OPTIONS, "--ray", cluster, *CLUSTER]
    driver = subprocess.Popen(command, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "shards").glob("*.h5")) if (out / "shards").is_dir() else []) < 2:
        assert driver.poll() is None, "the driver ended before it could be killed"
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert not (out / "attributions.h5").exists() and not (out / "summary.csv").exists()
    deadline = time.time() + 60  # the cluster notices the driver is gone and stops its job's workers and tasks
    while worker_processes(cluster, WORKER_TITLE, WRITE_TITLE) and time.time() < deadline:
        time.sleep(0.1)
    assert not worker_processes(cluster, WORKER_TITLE, WRITE_TITLE)
    # A content change under the same id must be computed again: Ray's own checkpoints filter by id alone.
    finished = {}
    for shard in (out / "shards").glob("*.h5"):
        with h5py.File(shard, "r") as handle:
            for ident, status in zip(handle["ids"][()], handle["statuses"][()]):
                if status == b"ok":
                    finished[ident.decode()] = True
    assert 2 <= len(finished) < IMAGES
    changed = sorted(finished)[0]
    Image.fromarray(np.full((48, 48, 3), 200, np.uint8)).save(images / f"{changed}.png")
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(images / f"{changed}.png", alone)
    assert invoke("explain", data / "model.keras", alone, "-o", tmp_path / "changed", *OPTIONS)[0] == 0

    code, stderr = invoke("explain", data / "model.keras", images, "-o", out, *OPTIONS, "--ray", cluster, *CLUSTER, "--resume")
    assert code == 1, stderr
    got = read(out)
    counts = got["run"]["counts"]
    assert counts["reused"] == len(finished) - 1  # every finished row but the changed one
    assert counts["computed"] == IMAGES - counts["reused"] and counts["failed"] == 1
    expected_sources = [str(images / name) for name in sorted(os.listdir(images))]
    assert [s.decode() for s in got["sources"]] == expected_sources
    assert_same_results(out, data / "local", changed={changed: tmp_path / "changed"}, same_sources=False)
    # a second resume with nothing new computes nothing
    code, _ = invoke("explain", data / "model.keras", images, "-o", out, *OPTIONS, "--ray", cluster, *CLUSTER, "--resume")
    assert code == 1 and read(out)["run"]["counts"]["computed"] == 0


@needs_ray
def test_several_targets_and_metrics_on_a_cluster_equal_the_local_run(data, cluster, tmp_path):
    # every other option means on a cluster what it means locally; these add a target axis and
    # per-target metric curves to every output
    extra = ("--steps", "16", "--quiet", "--target", "top:2", "--metrics", "deletion", "--metric-steps", "5", "--panel")
    local, remote = tmp_path / "local", tmp_path / "cluster"
    assert invoke("explain", data / "model.keras", data / "images", "-o", local, *extra)[0] == 1
    code, stderr = invoke("explain", data / "model.keras", data / "images", "-o", remote, *extra, "--ray", cluster, *CLUSTER)
    assert code == 1, stderr
    got, want = read(remote), read(local)
    assert got["virtual"] and got["attributions"].shape == want["attributions"].shape == (IMAGES + 1, 2, 48, 48, 3)
    ok = np.array([s == b"ok" for s in want["status"]])
    np.testing.assert_array_equal(got["targets"], want["targets"])
    scale = np.abs(want["attributions"][ok]).max()
    assert np.abs(got["attributions"][ok] - want["attributions"][ok]).max() <= TOLERANCE * scale
    np.testing.assert_allclose(got["deletion_curve"][ok], want["deletion_curve"][ok], rtol=1e-4, atol=1e-6)
    assert got["summary"][0] == want["summary"][0] and len(got["summary"]) == len(want["summary"])  # a row per (instance, target)
    assert got["heatmaps"] == want["heatmaps"]  # <id>/<target>.png and the panels <id>.png
    assert got["run"]["metrics"]["deletion"] == pytest.approx(want["run"]["metrics"]["deletion"], rel=1e-4)


@needs_ray
def test_a_cluster_run_into_zarr_equals_the_local_run(data, cluster, tmp_path):
    """--format zarr: the workers write their instances' chunks of OUT/attributions.zarr, the
    driver every instance's values; no shards, nothing left under a temporary name."""
    import zarr

    out = tmp_path / "zarr"
    code, stderr = invoke("explain", data / "model.keras", data / "images", "-o", out, *OPTIONS, "--ray", cluster, *CLUSTER, "--format", "zarr")
    assert code == 1, stderr  # the broken image failed, alone
    group = zarr.open_group(out / "attributions.zarr", mode="r")
    want = read(data / "local")
    assert group["attributions"].chunks[0] == 1 and group["attributions"].shape == want["attributions"].shape
    for name in ("ids", "sources", "status"):
        assert [str(v) for v in group[name][:]] == [v.decode() for v in want[name]], name
    ok = np.array([s == b"ok" for s in want["status"]])
    largest = np.abs(want["attributions"][ok]).max()
    assert np.abs(group["attributions"][:][ok] - want["attributions"][ok]).max() <= TOLERANCE * largest
    np.testing.assert_allclose(group["scores"][:][ok], want["scores"][ok], rtol=1e-4)
    assert not (out / "shards").exists() and not list(out.glob(".*.partial"))
    assert json.loads((out / "run.json").read_text())["counts"]["failed"] == 1


@needs_ray
def test_a_killed_driver_resumes_into_zarr_computing_only_what_is_missing(data, cluster, tmp_path):
    """--format zarr: the group records say which rows are in the store; a --resume keeps the
    store and reuses them, and the finished store equals the local run."""
    import zarr

    out = tmp_path / "cluster"
    args = ["explain", str(data / "model.keras"), str(data / "images"), "-o", str(out), *OPTIONS, "--ray", cluster, *CLUSTER, "--format", "zarr"]
    driver = subprocess.Popen([sys.executable, "-m", "igcli", *args], env={**os.environ, "KERAS_BACKEND": "tensorflow"})
    records = out / ".igcli" / "groups"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(records.glob("*.npz")) if records.is_dir() else []) < 2:
        assert driver.poll() is None, "the driver ended before it could be killed"
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert not (out / "attributions.zarr").exists() and (out / ".attributions.zarr.partial").is_dir()
    deadline = time.time() + 60
    while worker_processes(cluster, WORKER_TITLE, WRITE_TITLE) and time.time() < deadline:
        time.sleep(0.1)
    finished = set()
    for path in records.glob("*.npz"):
        with np.load(path) as record:
            finished |= {str(ident) for ident, status in zip(record["ids"], record["statuses"]) if status == "ok"}
    assert 2 <= len(finished) < IMAGES
    code, stderr = invoke(*args, "--resume")
    assert code == 1, stderr
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["reused"] == len(finished) and run["counts"]["computed"] == IMAGES - len(finished)
    group, want = zarr.open_group(out / "attributions.zarr", mode="r"), read(data / "local")
    ok = np.array([s == b"ok" for s in want["status"]])
    assert [str(v) for v in group["status"][:]] == [v.decode() for v in want["status"]]
    assert np.abs(group["attributions"][:][ok] - want["attributions"][ok]).max() <= TOLERANCE * np.abs(want["attributions"][ok]).max()
