"""Runs nobody watches (cron, CI, schedulers): one writer per OUT, signals, --overwrite that keeps
the earlier results until the new ones exist, outputs of gone inputs, a full or read-only disk,
a rerun with nothing new. Real second processes, real signals, a real tmpfs mounted by the test."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from PIL import Image

from tests.conftest import assert_one_line_error

COUNT = 1200  # instances of the long runs: several seconds here, so that a second run meets the first


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("unattended")
    keras.utils.set_random_seed(0)
    keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="tanh"), keras.layers.Flatten(), keras.layers.Dense(2)]).save(
        root / "m.keras"
    )
    np.save(root / "x.npy", np.random.default_rng(0).uniform(size=(COUNT, 8, 8, 3)).astype(np.float32))
    folder = root / "images"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in "abcd":
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{name}.png")
    return root


def command(files, out, *more, inputs=None):
    return [sys.executable, "-m", "igcli", "explain", str(files / "m.keras"), str(inputs or files / "x.npy"), "-o", str(out), "--steps", "64", *more]


def start(args):
    """A second process, as cron would start it: its own SIGINT default, low priority."""

    def child():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.nice(10)

    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=child)


def wait_for(condition, what: str, seconds: float = 120):
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, what
        time.sleep(0.01)


def chunks(out: Path) -> int:
    folder = out / ".igcli" / "chunks"
    return len(list(folder.glob("*.npz"))) if folder.is_dir() else 0


def holder(out: Path) -> dict:
    try:
        text = (out / ".igcli" / "lock").read_text()
        return json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}


def partial_files(out: Path) -> list:
    return [p.name for p in out.rglob(".*.partial")]


# ---------------------------------------------------------------------------------------------
# One writer per OUT


@pytest.mark.slow
def test_a_second_run_on_the_same_out_stops_at_once_naming_the_first(files, tmp_path):
    out = tmp_path / "out"
    first = start(command(files, out))
    wait_for(lambda: holder(out).get("pid") == first.pid, "the first run took the lock")
    probe = textwrap.dedent(f"""
        import sys
        from click.testing import CliRunner
        from igcli.cli import cli
        result = CliRunner().invoke(cli, {["explain", str(files / "m.keras"), str(files / "x.npy"), "-o", str(out), "--steps", "64", "--resume"]!r})
        print(result.exit_code, "tensorflow" in sys.modules)
        print(result.stderr, end="")
    """)
    second = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert first.poll() is None, "the first run ended before the second met it"
    code, imported = second.stdout.splitlines()[0].split()
    line = second.stdout.splitlines()[1]
    assert (code, imported) == ("75", "False")  # stopped before TensorFlow or the model
    since = holder(out)["since"]
    assert line.startswith(f"igcli: error: {out}: another igcli run is writing it (pid {first.pid} on {socket.gethostname()}, started {since}: ")
    assert "explain" in line and str(files / "x.npy") in line  # its command
    assert line.endswith("; wait for it to end, or pass --wait to queue")
    queued = start(command(files, out, "--resume", "--wait"))
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    _, stderr = queued.communicate(timeout=300)
    assert queued.returncode == 0, stderr
    assert f"igcli: waiting for the run that writes {out} (pid {first.pid} on " in stderr
    assert f"explained {COUNT} of {COUNT} instances into {out} ({COUNT} reused, 0 computed, 0 failed)" in stderr
    assert holder(out) == {}  # released


@pytest.mark.slow
def test_a_killed_runs_lock_is_taken_over_with_a_warning_and_its_work_kept(files, tmp_path):
    out = tmp_path / "out"
    first = start(command(files, out))
    wait_for(lambda: chunks(out) >= 2, "the first run saved two groups")
    first.kill()
    first.wait()
    assert holder(out)["pid"] == first.pid  # it could not clean up
    resumed = subprocess.run(command(files, out, "--resume"), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"igcli: warning: took over {out} from a run that ended without releasing it (pid {first.pid} on {socket.gethostname()}" in resumed.stderr
    reused = json.loads((out / "run.json").read_text())["counts"]["reused"]
    assert reused >= 64


def test_a_lock_recorded_by_another_host_is_reported_not_broken(igcli, files, tmp_path):
    out = tmp_path / "out"
    (out / ".igcli").mkdir(parents=True)
    other = {"host": "other-node.example", "pid": 4242, "start": "1", "since": "2026-12-01 03:00:00 +0000", "command": ["igcli", "explain", "m.keras", "x.npy"]}
    (out / ".igcli" / "lock").write_text(json.dumps(other))
    refused = igcli("explain", files / "m.keras", files / "x.npy", "-o", out, "--steps", 4, "--overwrite")
    assert_one_line_error(
        refused,
        75,
        f"igcli: error: {out}: the run that last wrote it, on another host, did not release it "
        "(pid 4242 on other-node.example, started 2026-12-01 03:00:00 +0000: igcli explain m.keras x.npy); if that run has ended, pass --break-lock",
    )
    taken = igcli("explain", files / "m.keras", files / "x.npy", "-o", out, "--steps", 4, "--overwrite", "--break-lock")
    assert taken.exit_code == 0, taken.stderr
    assert "igcli: warning: took over" in taken.stderr and holder(out) == {}


# ---------------------------------------------------------------------------------------------
# Signals


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_stop_like_ctrl_c(files, tmp_path, signum, code):
    out = tmp_path / "out"
    run = start(command(files, out))
    wait_for(lambda: chunks(out) >= 2, "two groups saved")
    assert run.poll() is None, "the run ended before it could be stopped"
    run.send_signal(signum)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == code, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    saved = chunks(out) * 32
    name = signal.Signals(signum).name
    assert lines == [f"igcli: interrupted ({name}): {saved:,} of {COUNT:,} instances are saved; run it again with --resume to continue"]
    assert not partial_files(out) and not (out / "summary.csv").exists() and holder(out) == {}
    resumed = subprocess.run(command(files, out, "--resume"), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "run.json").read_text())["counts"]["reused"] == saved


def test_a_second_signal_while_stopping_ends_the_process_at_once(tmp_path):
    script = textwrap.dedent("""
        import signal, time
        from igcli.stopping import Stopped, stop_on_signals
        with stop_on_signals():
            try:
                signal.raise_signal(signal.SIGTERM)
            except Stopped:
                signal.raise_signal(signal.SIGHUP)  # during the clean-up of the first
                time.sleep(30)
    """)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 129 and time.perf_counter() - started < 25  # not the 30 s of the clean-up


# ---------------------------------------------------------------------------------------------
# --overwrite keeps the earlier results until the new ones exist


@pytest.mark.slow
def test_an_overwrite_stopped_midway_leaves_the_earlier_results_and_continues_later(files, tmp_path):
    out = tmp_path / "out"
    small = files / "small.npy"
    np.save(small, np.load(files / "x.npy")[:40])
    assert subprocess.run(command(files, out, inputs=small), capture_output=True).returncode == 0
    before = {name: (out / name).read_bytes() for name in ("summary.csv", "attributions.h5", "run.json")}
    run = start(command(files, out, "--overwrite", "--steps", "96"))
    wait_for(lambda: chunks(out / ".igcli" / "next") >= 2, "two groups of the new run saved")
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 130, stderr
    assert stderr.strip().endswith("run the same command again to continue")
    assert {name: (out / name).read_bytes() for name in before} == before  # untouched and readable
    again = subprocess.run(command(files, out, "--overwrite", "--steps", "96"), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    counts = json.loads((out / "run.json").read_text())["counts"]
    assert counts["instances"] == COUNT and counts["reused"] >= 64  # continued from the stopped run's groups
    assert json.loads((out / "run.json").read_text())["resolved"]["steps"] == 96
    assert not (out / ".igcli" / "next").exists() and not (out / ".igcli" / "replaced").exists()


# ---------------------------------------------------------------------------------------------
# --resume: the model by content, outputs of gone inputs, the closing line, --quiet, no-op reruns


def test_resume_knows_the_model_by_its_content_not_its_path(igcli, files, tmp_path):
    out = tmp_path / "out"
    small = files / "few.npy"
    np.save(small, np.load(files / "x.npy")[:5])
    assert igcli("explain", files / "m.keras", small, "-o", out, "--steps", 4).exit_code == 0
    copy = tmp_path / "elsewhere" / "copy.keras"
    copy.parent.mkdir()
    shutil.copy(files / "m.keras", copy)
    for model in (Path(os.path.relpath(files / "m.keras")), copy):
        again = igcli("explain", model, small, "-o", out, "--steps", 4, "--resume")
        assert again.exit_code == 0, again.stderr
        assert "(5 reused, 0 computed, 0 failed)" in again.stderr


def test_outputs_of_inputs_that_are_gone_leave_with_their_rows(igcli, files, tmp_path):
    folder = tmp_path / "images"
    shutil.copytree(files / "images", folder)
    out = tmp_path / "out"
    assert igcli("explain", files / "m.keras", folder, "-o", out, "--steps", 4).exit_code == 0
    (out / "heatmaps" / "notes.txt").write_text("mine")  # not a heatmap: stays
    (folder / "b.png").unlink()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "e.png")
    again = igcli("explain", files / "m.keras", folder, "-o", out, "--steps", 4, "--resume")
    assert again.exit_code == 0, again.stderr
    assert f"igcli: explained 4 of 4 instances into {out} (3 reused, 1 computed, 0 failed)" in again.stderr
    assert sorted(p.name for p in (out / "heatmaps").iterdir()) == ["a.png", "c.png", "d.png", "e.png", "notes.txt"]
    with h5py.File(out / "attributions.h5") as handle:
        assert [i.decode() for i in handle["ids"][()]] == ["a", "c", "d", "e"]


def test_tokens_of_gone_rows_leave_too(igcli, tmp_path):
    sample = Path(__file__).resolve().parent.parent / "sample_data" / "text"
    reviews = np.load(sample / "reviews.npz")["x"]
    np.save(tmp_path / "r.npy", reviews[:4])
    args = (
        "explain",
        sample / "model.keras",
        tmp_path / "r.npy",
        "--layer",
        "embedding",
        "--vocab",
        sample / "vocab.txt",
        "--steps",
        4,
        "-o",
        tmp_path / "out",
    )
    assert igcli(*args).exit_code == 0
    np.save(tmp_path / "r.npy", reviews[:2])
    assert igcli(*args, "--resume").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "out" / "tokens").iterdir()) == ["0.html", "1.html"]


def test_quiet_keeps_the_failures_on_stderr(igcli, files, tmp_path):
    folder = tmp_path / "images"
    shutil.copytree(files / "images", folder)
    (folder / "broken.png").write_bytes(b"not a png")
    run = igcli("explain", files / "m.keras", folder, "-o", tmp_path / "out", "--steps", 4, "--quiet")
    assert run.exit_code == 1
    assert run.stderr.splitlines() == [f"igcli: failed {folder / 'broken.png'}: not a readable image (UnidentifiedImageError)"]


def test_a_rerun_with_nothing_new_loads_no_model(files, tmp_path):
    out = tmp_path / "out"
    args = command(files, out, "--resume", inputs=files / "images")
    assert subprocess.run(args, capture_output=True).returncode == 0
    probe = textwrap.dedent(f"""
        import sys
        from click.testing import CliRunner
        from igcli.cli import cli
        result = CliRunner().invoke(cli, {args[3:]!r})
        print(result.exit_code, "tensorflow" in sys.modules)
        print(result.stderr, end="")
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines() == [
        "0 False",
        f"igcli: nothing new in {files / 'images'} since the last run: {out} is up to date",
        f"igcli: explained 4 of 4 instances into {out} (4 reused, 0 computed, 0 failed)",
    ]
    Image.fromarray(np.full((8, 8, 3), 7, np.uint8)).save(files / "images" / "a.png")  # changed: the usual path
    changed = subprocess.run(args, capture_output=True, text=True)
    assert changed.returncode == 0 and "(3 reused, 1 computed, 0 failed)" in changed.stderr


