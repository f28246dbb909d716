"""A cluster run's own options (--ray, --workers, --gpus-per-worker, --cpus-per-worker), checked
without importing Ray, before the plan: a typo fails in milliseconds."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from igcli.errors import UsageProblem
from igcli.optiontype import Given, ParsedOption

MISSING = "--ray needs Ray, which is not installed here: pip install 'igcli[ray]'"


@dataclass(frozen=True)
class ClusterSettings:
    address: str  # local, auto or the cluster's address
    min_workers: int
    max_workers: int | None  # None: as many as the cluster holds when the run starts
    cpus: int  # per worker
    gpus: int  # per worker, whole


@dataclass(frozen=True)
class Workers(Given):
    """--workers N, MIN:MAX or auto (1 up to as many as the cluster holds: MAX None)."""

    low: int
    high: int | None


def parse_workers(given: str) -> Workers:
    text = given.strip()
    low, high = 1, None
    if text != "auto":
        parts = text.split(":")
        try:
            if len(parts) == 1:
                low = high = int(parts[0])
            elif len(parts) == 2:
                low, high = int(parts[0]), (None if parts[1].strip() == "auto" else int(parts[1]))
            else:
                raise ValueError
        except ValueError:
            raise UsageProblem(f"--workers {text!r}: expected N, MIN:MAX or auto") from None
        if low < 1 or (high is not None and high < low):
            raise UsageProblem(f"--workers {text}: needs 1 <= MIN <= MAX")
    return Workers(low, high, text=given)


def parse_gpus(text: str) -> float:
    gpus = float(text)
    if gpus < 0 or gpus != int(gpus):
        raise UsageProblem(f"--gpus-per-worker {gpus:g}: whole GPUs only (TensorFlow runs out of memory on a shared one)")
    return gpus


WORKERS = ParsedOption("N|MIN:MAX|auto", parse_workers, Workers)  # --workers
GPUS = ParsedOption("N", parse_gpus, float)  # --gpus-per-worker


def cluster_settings(options) -> ClusterSettings:
    """--ray, with --workers, --gpus-per-worker, --cpus-per-worker (parsed by their types)."""
    address = str(options.ray).strip()
    if address.lower().startswith("ray://"):
        # Ray Client proxies every call of the driver through the head; Ray Data's streaming and
        # the driver's gathering were not built for it (Ray's docs advise against it for Ray Data)
        raise UsageProblem(
            f"--ray {address}: Ray Client (ray://) is not supported; run igcli where it reaches the head's GCS port and pass --ray HOST:PORT "
            "(`ray start --head --port`, 6379 by default)"
        )
    if address not in ("local", "auto") and not _host_port(address):
        raise UsageProblem(f"--ray {address!r}: expected local, auto or the head's HOST:PORT (`ray start --head --port`, 6379 by default)")
    workers = options.workers
    return ClusterSettings(address, workers.low, workers.high, int(options.cpus_per_worker), int(options.gpus_per_worker))


def _host_port(address: str) -> bool:
    host, _, port = address.rpartition(":")
    return bool(host.strip("[]")) and "/" not in host and port.isdigit() and 0 < int(port) < 65536


def check_cluster_run(options) -> ClusterSettings:
    """Everything about --ray that can be refused in milliseconds, before the plan."""
    settings = cluster_settings(options)
    if options.format not in ("h5", "zarr"):
        raise UsageProblem(
            f"--format {options.format}: a cluster run writes attributions.h5 (a virtual dataset over OUT/shards/) or attributions.zarr; "
            "use --format h5 or zarr with --ray"
        )
    from igcli.stores import is_remote

    if options.format == "h5" and is_remote(options.out):
        raise UsageProblem(
            "--format h5 with --ray: attributions.h5 is a virtual dataset over OUT/shards/, which needs OUT on a file system every node mounts; "
            "with OUT in an object store use --format zarr (its default there)"
        )
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("pyarrow") is None:
        raise UsageProblem(MISSING)
    return settings
