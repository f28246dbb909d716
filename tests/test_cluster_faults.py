"""`igcli explain --ray` when the cluster fails: each fault one line naming the cause and the fix,
within a bound (docs/cluster.md, "When the cluster fails"); Ctrl-C at every stage; OUT as it was
after a run that never started; run.json's account of the cluster.

One real two-node cluster (`ray start --head` and `ray start --address`, on loopback, with a token
and a temporary folder of their own) serves the module; its last tests kill its second node, then
its head. A plain HTTP server and a socket that never answers stand in for wrong addresses."""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from igcli.cli import cli
from tests.conftest import assert_one_line_error

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context"),
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the ray extra is not installed: pip install 'igcli[ray]'"),
]
IMAGES = 24
OPTIONS = ("--steps", "32", "--workers", "1:2", "--cpus-per-worker", "1")
WORKER_TITLE = b"ExplainWorker"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    import keras

    root = tmp_path_factory.mktemp("faults")
    keras.utils.set_random_seed(0)
    keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)]
    ).save(root / "model.keras")
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for number in range(IMAGES):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(images / f"img{number:03d}.png")
    return root


def start_node(command: list[str], log: Path, env: dict) -> subprocess.Popen:
    with open(log, "w") as output:
        node = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    deadline = time.time() + 120
    while "Ray runtime started" not in log.read_text():
        assert node.poll() is None and time.time() < deadline, log.read_text()[-2000:]
        time.sleep(0.2)
    return node


def stop_node(node: subprocess.Popen) -> None:
    """Its whole session: the raylet, its workers and (on the head) the GCS."""
    try:
        os.killpg(node.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    node.wait()


class TwoNodes(str):
    """The head's address, its token, and both nodes' `ray start --block` processes."""

    head: subprocess.Popen
    worker: subprocess.Popen
    token: str


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("two-nodes")
    ray_cli = Path(sys.executable).with_name("ray")
    ray = str(ray_cli) if ray_cli.exists() else "ray"
    port, token = free_port(), secrets.token_hex(32)
    common = ["--block", "--num-cpus=1", "--num-gpus=0", "--disable-usage-stats", "--node-ip-address=127.0.0.1"]
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}
    # a temporary folder of its own (a default `ray start` on this machine uses /tmp/ray); short: Ray's socket paths are limited to 107 bytes
    temp = Path(f"/tmp/igcli-faults-{os.getpid()}")
    head = start_node([ray, "start", "--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}", *common], root / "head.log", env)
    nodes = [head]
    try:
        nodes.append(start_node([ray, "start", f"--address=127.0.0.1:{port}", *common], root / "worker.log", env))
        made = TwoNodes(f"127.0.0.1:{port}")
        made.head, made.worker, made.token = head, nodes[1], token
        yield made
    finally:
        for node in reversed(nodes):
            stop_node(node)
        subprocess.run(["rm", "-rf", str(temp)], check=False)


def driver_env(cluster: TwoNodes | None = None, **changes) -> dict:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": cluster.token if cluster else ""}
    env.update(changes)
    return {name: value for name, value in env.items() if value is not None}


