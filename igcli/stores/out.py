"""OUT in an object store: the run writes a local working copy, and each finished file becomes a
whole object, put once: nothing half-written is ever visible under its final name.

    open:    OUT's objects listed (a missing bucket or a denied credential stops the run here, in
             one line); checked as a local OUT is (a prefix igcli did not write needs --overwrite);
             a lock object taken; the journal (OUT/.igcli: state.json and the finished groups'
             chunks) copied down, so --resume continues from every group that finished anywhere.
    a group: its journal chunk put as soon as it is written (a killed run loses only the groups
             in flight, as a local run does).
    close:   every file of the finished run put, then the objects of igcli's names that the run
             no longer holds deleted (the heatmaps of removed inputs, an earlier --format's
             arrays, the journal's earlier chunks). An object store has no rename: --overwrite
             replaces the earlier results object by object at the end, each one whole.

Two runs on one host are kept apart by a local lock on the URI (outlock.py); runs on two hosts by
the lock object OUT/.igcli/lock.json, which names its holder: another host's name there refuses
the run unless --break-lock, as a local OUT shared over NFS does."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from igcli.errors import UsageProblem
from igcli.outlock import OutLocked, describe
from igcli.stores import filesystem, join, listed_with_bar, store_problem

JOURNAL = ".igcli"
LOCK = ".igcli/lock.json"
# What a --resume needs of the journal; the rest of OUT is written again by the run
JOURNAL_PARTS = (".igcli/state.json", ".igcli/finished.json", ".igcli/chunks/", ".igcli/previous/")


class StoreOut:
    """OUT at `uri`, through a local working copy (work)."""

    def __init__(self, uri: str, warn=print, progress=None):
        self.uri = uri.rstrip("/")
        self.fs, self.root = filesystem(self.uri)
        self.root = self.root.rstrip("/")
        self.warn = warn
        self.work = Path(tempfile.mkdtemp(prefix="igcli-out-"))
        self.put: set[str] = set()  # keys this run has put
        self.listed = self._list(progress)  # key (relative to OUT) -> size
        self.locked = False

    def lock_folder(self) -> Path:
        """This host's lock on the URI (outlock.OutLock keeps two runs of one host apart)."""
        digest = hashlib.sha256(self.uri.encode()).hexdigest()[:20]
        return Path(tempfile.gettempdir()) / "igcli-locks" / digest

    def _list(self, progress) -> dict[str, int]:
        try:
            objects = listed_with_bar(self.uri, progress, "list OUT")
        except UsageProblem as problem:
            if "not found" not in str(problem) or not self._bucket_exists():
                raise
            objects = []  # a prefix with nothing under it yet
        start = len(self.root) + 1
        return {name[start:]: size for name, size in objects if name.startswith(self.root + "/")}

    def _bucket_exists(self) -> bool:
        bucket = self.root.split("/", 1)[0]
        try:
            return bool(self.fs.exists(bucket))
        except Exception as error:
            raise store_problem(self.uri, error, "look up its bucket") from None

    def check(self, overwrite: bool, resume: bool) -> None:
        """As a local OUT is checked (sinks/outdir.py), over the listed objects."""
        if overwrite and resume:
            raise UsageProblem("--overwrite and --resume exclude each other: replace the results, or continue them")
        journal = ".igcli/state.json" in self.listed
        others = [key for key in self.listed if not key.startswith(JOURNAL + "/")]
        if resume and others and not journal:
            raise UsageProblem(f"{self.uri}: not an igcli output directory (no .igcli/state.json); cannot --resume")
        if not overwrite and not resume and (others or journal):
            raise UsageProblem(f"{self.uri}: output directory is not empty; use --resume to continue or --overwrite to replace its results")

    def take_lock(self, break_lock: bool) -> None:
        """The lock object: refused when another host's run names itself there (unless
        --break-lock); this host's earlier run has ended (this process holds the local lock)."""
        key = join(self.root, LOCK)
        if LOCK in self.listed:
            try:
                holder = json.loads(self.fs.cat_file(key))
            except Exception:
                holder = {}
            if holder.get("host") != socket.gethostname() and not break_lock:
                raise OutLocked(f"{self.uri}: a run on another host holds it ({describe(holder)}); if that run has ended, pass --break-lock")
            self.warn(f"igcli: warning: took over {self.uri} from a run that ended without releasing it ({describe(holder)})")
        holder = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S %z"), "command": sys.argv}
        self._put_bytes(LOCK, json.dumps(holder).encode())
        self.locked = True

    def release(self) -> None:
        if self.locked:
            try:
                self.fs.rm_file(join(self.root, LOCK))
            except Exception:  # the next run of another host then needs --break-lock; nothing is lost
                pass
            self.locked = False

    def pull_journal(self) -> None:
        """The journal's objects into the working copy, for --resume (or an --overwrite stopped
        before, which continues from its own groups)."""
        keys = [key for key in self.listed if key.startswith(JOURNAL_PARTS) and not key.endswith(".partial")]
        for key in keys:
            (self.work / key).parent.mkdir(parents=True, exist_ok=True)
        try:
            if keys:
                self.fs.get([join(self.root, key) for key in keys], [str(self.work / key) for key in keys])
        except Exception as error:
            raise store_problem(self.uri, error, "read its journal") from None

    def put_group(self, sinks: list, results) -> None:
        """A written group's files, in the run's writer thread (overlapping the next group's
        compute): its journal chunk (a killed run resumes from it) and its heatmaps."""
        self.put_new_chunks()
        files: dict[str, Path] = {}
        for sink in sinks:
            if getattr(sink, "draws_files", False):  # the heatmap writer (sinks/heatmaps.py)
                for row, error in enumerate(results.errors):
                    if error is None:
                        paths = sink.files(results, row) + sink.xrai_files(results, row)
                        files.update({path.relative_to(self.work).as_posix(): path for path in paths if path.is_file()})
        self._put_many(files)

    def put_new_chunks(self) -> None:
        """Each journal chunk as soon as it is written."""
        folder = self.work / JOURNAL / "chunks"
        for path in sorted(folder.glob("*.npz")) if folder.is_dir() else []:
            key = f"{JOURNAL}/chunks/{path.name}"
            if key not in self.put:
                self._put_file(path, key)
        if (self.work / JOURNAL / "state.json").is_file() and ".igcli/state.json" not in self.put:
            self._put_file(self.work / JOURNAL / "state.json", ".igcli/state.json")

    def publish(self, owned: tuple[str, ...], in_place: tuple[str, ...] = ()) -> None:
        """The finished run into OUT: every file put whole (the journal's record of the finished
        run last), then the objects of igcli's names it no longer holds deleted, except under
        in_place: prefixes the run wrote straight into OUT (a cluster's workers)."""
        files = sorted(p for p in self.work.rglob("*") if p.is_file() and not _temporary(p))
        keys = {path.relative_to(self.work).as_posix(): path for path in files}
        last = [key for key in (".igcli/finished.json",) if key in keys]
        first = {key: path for key, path in keys.items() if key not in last and key not in self.put}
        self._put_many(first)
        for key in last:
            self._put_file(keys[key], key)
        stale = [key for key in self.listed if key not in keys and key != LOCK and _owned(key, owned) and not key.startswith(in_place)]
        if stale:
            try:
                self.fs.rm([join(self.root, key) for key in stale])
            except Exception as error:
                raise store_problem(self.uri, error, "delete the earlier results") from None

    def _put_many(self, files: dict[str, Path]) -> None:
        if not files:
            return
        try:
            self.fs.put([str(path) for path in files.values()], [join(self.root, key) for key in files])
        except Exception as error:
            raise store_problem(self.uri, error, "write its results") from None
        self.put.update(files)

    def _put_file(self, path: Path, key: str) -> None:
        try:
            self.fs.put_file(str(path), join(self.root, key))
        except Exception as error:
            raise store_problem(self.uri, error, f"write {key}") from None
        self.put.add(key)

    def _put_bytes(self, key: str, data: bytes) -> None:
        try:
            self.fs.pipe_file(join(self.root, key), data)
        except Exception as error:
            raise store_problem(self.uri, error, f"write {key}") from None

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def _temporary(path: Path) -> bool:
    """A local working file that is not a result: a .partial, the local lock."""
    return path.name.endswith(".partial") or path.name == "lock" and path.parent.name == JOURNAL


def _owned(key: str, owned: tuple[str, ...]) -> bool:
    top = key.split("/", 1)[0]
    return any(fnmatch.fnmatch(top, pattern) for pattern in owned)
