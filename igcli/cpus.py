"""How many CPUs this process may use: its affinity (taskset, a container's cpuset, a cluster
worker's assignment), not the machine's count."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)
