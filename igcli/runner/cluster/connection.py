"""The connection to a Ray cluster: started (--ray local) or joined (auto, ADDRESS), its resources
read, the pool's size resolved, Ray's own chatter kept off the user's terminal."""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
import time

from igcli.errors import IgcliError, UsageProblem
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
            "nodes": sum(1 for node in self.ray.nodes() if node.get("Alive")),
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

                ray.init(address="local", num_cpus=usable_cpus(), **common)
            else:
                _answers(address)
                ray.init(address=address, **common)
        except (ConnectionError, ValueError, RuntimeError) as error:
            hint = ""
            if address not in ("local", "auto") and os.environ.get("RAY_AUTH_MODE") is None:
                hint = "; a cluster with token authentication needs RAY_AUTH_MODE=token here, and its token in ~/.ray/auth_token or RAY_AUTH_TOKEN"
            raise IgcliError(f"--ray {address}: cannot connect to a Ray cluster ({' '.join(str(error).split())[:300]}{hint})") from None

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

    def close(self) -> None:
        try:
            if self.owned and self.ray.is_initialized():
                self.ray.shutdown()
                self.owned = False
        finally:
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


def _answers(address: str, timeout: float = 10.0) -> None:
    """Fail in seconds when nothing listens at HOST:PORT (Ray itself retries for minutes)."""
    host, _, port = address.split("://")[-1].rpartition(":")
    if not host or not port.isdigit():
        return  # not host:port: Ray says what it makes of it
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        raise IgcliError(f"--ray {address}: no Ray cluster answers there ({error.strerror or error})") from None


def cause(error: BaseException) -> str:
    """What went wrong in a worker, as one line: the exception a Ray error wraps (a task's), or
    the last `Name: message` line of the traceback Ray puts in its text (an actor's start)."""
    while isinstance(getattr(error, "cause", None), BaseException):
        error = getattr(error, "cause")  # noqa: B009 - Ray's errors are not typed
    text = str(error)
    found = re.findall(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt): .+)$", text, flags=re.M)
    line = found[-1] if found else f"{type(error).__name__}: {text}"
    return " ".join(line.split())[:400]
