"""One writer per OUT: a run holds OUT/.igcli/lock from before it writes anything until it ends.

The lock is a POSIX record lock (fcntl.lockf) on that file, which the kernel releases however the
process ends (a crash or SIGKILL included), and which NFS (v4, or v3 with its lock manager)
shares between hosts. While it holds the lock, a run writes who it is into the file (host, pid,
the process's start, the time, the command) and empties it when it ends cleanly, so that:

- a second run finds the lock taken and names the holder (exit 75, or waits with --wait);
- a run that finds the lock free but the file still naming a process of this host that no longer
  exists takes over, with a warning (that run was killed);
- a run that finds the file naming another host refuses, unless --break-lock: where a mount does
  not share locks between hosts (NFS with nolock), the name is all there is to go by, and this
  host cannot tell whether that run still lives."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import TextIO

from igcli.errors import IgcliError

NAME = "lock"


class OutLocked(IgcliError):
    """Another run writes OUT (exit 75, EX_TEMPFAIL: try again later)."""

    exit_code = 75


def process_start(pid: int) -> str:
    """When a process started (clock ticks since boot, /proc), to tell a live pid from a reused one;
    empty where /proc is not there."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2 :].split()[19]
    except (OSError, ValueError, IndexError):
        return ""


def _alive(holder: dict) -> bool:
    pid = int(holder.get("pid", 0) or 0)
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return not holder.get("start") or process_start(pid) in ("", holder["start"])


def describe(holder: dict) -> str:
    command = " ".join(str(part) for part in holder.get("command", []))[:300]
    return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started {holder.get('since', '?')}: {command or '?'}"


class OutLock:
    """Held from acquire() to release(); a context manager."""

    def __init__(self, out: Path, wait: bool = False, break_lock: bool = False, warn=print, name: str | None = None):
        """name: what messages call OUT (an OUT in a store is locked on this host through a local folder)."""
        self.path = Path(out) / ".igcli" / NAME
        self.name = name or str(self.path.parent.parent)
        self.wait, self.break_lock, self.warn = wait, break_lock, warn
        self.handle: TextIO | None = None
        self.created: list[Path] = []

    def __enter__(self) -> OutLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        out, journal = self.path.parent.parent, self.path.parent
        self.created = [folder for folder in (out, journal) if not folder.exists()]  # removed again if the run leaves them empty
        while True:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+", encoding="utf-8")
            try:
                self._lock(handle)
                if not _same_file(handle, self.path):  # a run that wrote nothing removed the file while this one waited: lock the new one
                    handle.close()
                    continue
                self._check_recorded(handle)
                self._record(handle)
            except BaseException:
                handle.close()  # closing the file releases the lock
                raise
            self.handle = handle
            return

    def _lock(self, handle) -> None:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError:
            holder = _read(handle)
        if not self.wait:
            raise OutLocked(f"{self.name}: another igcli run is writing it ({describe(holder)}); wait for it to end, or pass --wait to queue")
        self.warn(f"igcli: waiting for the run that writes {self.name} ({describe(holder)})")
        fcntl.lockf(handle, fcntl.LOCK_EX)

    def _check_recorded(self, handle) -> None:
        """The lock is ours; the file may still name a run that ended without releasing it."""
        holder = _read(handle)
        if not holder:
            return
        here = socket.gethostname()
        if holder.get("host") != here and not self.break_lock:
            raise OutLocked(
                f"{self.name}: the run that last wrote it, on another host, did not release it ({describe(holder)}); if that run has ended, pass --break-lock"
            )
        if holder.get("host") == here and _alive(holder) and not self.break_lock:
            raise OutLocked(f"{self.name}: igcli run {describe(holder)} still holds it, though its lock is free; pass --break-lock if it does not write here")
        self.warn(f"igcli: warning: took over {self.name} from a run that ended without releasing it ({describe(holder)})")

    def _record(self, handle) -> None:
        holder = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "start": process_start(os.getpid()),
            "since": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "command": sys.argv,
        }
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder) + "\n")
        handle.flush()
        os.fsync(handle.fileno())

    def release(self) -> None:
        """Empty the file (the run ended cleanly), then let the lock go."""
        if self.handle is None:
            return
        try:
            self.handle.seek(0)
            self.handle.truncate()
            self.handle.flush()
            self._remove_created()
        except OSError:  # a full or read-only disk: the name stays, and this host's next run sees the pid is gone
            pass
        finally:
            self.handle.close()
            self.handle = None

    def _remove_created(self) -> None:
        """A run that wrote nothing (it failed before it began: the cluster could not be reached)
        leaves OUT as it found it: the lock file, and the folders this lock created, go while
        the lock is still held."""
        journal = self.path.parent
        if journal not in self.created or [entry.name for entry in journal.iterdir()] != [NAME]:
            return
        self.path.unlink()
        journal.rmdir()
        out = journal.parent
        if out in self.created and not any(out.iterdir()):
            out.rmdir()


def _same_file(handle, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except OSError:
        return False


def _read(handle) -> dict:
    try:
        handle.seek(0)
        text = handle.read()
        holder = json.loads(text) if text.strip() else {}
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}
