"""The docs' examples run as written: every ```bash block of the README (but its two set-up
commands) and of docs/*.md, read from the pages at test time, runs from a copy of the repository
root's layout (sample_data/ and configs/ linked in) and must exit 0. Blocks that show the
reader's own paths (a crontab, a cluster's head) are marked ```sh and are not run."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def examples():
    found = []
    for page in PAGES:
        blocks = re.findall(r"^```bash\n(.*?)^```", page.read_text(encoding="utf-8"), flags=re.S | re.M)
        if page.name == "README.md":
            blocks = blocks[2:]  # the set-up commands: CI runs the second, a fresh clone the first
        found += [pytest.param(block, id=f"{page.name}-{number}") for number, block in enumerate(blocks, 1)]
    return found


@pytest.mark.parametrize("block", examples())
def test_the_docs_examples_run_as_written(block, tmp_path):
    for shared in ("sample_data", "configs"):
        (tmp_path / shared).symlink_to(ROOT / shared)
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{block}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"


def test_the_newcomers_page_has_examples():
    assert sum(1 for param in examples() if param.id.startswith("your-model.md")) >= 5
