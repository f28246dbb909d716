"""The output directory: checked before anything is written, and, with --overwrite, replaced only
once the new run has finished.

A run writes straight into OUT, except an --overwrite run over earlier results: it writes into
OUT/.igcli/next/ (the same file system, so every move is a rename), and only when it has
finished are the earlier results moved aside, the new ones moved in, and the earlier ones
removed. Until then the earlier results stay readable where they are; an --overwrite run that
is stopped leaves them as they were, and its own finished groups in OUT/.igcli/next/ for the
same command to continue from. Only the names igcli's sinks own are ever moved or removed,
never a user's other files."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from igcli.atomic import partial_name, remove
from igcli.errors import UsageProblem

STAGE = "next"  # OUT/.igcli/next: an --overwrite run's results until it has finished
REPLACED = "replaced"  # OUT/.igcli/replaced: the earlier results, while the new ones move in
JOURNAL = ".igcli"


def check_out_dir(out: Path, overwrite: bool, resume: bool) -> None:
    """Refused before anything is written (before OUT's lock): not a directory, both flags, a
    folder igcli did not write without --overwrite, an OUT this process cannot write. A folder
    of igcli's is checked once its lock is held (refuse_results): another run may be writing it."""
    if out.exists() and not out.is_dir():
        raise UsageProblem(f"{out}: exists and is not a directory")
    if overwrite and resume:
        raise UsageProblem("--overwrite and --resume exclude each other: replace the results, or continue them")
    if out.is_dir() and not (out / JOURNAL).is_dir() and any(out.iterdir()):
        if resume:
            raise UsageProblem(f"{out}: not an igcli output directory (no .igcli/state.json); cannot --resume")
        if not overwrite:
            raise UsageProblem(f"{out}: output directory is not empty; use --resume to continue or --overwrite to replace its results")
    writable = out if out.is_dir() else next((p for p in out.parents if p.exists()), Path("."))
    try:
        with tempfile.NamedTemporaryFile(dir=writable, prefix=".igcli-probe-"):
            pass
    except OSError as error:
        raise UsageProblem(f"{out}: cannot write the output directory ({error.strerror or error})") from None


def refuse_results(out: Path, overwrite: bool, resume: bool) -> None:
    """With OUT's lock held: earlier results, or an earlier run's journal, need a flag."""
    if overwrite or not out.is_dir():
        return
    journal = (out / JOURNAL / "state.json").is_file()
    others = [path for path in out.iterdir() if path.name != JOURNAL]
    if resume and others and not journal:
        raise UsageProblem(f"{out}: not an igcli output directory (no .igcli/state.json); cannot --resume")
    if not resume and (others or journal):
        raise UsageProblem(f"{out}: output directory is not empty; use --resume to continue or --overwrite to replace its results")


def results_in(out: Path, owned: tuple[str, ...]) -> list[Path]:
    """The entries of OUT that igcli's sinks own (and their .NAME.partial), the journal aside."""
    found: list[Path] = []
    for pattern in owned:
        if pattern == JOURNAL:
            continue
        for name in (pattern, partial_name(Path(pattern)).name):
            found += [path for path in out.glob(name) if path not in found]
    return found


def where_to_write(out: Path, overwrite: bool, owned: tuple[str, ...]) -> Path:
    """OUT itself, or with --overwrite over earlier results, OUT/.igcli/next."""
    out.mkdir(parents=True, exist_ok=True)
    if overwrite and results_in(out, owned):
        stage = out / JOURNAL / STAGE
        stage.mkdir(parents=True, exist_ok=True)
        return stage
    for path in results_in(out, owned) if overwrite else ():  # partial files of a run that died: nothing to keep
        remove(path)
    return out


def move_in(stage: Path, out: Path, owned: tuple[str, ...]) -> None:
    """The finished run's results in place of the earlier ones: the earlier moved aside, the new
    moved in (its journal too), the earlier removed."""
    aside = out / JOURNAL / REPLACED
    remove(aside)
    aside.mkdir(parents=True)
    for path in results_in(out, owned):
        os.replace(path, aside / path.name)
    journal = out / JOURNAL
    for name in ("chunks", "previous", "state.json", "finished.json"):
        if (journal / name).exists():
            os.replace(journal / name, aside / f"journal-{name}")
    for entry in sorted(stage.iterdir()):
        if entry.name == JOURNAL:
            continue
        os.replace(entry, out / entry.name)
    for entry in sorted((stage / JOURNAL).iterdir()) if (stage / JOURNAL).is_dir() else []:
        os.replace(entry, journal / entry.name)
    shutil.rmtree(aside, ignore_errors=True)
    shutil.rmtree(stage, ignore_errors=True)


def remove_others(directory: Path, keep: set[Path], suffix: str) -> int:
    """Remove the files with `suffix` under directory that are not in keep (the per-instance
    files of instances no longer in the run), then the folders left empty; -> files removed."""
    if not directory.is_dir():
        return 0
    kept = {path.resolve() for path in keep}
    removed = 0
    for path in sorted(directory.rglob(f"*{suffix}")):
        if path.is_file() and not path.name.startswith(".") and path.resolve() not in kept:
            path.unlink(missing_ok=True)
            removed += 1
    for folder in sorted((p for p in directory.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return removed
