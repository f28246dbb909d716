"""The output directory: refused when it holds results and neither --overwrite nor --resume was
given; with --overwrite, only the files igcli's sinks own are removed, never a user's others."""

from __future__ import annotations

import tempfile
from pathlib import Path

from igcli.atomic import partial_name, remove
from igcli.errors import UsageProblem


def prepare_out_dir(out: Path, overwrite: bool, resume: bool, owned: tuple[str, ...]) -> None:
    """owned: names or glob patterns in OUT that igcli writes (each also as its .NAME.partial)."""
    if out.exists() and not out.is_dir():
        raise UsageProblem(f"{out}: exists and is not a directory")
    if overwrite and resume:
        raise UsageProblem("--overwrite and --resume exclude each other: replace the results, or continue them")
    if out.exists() and any(out.iterdir()):
        if resume and not (out / ".igcli" / "state.json").is_file():
            raise UsageProblem(f"{out}: not an igcli output directory (no .igcli/state.json); cannot --resume")
        if not overwrite and not resume:
            raise UsageProblem(f"{out}: output directory is not empty; use --resume to continue or --overwrite to replace its results")
        for pattern in owned if overwrite else ():
            for name in (pattern, partial_name(Path(pattern)).name):
                for target in out.glob(name):
                    remove(target)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".igcli-probe-"):
            pass
    except OSError as error:
        raise UsageProblem(f"{out}: cannot write the output directory ({error.strerror or error})") from None
