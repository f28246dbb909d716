"""The run's journal: every finished group of instances saved atomically in OUT/.igcli/, so a
killed run loses at most the group in flight, and --resume reuses whatever is still valid.

An instance is reused when its id and content hash match a finished, successful row of an
earlier run made with the same options (the fingerprint); everything else is computed again."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from igcli.atomic import atomic_path, remove, write_text
from igcli.errors import UsageProblem
from igcli.results import Results

FINISHED = "finished.json"  # what the last completed run covered


class Journal:
    OWNS = (".igcli",)

    def __init__(self, out: Path, fingerprint: dict, resume: bool):
        self.root = out / ".igcli"
        self.chunks = self.root / "chunks"
        self.previous = self.root / "previous"
        self.fingerprint = fingerprint
        self.index: dict[str, tuple[str, Path, int]] = {}  # id -> (hash, chunk file, row)
        self._cache: tuple[Path, dict] | None = None
        # Chunks are named by the first instance they hold and a token of this writer, so that
        # several processes could write chunks side by side without colliding.
        self.token = uuid.uuid4().hex[:12]
        self.saved = 0  # instances this run put in the journal
        if resume and (self.root / "state.json").is_file():
            self._take_over()
        else:  # the journal's own files only: OUT/.igcli also holds the lock and an --overwrite run's results
            for name in ("chunks", "previous", "state.json", FINISHED):
                remove(self.root / name)
        self.chunks.mkdir(parents=True, exist_ok=True)
        _write_json(self.root / "state.json", {"fingerprint": fingerprint})

    def _take_over(self) -> None:
        """Check the options match, then index every finished row of earlier attempts."""
        try:
            state = json.loads((self.root / "state.json").read_text())
        except (OSError, ValueError):
            raise UsageProblem(f"{self.root}: no readable state.json; cannot resume (use --overwrite)") from None
        old = state.get("fingerprint", {})
        changed = [f"{key}: {old.get(key)!r} -> {value!r}" for key, value in self.fingerprint.items() if old.get(key) != value]
        if changed:
            raise UsageProblem(f"{self.root.parent}: made with other options ({'; '.join(changed[:4])}); resume with the same options, or use --overwrite")
        self.previous.mkdir(exist_ok=True)
        generation = len(list(self.previous.iterdir()))
        for chunk in sorted(self.chunks.glob("*.npz")) if self.chunks.exists() else []:
            os.replace(chunk, self.previous / f"{generation:04d}-{chunk.name}")
        for chunk in sorted(self.previous.glob("*.npz")):
            try:
                with np.load(chunk, allow_pickle=False) as data:
                    for row, (ident, digest, status) in enumerate(zip(data["ids"], data["hashes"], data["statuses"])):
                        if status == "ok":
                            self.index[str(ident)] = (str(digest), chunk, row)
            except (OSError, ValueError, KeyError):
                continue  # a chunk cut short by the kill: its instances are computed again

    def reusable(self, ident: str, digest: str) -> bool:
        found = self.index.get(ident)
        return found is not None and found[0] == digest

    def fill(self, results: Results, row: int) -> None:
        """Copy a finished row of an earlier attempt into results[row]."""
        _, chunk, source = self.index[results.ids[row]]
        if self._cache is None or self._cache[0] != chunk:
            with np.load(chunk, allow_pickle=False) as data:
                self._cache = (chunk, {name: data[name] for name in data.files})
        results.fill(row, self._cache[1], source)

    def append(self, results: Results) -> None:
        first = int(results.indices[0]) if len(results.indices) else 0
        with atomic_path(self.chunks / f"{first:012d}-{self.token}.npz", durable=True) as temporary:
            with open(temporary, "wb") as handle:
                np.savez(handle, **results.to_arrays())
        self.saved += len(results.ids)

    def close(self) -> None:
        pass  # each chunk was complete when written

    def abort(self) -> None:
        pass  # the chunks written are what --resume continues from

    def finish(self, record: dict) -> None:
        """The run completed: earlier attempts' chunks are no longer needed, and `record` says what
        the finished run covered (a rerun with nothing new reads it: igcli/uptodate.py)."""
        shutil.rmtree(self.previous, ignore_errors=True)
        _write_json(self.root / FINISHED, {"fingerprint": self.fingerprint, **record})


def _write_json(path: Path, data: dict) -> None:
    """Durable: without state.json on disk, the chunks beside it cannot be resumed."""
    write_text(path, json.dumps(data, indent=1, sort_keys=True, default=str), durable=True)
