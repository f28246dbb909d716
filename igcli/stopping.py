"""How a run stops before its end: a signal (Ctrl-C's SIGINT, a scheduler's SIGTERM, a closed
terminal's SIGHUP), a full or read-only disk. Either way the groups already journaled are kept,
the partial files removed (every sink aborted), and one line says how many instances are saved
and how to continue; the exit code says why (README, "Exit codes")."""

from __future__ import annotations

import errno
import os
import re
import signal
from contextlib import contextmanager

from igcli.errors import IgcliError

SIGNALS: dict[int, str] = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}
# errors of the file system OUT is on: the run cannot write, whatever it writes next
OUTPUT_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EIO: "input/output error",
}


class Stopped(BaseException):
    """A signal asked the run to stop (raised in the main thread by the handler)."""

    def __init__(self, signum: int):
        super().__init__(SIGNALS.get(signum, f"signal {signum}"))
        self.signum = signum
        self.exit_code = 128 + signum
        self.progress = ""  # what was saved, and how to continue: set by the runner


class OutputUnwritable(IgcliError):
    """OUT's file system refused a write: full, over quota, read-only (exit 74, EX_IOERR)."""

    exit_code = 74


@contextmanager
def stop_on_signals():
    """SIGTERM and SIGHUP (and SIGINT, unless the shell made this process ignore it) raise Stopped
    in the main thread; a second one while the run cleans up ends the process at once."""
    stopping: list[int] = []

    def handler(signum, _frame):
        if stopping:
            os._exit(128 + signum)
        stopping.append(signum)
        raise Stopped(signum)

    previous = {}
    for signum in SIGNALS:
        current = signal.getsignal(signum)
        if current is signal.SIG_IGN:  # nohup, a background job's SIGINT: keep ignoring it
            continue
        previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)


def output_errno(error: BaseException) -> int | None:
    """The errno of a failed write, when it is one of OUTPUT_ERRNOS (h5py puts it in the text of an
    OSError or a RuntimeError: "file write failed: ..., errno = 28")."""
    number = getattr(error, "errno", None)
    if number is None and isinstance(error, (OSError, RuntimeError)):
        found = re.search(r"errno = (\d+)", str(error))
        number = int(found.group(1)) if found else None
    return number if number in OUTPUT_ERRNOS else None


def unwritable(out, error: BaseException, progress: str) -> OutputUnwritable:
    number = output_errno(error)
    assert number is not None
    return OutputUnwritable(f"{out}: {OUTPUT_ERRNOS[number]} ({errno.errorcode[number]}, errno {number}); {progress}")