def explain(data: Path, out: Path, address: str, *extra: str, env: dict) -> subprocess.Popen:
    command = [sys.executable, "-m", "igcli", "explain", str(data / "model.keras"), str(data / "images"), "-o", str(out), "--ray", address, *OPTIONS, *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class Finished:
    def __init__(self, process: subprocess.CompletedProcess):
        self.exit_code, self.stdout, self.stderr = process.returncode, process.stdout, process.stderr


def in_process(data: Path, out: Path, address: str, monkeypatch, **env):
    """A run in a process of its own: Ray reads RAY_AUTH_MODE once per process (when it is first
    imported), so a run here without it would leave this test process unable to join the token
    clusters of the tests after it (found by CI: tests/test_ray.py failed to connect after this file)."""
    command = [sys.executable, "-m", "igcli", "explain", str(data / "model.keras"), str(data / "images"), "-o", str(out), "--ray", address, *OPTIONS]
    full = {**os.environ, "KERAS_BACKEND": "tensorflow", **env}  # os.environ holds the test's monkeypatched HOME
    return Finished(subprocess.run(command, env={k: v for k, v in full.items() if v is not None}, capture_output=True, text=True, timeout=300))


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # not on the stderr the test reads
        pass


@pytest.fixture
def web_server():
    """A plain HTTP server on loopback: something listens, but not Ray."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_ray_client_addresses_are_refused_with_what_to_use(data, tmp_path):
    run = CliRunner().invoke(cli, ["explain", str(data / "model.keras"), str(data / "images"), "-o", str(tmp_path / "out"), "--ray", "ray://127.0.0.1:10001"])
    assert_one_line_error(run, 2, "Ray Client (ray://) is not supported", "--ray HOST:PORT")
    assert not (tmp_path / "out").exists()


def test_wrong_addresses_say_why_in_seconds_and_leave_out_as_it_was(data, tmp_path, monkeypatch, web_server):
    (tmp_path / "empty").mkdir()  # an OUT that exists, empty, stays so; one that does not exist is not made
    for out in (tmp_path / "empty", tmp_path / "absent"):
        run = in_process(data, out, web_server, monkeypatch, RAY_AUTH_MODE=None)
        assert_one_line_error(run, 1, f"--ray {web_server}: something listens there but it is not a Ray cluster's head", "GCS port")
    closed = f"127.0.0.1:{free_port()}"
    run = in_process(data, tmp_path / "absent", closed, monkeypatch, RAY_AUTH_MODE=None)
    assert_one_line_error(run, 1, f"--ray {closed}: no Ray cluster answers there", "ray start --head")
    assert list((tmp_path / "empty").iterdir()) == [] and not (tmp_path / "absent").exists()


def test_tokens_missing_or_wrong_are_named(data, cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.ray/auth_token
    out = tmp_path / "out"
    run = in_process(data, out, cluster, monkeypatch, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="wrong")
    assert_one_line_error(run, 1, "the cluster refused the token from RAY_AUTH_TOKEN")
    run = in_process(data, out, cluster, monkeypatch, RAY_AUTH_MODE="Token", RAY_AUTH_TOKEN=None)
    assert_one_line_error(run, 1, "RAY_AUTH_MODE=token but no token is set here", "RAY_AUTH_TOKEN")
    run = in_process(data, out, cluster, monkeypatch, RAY_AUTH_MODE=None, RAY_AUTH_TOKEN=cluster.token)
    assert_one_line_error(run, 1, "the cluster requires token authentication; set RAY_AUTH_MODE=token here")
    assert not out.exists()


def test_ctrl_c_while_connecting_ends_the_run(data, tmp_path):
    silent = socket.socket()  # accepts connections, never answers: without Ctrl-C the check gives up after 5 s
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    address = f"127.0.0.1:{silent.getsockname()[1]}"
    out = tmp_path / "out"
    driver = explain(data, out, address, env=driver_env())
    silent.settimeout(120)
    try:
        connection, _ = silent.accept()  # the driver is connecting now
        driver.send_signal(signal.SIGINT)
        _, stderr = driver.communicate(timeout=60)
        connection.close()
    finally:
        silent.close()
    assert driver.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1].startswith("igcli: interrupted (SIGINT)"), stderr
    assert not out.exists()


def shards(out: Path) -> list[Path]:
    return sorted((out / "shards").glob("*.h5")) if (out / "shards").is_dir() else []


def wait_for(condition, driver: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert driver.poll() is None, driver.communicate()[1]
        assert time.time() < deadline, "timed out waiting for the run"
        time.sleep(0.05)


def test_ctrl_c_mid_run_ends_it_with_what_is_saved(data, cluster, tmp_path):
    out = tmp_path / "out"
    driver = explain(data, out, cluster, "--steps", "512", env=driver_env(cluster))
    wait_for(lambda: processes_under(cluster.head.pid, WORKER_TITLE) or processes_under(cluster.worker.pid, WORKER_TITLE), driver)  # the pipeline runs
    driver.send_signal(signal.SIGINT)
    _, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 130, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("igcli: interrupted (SIGINT):") and "--resume" in lines[0], stderr


def processes_under(root: int, *titles: bytes) -> list[int]:
    """The processes descending from root whose command line (Ray's title for a worker) holds every one of titles."""
    parents, found = {}, []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
                if all(title in (entry / "cmdline").read_bytes() for title in titles):
                    found.append(int(entry.name))
            except (OSError, ValueError):
                continue

    def under(pid: int) -> bool:
        while pid > 1:
            if pid == root:
                return True
            pid = parents.get(pid, 0)
        return False

    return [pid for pid in found if under(pid)]


def test_a_lost_node_is_told_in_run_json(data, cluster, tmp_path):
    out = tmp_path / "out"
    # a failed connection first: it leaves nothing in OUT, so the same command then runs
    failed = explain(data, out, cluster, env=driver_env(cluster, RAY_AUTH_TOKEN="wrong"))
    assert failed.wait(120) == 1 and not out.exists()
    driver = explain(data, out, cluster, "--steps", "256", env=driver_env(cluster))
    wait_for(lambda: processes_under(cluster.worker.pid, WORKER_TITLE, b"submit"), driver)  # its worker computes a group
    stop_node(cluster.worker)  # its raylet and its worker, mid-run
    _, stderr = driver.communicate(timeout=600)
    assert driver.returncode == 0, stderr
    run = json.loads((out / "run.json").read_text())
    facts, timings = run["cluster"], run["timings"]
    assert run["counts"]["explained"] == IMAGES
    first, *changes = facts["nodes"]
    assert first["alive"] == 2 and len(first["joined"]) == 2
    assert changes and changes[-1]["alive"] == 1 and len(changes[-1]["left"]) == 1 and changes[-1]["seconds"] > first["seconds"]
    lost_node = changes[-1]["left"][0]
    assert facts["lost_workers"] >= 1 and facts["retried_groups"] >= 1
    workers = facts["worker_processes"]
    assert sum(entry["instances"] for entry in workers.values()) == IMAGES
    for key, entry in workers.items():
        assert entry["node_id"] in first["joined"] and key == f"{entry['node_id']}:{entry['pid']}"
    assert lost_node in {entry["node_id"] for entry in workers.values()} or len(workers) >= 1
    assert timings["compute_seconds"] == timings["explain_wall_seconds"] and "worker_busy_seconds" in timings


def test_a_lost_head_ends_the_run_with_one_line(data, cluster, tmp_path):
    out = tmp_path / "out"
    driver = explain(data, out, cluster, "--steps", "4096", env=driver_env(cluster))
    wait_for(lambda: processes_under(cluster.head.pid, WORKER_TITLE) or processes_under(cluster.worker.pid, WORKER_TITLE), driver)  # the pipeline runs
    stop_node(cluster.head)
    _, stderr = driver.communicate(timeout=300)  # Ray alone ended the driver after 60 s, with exit 1 and no word
    assert driver.returncode == 1, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("igcli: error: the Ray cluster's head at"), stderr
    assert "stopped answering during the run" in lines[0] and "--resume" in lines[0]
    assert (out / ".igcli" / "state.json").is_file()  # the run had begun: what it finished stays, for --resume


def test_a_local_cluster_leaves_home_alone(data, tmp_path):
    # Ray 2.60 writes a new token to ~/.ray/auth_token (mode 0644) for every ray.init() that starts a
    # cluster where none exists. Far more workers than CPUs: refused once the cluster has started.
    home = tmp_path / "home"
    home.mkdir()
    env = driver_env(HOME=str(home), RAY_AUTH_MODE=None, RAY_AUTH_TOKEN=None, RAY_AUTH_TOKEN_PATH=None)
    driver = explain(data, tmp_path / "out", "local", "--workers", "100000", env=env)
    _, stderr = driver.communicate(timeout=300)
    lines = stderr.strip().splitlines()
    assert driver.returncode == 2 and len(lines) == 1 and "--workers 100000: 100000 worker(s) of 1 CPU(s) do not fit this machine's" in lines[0], stderr
    assert not (home / ".ray").exists() and not (tmp_path / "out").exists()
