"""igcli compare: matched maps, figures checked against scipy and sklearn, the gate, and noise
told apart from change by the runs' error estimates (issue 24)."""

import csv
import json
import shutil

import h5py
import keras
import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import ndcg_score

from tests.conftest import assert_one_line_error
from tests.test_inspect import SHAPES

TABLE = SHAPES.parent / "table"
QUIET = ("--quiet", "--no-heatmap", "--no-report")


def perturbed(path, seed=0, scale=0.5):
    """The sample CNN with seeded noise (scale x each weight's std) on its last two weighted layers."""
    model = keras.models.load_model(SHAPES / "model.keras")
    rng = np.random.default_rng(seed)
    for layer in [layer for layer in model.layers if layer.get_weights()][-2:]:
        layer.set_weights([w + rng.normal(size=w.shape).astype(np.float32) * scale * w.std() for w in layer.get_weights()])
    model.save(path)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from click.testing import CliRunner

    from igcli.cli import cli

    root = tmp_path_factory.mktemp("compare")
    jobs = {
        "s50": (SHAPES / "model.keras", "--steps", "50"),
        "s200": (SHAPES / "model.keras", "--steps", "200"),
        "gl50": (SHAPES / "model.keras", "--steps", "50", "--method", "gausslegendre"),
        "perturbed": (perturbed(root / "perturbed.keras"), "--steps", "50"),
    }
    for name, (model, *options) in jobs.items():
        result = CliRunner().invoke(cli, ["explain", str(model), str(SHAPES / "images"), "-o", str(root / name), *options, *QUIET])
        assert result.exit_code == 0, result.stderr
    table = ["explain", str(TABLE / "model.keras"), str(TABLE / "table.csv"), "--id-column", "id", "--label-column", "label", "--output", "logits"]
    for name, steps in (("t16", "16"), ("t64", "64")):
        result = CliRunner().invoke(cli, [*table, "--steps", steps, "-o", str(root / name), *QUIET])
        assert result.exit_code == 0, result.stderr
    return root


