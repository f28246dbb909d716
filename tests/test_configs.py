"""Every file in configs/ runs on the sample data as its own header says (its `# try:` command
and its `# exits:` code), and does what its comments claim."""

import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from igcli.cli import cli

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.toml"))


def documented(config: Path) -> tuple[list[str], int]:
    """The config's `# try:` command (without the leading `igcli`) and its `# exits:` code."""
    text = config.read_text(encoding="utf-8")
    command = re.search(r"^# try: igcli (.+)$", text, flags=re.M)
    code = re.search(r"^# exits: (\d+)", text, flags=re.M)
    assert command and code, f"{config.name}: document a `# try:` command and its `# exits:` code"
    return shlex.split(command.group(1)), int(code.group(1))


def run_as_documented(config: Path, tmp_path: Path, *extra: str, monkeypatch):
    args, code = documented(config)
    monkeypatch.chdir(ROOT)  # the command is written for the repository root
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "out"), *extra])  # the last -o wins
    return result, code, json.loads((tmp_path / "out" / "run.json").read_text())


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_config_runs_as_documented(config, tmp_path, monkeypatch):
    result, code, run = run_as_documented(config, tmp_path, monkeypatch=monkeypatch)
    assert result.exit_code == code, result.stderr
    settings = {key.replace("-", "_"): value for key, value in tomllib.loads(config.read_text()).items()}
    given = run["configuration"]
    for key, value in settings.items():
        if key in ("quiet", "json", "progress"):  # how the run talks, not what it computes: run.json has none
            continue
        assert given[key] == value, key  # every setting reached the run
    if "baseline_samples" in settings:  # "steps x samples per input" gradient evaluations
        assert run["gradient_evaluations"] == settings["steps"] * settings["baseline_samples"] * run["counts"]["explained"]


def test_the_ci_gate_is_quiet_prints_json_and_gates(tmp_path, monkeypatch):
    config = ROOT / "configs" / "ci-gate.toml"
    result, _, run = run_as_documented(config, tmp_path, monkeypatch=monkeypatch)
    summary = json.loads(result.stdout)
    assert result.stderr == "" and summary["exit_code"] == 0
    assert summary["max_error_estimate"] <= 0.02 and summary["max_relative_delta"] <= 0.01
    stricter = max(summary["max_error_estimate"] / 2, 1e-9)  # half the worst estimate: that instance fails
    result, _, run = run_as_documented(config, tmp_path, "--overwrite", "--max-error", str(stricter), monkeypatch=monkeypatch)
    assert result.exit_code == 3 and json.loads(result.stdout)["over_max_error"]
