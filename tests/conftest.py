import json
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from igcli.cli import cli


class Run:
    """The outcome of one `igcli ...` invocation through Click's CliRunner."""

    def __init__(self, result, out):
        self.result = result
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.out = out

    def arrays(self) -> dict:
        def read(node):  # a group (one dataset per model input) becomes a dict
            return {name: read(node[name]) for name in node} if isinstance(node, h5py.Group) else node[()]

        with h5py.File(self.out / "attributions.h5", "r") as handle:
            return read(handle)

    def run_json(self) -> dict:
        return json.loads((self.out / "run.json").read_text())


@pytest.fixture
def igcli(tmp_path):
    """igcli(*args) runs the real CLI; `explain` gets a fresh -o unless one is given."""
    counter = iter(range(10**6))

    def invoke(*args):
        args = [str(a) for a in args]
        out = None
        if args and args[0] == "explain" and "-o" not in args and "--out" not in args:
            out = tmp_path / f"out{next(counter)}"
            args += ["-o", str(out)]
        elif "-o" in args:
            out = Path(args[args.index("-o") + 1])
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        return Run(result, out)

    return invoke


def assert_one_line_error(run, code=2, *fragments):
    assert run.exit_code == code, (run.exit_code, run.stderr)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("igcli: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def save_npy(path, array):
    np.save(path, np.asarray(array, np.float32))
    return path