# ---------------------------------------------------------------------------------------------
# A full or read-only disk


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 1 MiB mounted at tmp_path/disk (as root); skipped where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    tried = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True)
    if tried.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({tried.stderr.strip() or 'mount failed'}); run as root to test a full disk")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def resize(mount: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mount)], check=True)


@pytest.mark.slow
def test_a_full_disk_stops_in_one_line_and_resume_finishes_once_there_is_room(files, small_disk, tmp_path):
    out = small_disk / "out"
    run = subprocess.run(command(files, out), capture_output=True, text=True, timeout=600)
    assert run.returncode == 74, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    saved = chunks(out) * 32
    assert saved > 0
    assert lines == [
        f"igcli: error: {out}: no space left on the device (ENOSPC, errno 28); {saved:,} of {COUNT:,} instances are saved; "
        "once OUT can be written again, run it again with --resume to continue"
    ]
    assert not partial_files(out) and not (out / "summary.csv").exists() and not (out / "attributions.h5").exists()
    resize(small_disk, "size=64m")
    resumed = subprocess.run(command(files, out, "--resume"), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    clean = subprocess.run(command(files, tmp_path / "clean"), capture_output=True, text=True, timeout=600)
    assert clean.returncode == 0
    with h5py.File(out / "attributions.h5") as got, h5py.File(tmp_path / "clean" / "attributions.h5") as want:
        assert got["attributions"][()].tobytes() == want["attributions"][()].tobytes()
    assert (out / "summary.csv").read_text() == (tmp_path / "clean" / "summary.csv").read_text()


@pytest.fixture
def failing_disk(tmp_path):
    """An ext4 file system on a loop device (as root), and a way to make it fail: the
    EXT4_IOC_SHUTDOWN ioctl, after which every write fails as on a disk that went away (EIO);
    unmounted and mounted again, it is whole. (Linux refuses to remount a file system read-only
    while a process has files open on it for writing: mount point busy.)"""
    image, mount = tmp_path / "disk.img", tmp_path / "ext4"
    mount.mkdir()
    subprocess.run(["truncate", "-s", "64M", str(image)], check=True)
    made = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True, text=True)
    tried = subprocess.run(["mount", "-o", "loop", str(image), str(mount)], capture_output=True, text=True) if made.returncode == 0 else made
    if tried.returncode != 0:
        pytest.skip(f"cannot make and mount an ext4 loop device here ({tried.stderr.strip() or 'failed'}); run as root with mkfs.ext4")

    def fail():
        import fcntl
        import struct

        handle = os.open(mount, os.O_RDONLY)
        try:
            fcntl.ioctl(handle, 0x8004587D, struct.pack("I", 2))  # EXT4_IOC_SHUTDOWN, without flushing its log
        finally:
            os.close(handle)

    def mend():
        subprocess.run(["umount", str(mount)], check=True)
        subprocess.run(["mount", "-o", "loop", str(image), str(mount)], check=True)

    yield mount, fail, mend
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.slow
def test_a_disk_that_fails_midway_stops_in_one_line_and_resume_finishes(files, failing_disk):
    mount, fail, mend = failing_disk
    out = mount / "out"
    run = start(command(files, out))
    wait_for(lambda: chunks(out) >= 3, "three groups saved")
    seen = chunks(out)  # the newest may be renamed but its folder not yet flushed when the disk fails
    fail()
    _, stderr = run.communicate(timeout=300)
    assert run.returncode == 74, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"igcli: error: {out}: input/output error (EIO, errno 5); "), stderr
    assert lines[0].endswith("instances are saved; once OUT can be written again, run it again with --resume to continue")
    mend()
    resumed = subprocess.run(command(files, out, "--resume"), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "run.json").read_text())["counts"]["reused"] >= 32 * (seen - 1)  # every group flushed before the failure


def test_overwrite_of_a_read_only_out_touches_nothing(igcli, files, small_disk):
    out = small_disk / "out"
    assert igcli("explain", files / "m.keras", files / "images", "-o", out, "--steps", 4).exit_code == 0
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    resize(small_disk, "ro")
    refused = igcli("explain", files / "m.keras", files / "images", "-o", out, "--steps", 8, "--overwrite")
    assert_one_line_error(refused, 2, f"igcli: error: {out}: cannot write the output directory (Read-only file system)")
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