def compared(igcli, runs, a, b, *options):
    out = runs / f"diff-{a}-{b}-{len(options)}"
    run = igcli("compare", runs / a, runs / b, "-o", out, *options)
    with open(out / "compare.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return run, rows, json.loads((out / "compare.json").read_text())


def maps(folder):
    with h5py.File(folder / "attributions.h5") as arrays:
        ids = [i.decode() if isinstance(i, bytes) else i for i in arrays["ids"][:]]
        return dict(zip(ids, arrays["attributions"][:].astype(np.float64)))


def test_a_run_compared_with_itself_is_identical(igcli, runs):
    run, rows, record = compared(igcli, runs, "s50", "s50")
    assert run.exit_code == 0, run.stderr
    assert len(rows) == 24 and {row["verdict"] for row in rows} == {"same"}
    for name in ("spearman_abs", "spearman", "cosine", "iou_1", "iou_5", "iou_10", "region_iou"):
        assert all(float(row[name]) == pytest.approx(1.0, abs=1e-12) for row in rows), name
    assert all(float(row["relative_change"]) == 0 for row in rows)
    assert record["global"][0]["ndcg"] == pytest.approx(1.0, abs=1e-12) and record["settings_differ"] == {}


def test_the_same_model_at_50_and_200_steps_passes_the_default_gate(igcli, runs):
    run, rows, record = compared(igcli, runs, "s50", "s200")
    assert run.exit_code == 0, run.stderr
    assert record["settings_differ"] == {"steps": [50, 200]} and "differ in: steps (50 / 200)" in run.stderr
    assert record["counts"]["changed"] == 0


def test_a_perturbed_model_fails_and_the_most_changed_maps_are_named(igcli, runs):
    run, rows, record = compared(igcli, runs, "s50", "perturbed")
    assert run.exit_code == 3, run.stderr
    a, b = maps(runs / "s50"), maps(runs / "perturbed")
    for row in rows:  # the figures, computed again independently
        x, y = a[row["id"]], b[row["id"]]
        assert float(row["spearman"]) == pytest.approx(spearmanr(x.sum(-1).ravel(), y.sum(-1).ravel()).statistic, abs=1e-9)
        assert float(row["relative_change"]) == pytest.approx(_relative(x, y), rel=1e-9)
    changed = [row for row in rows if row["verdict"] == "changed"]
    assert changed and all(min(float(r["spearman"]), float(r["spearman_abs"])) < 0.9 or float(r["iou_10"]) < 0.7 for r in changed)
    most = sorted(changed, key=lambda r: -_relative(a[r["id"]], b[r["id"]]))[:5]
    named = next(line for line in run.stderr.splitlines() if "changed beyond the gate" in line)
    assert named.split("most changed first: ")[1].rstrip(" .").split(", ") == [r["id"] for r in most]


def _relative(x, y):
    """||A - B||_1 / max(||A||_1, ||B||_1) over pixels (channels summed, as the heatmaps show)."""
    px, py = x.sum(-1), y.sum(-1)
    return np.abs(px - py).sum() / max(np.abs(px).sum(), np.abs(py).sum())


def test_global_ndcg_equals_sklearn(igcli, runs):
    _, _, record = compared(igcli, runs, "s50", "perturbed")
    a, b = maps(runs / "s50"), maps(runs / "perturbed")
    mean_a = np.mean([np.abs(m).sum(-1).ravel() for m in a.values()], axis=0)
    mean_b = np.mean([np.abs(b[i]).sum(-1).ravel() for i in a], axis=0)
    pooled = record["global"][0]
    assert pooled["class"] is None and pooled["ndcg"] == pytest.approx(ndcg_score([mean_a], [mean_b]), abs=1e-9)


def test_integration_noise_is_not_change_and_a_run_without_estimates_gets_no_allowance(igcli, runs):
    strict = ("--min-rank-corr", "0.99999", "--min-top-iou", "0.999")  # every pair falls below these
    run, rows, _ = compared(igcli, runs, "s50", "s200", *strict)
    assert run.exit_code == 0 and {row["verdict"] for row in rows} == {"within noise"}, run.stderr
    for row in rows:  # within the sum of the two runs' error estimates, with the margin
        assert float(row["relative_change"]) <= 3 * float(row["noise_allowance"])
    run, rows, _ = compared(igcli, runs, "s50", "perturbed", *strict)
    assert run.exit_code == 3 and "changed" in {row["verdict"] for row in rows}
    run, rows, record = compared(igcli, runs, "gl50", "s200", *strict)  # Gauss-Legendre: no estimate
    assert run.exit_code == 3 and {row["verdict"] for row in rows} == {"changed"}


def test_instances_in_one_run_only_are_counted_not_errors(igcli, runs, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(runs / "s50", partial)
    with h5py.File(partial / "attributions.h5", "a") as arrays:  # the first 3 instances renamed: in B only
        ids = arrays["ids"][:]
        arrays["ids"][:3] = [b"new_" + (i if isinstance(i, bytes) else i.encode()) for i in ids[:3]]
    run = igcli("compare", runs / "s50", partial, "-o", tmp_path / "diff")
    record = json.loads((tmp_path / "diff" / "compare.json").read_text())
    assert run.exit_code == 0, run.stderr
    assert record["counts"]["matched"] == 21 and len(record["only_in_a"]) == 3 and len(record["only_in_b"]) == 3
    assert "3 only in A, 3 only in B" in run.stderr


def test_tables_compare_column_by_column(igcli, runs):
    run, rows, record = compared(igcli, runs, "t16", "t64", "--json")
    assert run.exit_code == 0, run.stderr
    assert json.loads(run.stdout)["exit_code"] == 0
    a, b = (_table(runs / name) for name in ("t16", "t64"))
    columns = list(a[next(iter(a))])
    expected_a = np.mean([[abs(a[i][c]) for c in columns] for i in a], axis=0)
    expected_b = np.mean([[abs(b[i][c]) for c in columns] for i in a], axis=0)
    assert [c["name"] for c in record["columns"]] == columns
    np.testing.assert_allclose([c["mean_abs_a"] for c in record["columns"]], expected_a, rtol=1e-6)
    np.testing.assert_allclose([c["mean_abs_b"] for c in record["columns"]], expected_b, rtol=1e-6)
    for row in rows[:20]:
        change = {c: b[row["id"]][c] - a[row["id"]][c] for c in columns}
        assert row["most_changed_feature"] == max(change, key=lambda c: abs(change[c]))


def _table(folder):
    with open(folder / "attributions.csv", newline="") as handle:
        return {row.pop("id"): {k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)}


def test_what_is_not_a_run_is_one_line(igcli, runs, tmp_path):
    assert_one_line_error(igcli("compare", tmp_path / "none", runs / "s50"), 2, "none", "no such output directory")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(igcli("compare", tmp_path / "empty", runs / "s50"), 2, "empty", "not an igcli output directory")
    assert_one_line_error(igcli("compare", runs / "s50", runs / "t16"), 2, "differ in shape")
