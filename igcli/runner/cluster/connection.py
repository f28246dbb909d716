"""The connection to a Ray cluster: started (--ray local) or joined (auto, ADDRESS), its resources
read, the pool's size resolved, Ray's own chatter kept off the user's terminal."""

from __future__ import annotations

import logging
import os
import re
import secrets
import sys
import time
from typing import Any

from igcli.errors import IgcliError, UsageProblem
from igcli.runner.cluster.probe import find_token, probe
from igcli.runner.cluster.settings import MISSING, ClusterSettings

IO_CPUS = 0.1  # logical CPUs of each read and write task, when the pool leaves room for them
IO_ROOM = 0.5  # ... which it does when the largest pool leaves at least this many CPUs free


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401 - ray without its data extra fails here
    except ImportError:
        raise UsageProblem(MISSING) from None
    return ray


class Cluster:
    """The connection to the cluster for one run: connected (or started) on creation, closed by close()."""

    def __init__(self, ray, settings: ClusterSettings, options, warn):
        self.ray, self.settings, self.options, self.warn = ray, settings, options, warn
        self.owned = False
        self.timings: dict = {}
        self.facts: dict = {}
        self.levels: dict[str, int] = {}
        self.environment: dict[str, str | None] = {}  # variables set for a --ray local cluster, and their values before
        self.watch: Any = None  # watch.Watch while the pipeline runs
        self.pipeline_started = 0.0
        self.quiet = None if options.debug else QuietRay()
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        tick = time.perf_counter()
        if not self.options.debug:
            for name in ("ray", "ray.data"):
                self.levels[name] = logging.getLogger(name).level
                logging.getLogger(name).setLevel(logging.ERROR)
        if not self.ray.is_initialized():  # else a program that calls igcli with Ray already connected
            self._connect()
            self.owned = True
        self.timings["connect_seconds"] = time.perf_counter() - tick
        self._size_pool()
        context = self.ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        context.enable_auto_log_stats = False
        settings = self.settings
        self.facts = {
            "ray": settings.address,
            "ray_version": self.ray.__version__,
            "address": self.ray.get_runtime_context().gcs_address,
            "cluster_cpus": self.cpus,
            "cluster_gpus": self.gpus,
            "workers": {"min": settings.min_workers, "max": self.max_workers},
            "cpus_per_worker": settings.cpus,
            "gpus_per_worker": settings.gpus,
            "io_task_cpus": self.io_cpus,
        }

    def _connect(self) -> None:
        ray, address, debug = self.ray, self.settings.address, self.options.debug
        common = {"include_dashboard": False, "log_to_driver": bool(debug), "logging_level": logging.INFO if debug else logging.ERROR}
        try:
            if address == "local":
                from igcli.cpus import usable_cpus

                self._private_token()
                ray.init(address="local", num_cpus=usable_cpus(), **common)
            else:
                if address != "auto":
                    probe(address)  # in seconds and in one line: nothing there, not Ray, a refused token
                _reload_token()  # the token of this environment, not one Ray cached on an earlier connection in this process
                ray.init(address=address, **common)
        except (ConnectionError, ValueError, RuntimeError, ray.exceptions.RayError) as error:
            raise IgcliError(f"--ray {address}: cannot connect to the Ray cluster ({_shorter(str(error))}); {_advice(address)}") from None

    def _private_token(self) -> None:
        """A throwaway cluster with a token of its own, in this process's environment only: else
        Ray 2.60 writes a new one to ~/.ray/auth_token (readable by all) when none exists."""
        if os.environ.get("RAY_AUTH_MODE", "").strip().lower() not in ("", "token") or find_token()[0]:
            return
        for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN"):
            self.environment.setdefault(name, os.environ.get(name))
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
        _reload_token()

    def _size_pool(self) -> None:
        """The cluster's CPUs and GPUs, the pool's largest size, and the read and write tasks' share."""
        settings = self.settings
        resources = self.ray.cluster_resources()
        self.cpus, self.gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
        high = settings.max_workers
        if high is None:
            high = int(self.cpus // settings.cpus)
            if settings.gpus:
                high = min(high, int(self.gpus // settings.gpus))
            high = max(settings.min_workers, high)
        self.max_workers = high
        short = settings.min_workers * settings.cpus > self.cpus or settings.min_workers * settings.gpus > self.gpus
        if short:
            what = f"{settings.min_workers} worker(s) of {settings.cpus} CPU(s)" + (f" and {settings.gpus} GPU(s)" if settings.gpus else "")
            have = f"{self.cpus:g} CPUs and {self.gpus:g} GPUs"
            if settings.address == "local":
                raise UsageProblem(f"--workers {self.options.workers}: {what} do not fit this machine's {have}")
            self.warn(f"warning: {what} do not fit the cluster's {have} now: waiting for it to grow")
        spare = self.cpus - self.max_workers * settings.cpus
        self.io_cpus = IO_CPUS if spare >= IO_ROOM else 0.0

    def start_watch(self) -> None:
        """The head, nodes and workers watched while the pipeline runs (watch.py)."""
        from igcli.runner.cluster.watch import Watch

        self.pipeline_started = time.time()
        context = self.ray.get_runtime_context()
        self.watch = Watch(self.ray, context.gcs_address, context.get_job_id())

    def stop_watch(self) -> None:
        if self.watch is not None:
            self.watch.stop()

    def close(self) -> None:
        try:
            self.stop_watch()
            lost = self.watch is not None and self.watch.lost  # nothing to say goodbye to: Ray's shutdown would wait for the head
            if self.owned and self.ray.is_initialized() and not lost:
                self.ray.shutdown()
                self.owned = False
        finally:
            for name, value in self.environment.items():  # the private token of a --ray local cluster
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            if self.environment:
                self.environment = {}
                _reload_token()
            if self.quiet is not None:
                self.quiet.restore()
                self.quiet = None
            for name, level in self.levels.items():
                logging.getLogger(name).setLevel(level)


class QuietRay:
    """Ray talks on its own while connected: its core worker in this process writes log lines
    (C++, e.g. a warning for every actor with restarts) straight to file descriptor 2, and a
    thread of it prints every retried task's traceback to sys.stdout, where --json's output goes.
    While the cluster is connected, descriptor 2 goes to /dev/null, sys.stdout to nowhere, and
    sys.stderr (the progress bar, igcli's notes) to where descriptor 2 went before. A failure
    still reaches the user, as igcli's one line; --debug keeps everything."""

    def __init__(self):
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = os.dup(2)
        self.stdout, self.stderr = sys.stdout, sys.stderr
        try:
            swap = sys.stderr.fileno() == 2
        except (AttributeError, OSError, ValueError):  # a captured stream (tests): it is not descriptor 2
            swap = False
        if swap:
            sys.stderr = open(self.saved, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8", errors="backslashreplace", closefd=False)
        sys.stdout = open(os.devnull, "w")
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)

    def restore(self) -> None:
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        sys.stdout.close()
        sys.stdout, sys.stderr = self.stdout, self.stderr


def _reload_token() -> None:
    """Ray's loader caches the token it first read: read it again after a change of the environment."""
    try:
        from ray import _raylet

        _raylet.AuthenticationTokenLoader.instance().reset_cache()  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        pass


def _shorter(text: str, limit: int = 240) -> str:
    """Ray's message on one line, cut at a word (never mid-URL)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def _advice(address: str) -> str:
    if address == "auto":
        return "start one on this machine with `ray start --head`, or pass --ray local or the head's HOST:PORT"
    if address == "local":
        return "see `ray start --head` for what Ray needs on this machine, or rerun with --debug"
    return "check that the head and igcli have the same Ray version, or rerun with --debug"


def cause(error: BaseException) -> str:
    """What went wrong in a worker, as one line: the exception a Ray error wraps (a task's), or
    the last `Name: message` line of the traceback Ray puts in its text (an actor's start)."""
    while isinstance(getattr(error, "cause", None), BaseException):
        error = getattr(error, "cause")  # noqa: B009 - Ray's errors are not typed
    text = str(error)
    found = re.findall(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt): .+)$", text, flags=re.M)
    line = found[-1] if found else f"{type(error).__name__}: {text}"
    return " ".join(line.split())[:400]
