"""Every baseline and target form, output formats, config and errors, through the real CLI."""

import csv
import json
import subprocess
import sys

import h5py
import keras
import numpy as np
import pytest
from click.testing import CliRunner
from scipy.ndimage import gaussian_filter

from igcli.cli import cli
from tests.conftest import assert_one_line_error, save_npy
from tests.models import linear, power_sum

RNG = np.random.default_rng(4)
W = RNG.normal(size=(3, 4)).astype(np.float32)
B = RNG.normal(size=4).astype(np.float32)
X = RNG.uniform(0.1, 0.9, size=(5, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("files")
    linear(W, B).save(root / "lin.keras")
    save_npy(root / "x.npy", X)
    (root / "names.txt").write_text("ant\nbee\ncat\ndog\n")
    return root


def explain(igcli, files, *args):
    run = igcli("explain", files / "lin.keras", files / "x.npy", "--steps", 4, *args)
    assert run.exit_code == 0, run.stderr
    return run


def expected(baseline, target):
    return W[:, target] * (X - baseline)


@pytest.mark.parametrize(
    "baseline, value",
    [("zero", 0.0), ("black", 0.0), ("white", 1.0), ("constant:0.25", 0.25), ("constant:-2", -2.0)],
)
def test_constant_baselines(igcli, files, baseline, value):
    run = explain(igcli, files, "--baseline", baseline, "--target", 1)
    np.testing.assert_allclose(run.arrays()["attributions"], expected(value, 1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(run.arrays()["baseline_scores"], value * W[:, 1].sum() + B[1], rtol=1e-5)


def test_per_instance_baseline_file(igcli, files, tmp_path):
    per_instance = RNG.uniform(size=X.shape).astype(np.float32)
    np.savez(tmp_path / "b.npz", baselines=per_instance)
    run = explain(igcli, files, "--baseline", tmp_path / "b.npz", "--target", 3)
    np.testing.assert_allclose(run.arrays()["attributions"], expected(per_instance, 3), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("baseline", ["uniform", "gaussian:0.05"])
def test_random_baselines_are_seeded_averaged_and_complete(igcli, files, baseline):
    args = ("--baseline", baseline, "--baseline-samples", 4, "--target", 0)
    first = explain(igcli, files, *args).arrays()
    again = explain(igcli, files, *args).arrays()
    other = explain(igcli, files, *args, "--seed", 1).arrays()
    assert first["attributions"].tobytes() == again["attributions"].tobytes()
    assert not np.allclose(first["attributions"], other["attributions"])
    # linear F: A = W (x - mean_k x'_k); completeness against the averaged baseline score
    np.testing.assert_allclose(first["deltas"], 0, atol=1e-5)
    mean_baseline = X - first["attributions"] / W[:, 0]
    assert np.all((mean_baseline >= 0) & (mean_baseline <= 1))  # both kinds stay in the 0..1 range
    if baseline.startswith("gaussian"):
        # x' = clip(x + N(0, 0.05)), mean of 4: within 5 sigma / 2 of x
        assert np.all(np.abs(mean_baseline - X) < 0.125)


def test_blur_baseline_on_images(igcli, tmp_path):
    image = keras.Input((6, 5, 1))
    layer = keras.layers.Dense(1)
    model = keras.Model(image, layer(keras.layers.Flatten()(image)))
    weights = RNG.normal(size=(30, 1)).astype(np.float32)
    layer.set_weights([weights, np.zeros(1, np.float32)])
    model.save(tmp_path / "img.keras")
    x = RNG.uniform(size=(2, 6, 5, 1)).astype(np.float32)
    x[1] = 0.7  # a flat image is its own blur: nothing to attribute
    run = igcli("explain", tmp_path / "img.keras", save_npy(tmp_path / "x.npy", x), "--baseline", "blur:1", "--steps", 3)
    assert run.exit_code == 0, run.stderr
    # independent blur: scipy, mirrored edges, radius ceil(3 sigma) = 3
    blurred = gaussian_filter(x[0, :, :, 0].astype(np.float64), sigma=1, mode="mirror", truncate=3.0)
    attributions = run.arrays()["attributions"]
    np.testing.assert_allclose(attributions[0, :, :, 0], weights.reshape(6, 5) * (x[0, :, :, 0] - blurred), atol=1e-5)
    np.testing.assert_allclose(attributions[1], 0, atol=1e-6)


def test_targets_by_prediction_index_name_and_labels(igcli, files, tmp_path):
    predicted = (X @ W + B).argmax(axis=1)
    run = explain(igcli, files)
    np.testing.assert_array_equal(run.arrays()["targets"], predicted)
    np.testing.assert_allclose(run.arrays()["attributions"], W[:, predicted].T * X, rtol=1e-5, atol=1e-6)
    by_name = explain(igcli, files, "--target", "cat", "--class-names", files / "names.txt")
    np.testing.assert_array_equal(by_name.arrays()["targets"], [2] * 5)
    assert [name.decode() for name in by_name.arrays()["target_names"]] == ["cat"] * 5
    labels = [0, 3, 1, 2, 2]
    (tmp_path / "labels.txt").write_text("ant\n3\nbee\ncat\n2\n")
    np.save(tmp_path / "labels.npy", np.array(labels))
    for path in ("labels.txt", "labels.npy"):
        run = explain(igcli, files, "--target", f"labels:{tmp_path / path}", "--class-names", files / "names.txt")
        np.testing.assert_array_equal(run.arrays()["targets"], labels)
        np.testing.assert_allclose(run.arrays()["attributions"], W[:, labels].T * X, rtol=1e-5, atol=1e-6)


def test_index_tuple_for_higher_rank_outputs(igcli, tmp_path):
    x = keras.Input((3,))
    dense = keras.layers.Dense(6, use_bias=False)
    model = keras.Model(x, keras.layers.Reshape((2, 3))(dense(x)))
    dense.set_weights([W.repeat(2, axis=1)[:, :6]])
    model.save(tmp_path / "grid.keras")
    run = igcli("explain", tmp_path / "grid.keras", save_npy(tmp_path / "x.npy", X), "--target", "1,2", "--steps", 2)
    assert run.exit_code == 0, run.stderr
    assert list(run.arrays()["targets"]) == [5] * 5  # row-major flat index of (1, 2) in (2, 3)
    np.testing.assert_allclose(run.arrays()["attributions"], W.repeat(2, axis=1)[:, 5] * X, rtol=1e-5, atol=1e-6)
    assert_one_line_error(igcli("explain", tmp_path / "grid.keras", tmp_path / "x.npy", "--target", "2,0"), 2, "(2, 3)")


def test_scalar_output_model_needs_no_target(igcli, tmp_path):
    power_sum(3, 2).save(tmp_path / "scalar.keras")
    run = igcli("explain", tmp_path / "scalar.keras", save_npy(tmp_path / "x.npy", X), "--steps", 6)
    assert run.exit_code == 0, run.stderr
    np.testing.assert_allclose(run.arrays()["attributions"], X**2, rtol=1e-5)
    assert_one_line_error(igcli("explain", tmp_path / "scalar.keras", tmp_path / "x.npy", "--target", 1), 2, "1 output value")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--baseline", "purple"], "--baseline 'purple'"),
        (["--baseline", "constant:abc"], "not a number"),
        (["--baseline", "gaussian:-1"], "positive"),
        (["--baseline", "blur:2"], "image inputs"),
        (["--baseline", "missing.npy"], "no such file"),
        (["--target", "4"], "out of range"),
        (["--target", "-1"], "out of range"),
        (["--target", "cat"], "--class-names"),
        (["--target", "zebra", "--class-names", "{names}"], "zebra"),
        (["--target", "labels:nowhere.txt"], "no such labels file"),
        (["--target", "labels:{short_labels}"], "2 labels for 5 inputs"),
        (["--target", "label"], "--label-column"),
        (["--class-names", "{three_names}"], "3 class names for 4"),
        (["--steps", "0"], "--steps"),
        (["--steps", "many"], "--steps"),
        (["--batch-size", "0"], "--batch-size"),
        (["--batch-size", "big"], "--batch-size"),
        (["--method", "simpson"], "--method"),
        (["--method", "riemann_trapezoid", "--steps", "1"], "at least 2"),
        (["--format", "csv"], "--format"),
        (["--baseline-samples", "0"], "--baseline-samples"),
        (["--output", "odds"], "--output"),
    ],
)
def test_bad_option_values_exit_2_with_one_line(igcli, files, tmp_path, args, fragment):
    (tmp_path / "short.txt").write_text("1\n2\n")
    (tmp_path / "three.txt").write_text("a\nb\nc\n")
    paths = {"names": files / "names.txt", "short_labels": tmp_path / "short.txt", "three_names": tmp_path / "three.txt"}
    args = [arg.format(**paths) for arg in args]
    run = igcli("explain", files / "lin.keras", files / "x.npy", *args)
    assert_one_line_error(run, 2, fragment)
    assert not (run.out / "summary.csv").exists()


def test_bad_baseline_shape_and_bad_inputs(igcli, files, tmp_path):
    np.save(tmp_path / "b.npy", np.zeros((2, 2), np.float32))
    assert_one_line_error(igcli("explain", files / "lin.keras", files / "x.npy", "--baseline", tmp_path / "b.npy"), 2, "b.npy", "shape")
    np.save(tmp_path / "wide.npy", np.zeros((2, 5), np.float32))
    assert_one_line_error(igcli("explain", files / "lin.keras", tmp_path / "wide.npy"), 2, "wide.npy", "do not fit")
    np.savez(tmp_path / "two.npz", a=X, b=X)
    assert_one_line_error(igcli("explain", files / "lin.keras", tmp_path / "two.npz"), 2, "two.npz", "--key")
    run = igcli("explain", files / "lin.keras", tmp_path / "two.npz", "--key", "b", "--steps", 2)
    assert run.exit_code == 0 and run.arrays()["sources"][0].decode() == "two.npz:b[0]"
    assert_one_line_error(igcli("explain", files / "lin.keras", tmp_path / "nothing.npy"), 2, "nothing.npy")
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY junk")
    assert_one_line_error(igcli("explain", files / "lin.keras", tmp_path / "junk.npy"), 2, "junk.npy")


def test_nan_instance_is_listed_and_the_rest_explained(igcli, files, tmp_path):
    x = X.copy()
    x[2, 1] = np.nan
    run = igcli("explain", files / "lin.keras", save_npy(tmp_path / "nan.npy", x), "--steps", 2, "--target", 0)
    assert run.exit_code == 1
    arrays = run.arrays()
    assert [s.decode() for s in arrays["status"]] == ["ok", "ok", "error", "ok", "ok"]
    assert np.isnan(arrays["attributions"][2]).all()
    np.testing.assert_allclose(arrays["attributions"][[0, 1, 3, 4]], expected(0, 0)[[0, 1, 3, 4]], rtol=1e-5, atol=1e-6)
    assert "NaN" in run.stderr and run.run_json()["counts"] == {
        "instances": 5,
        "explained": 4,
        "reused": 0,
        "computed": 4,
        "failed": 1,
        "skipped_files": 0,
        "uninformative_baselines": 0,
    }


def test_outputs_summary_run_json_and_formats_agree(igcli, files):
    run = explain(igcli, files, "--class-names", files / "names.txt", "--json")
    summary = json.loads(run.stdout)  # stdout carries exactly one JSON document
    assert summary["instances"] == 5 and summary["exit_code"] == 0
    arrays = run.arrays()
    with open(run.out / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert rows[0]["status"] == "ok" and rows[0]["error"] == ""
    for row, score, total in zip(rows, arrays["scores"], arrays["attributions"].sum(axis=1)):
        assert float(row["score"]) == pytest.approx(score)
        assert float(row["attribution_sum"]) == pytest.approx(total, rel=1e-6)
        assert float(row["attribution_sum"]) - (float(row["score"]) - float(row["baseline_score"])) == pytest.approx(float(row["delta"]), abs=1e-9)
    manifest = run.run_json()
    assert manifest["counts"] == {"instances": 5, "explained": 5, "reused": 0, "computed": 5, "failed": 0, "skipped_files": 0, "uninformative_baselines": 0}
    assert len(manifest["model"]["sha256"]) == 64 and manifest["resolved"]["steps"] == 4
    assert set(manifest["timings"]) == {"load_seconds", "compute_seconds", "write_seconds", "explain_wall_seconds", "total_seconds"}
    assert {"tensorflow", "keras", "numpy"} <= set(manifest["versions"])
    npz = explain(igcli, files, "--format", "npz")
    npy = explain(igcli, files, "--format", "npy")
    with np.load(npz.out / "attributions.npz") as archive:
        np.testing.assert_array_equal(archive["attributions"], arrays["attributions"])
        np.testing.assert_array_equal(archive["targets"], arrays["targets"])
        assert list(archive["ids"]) == ["0", "1", "2", "3", "4"]
    np.testing.assert_array_equal(np.load(npy.out / "arrays" / "deltas.npy"), arrays["deltas"])
    assert not (npz.out / "attributions.h5").exists()


def test_non_empty_out_needs_overwrite(igcli, files, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    run = igcli("explain", files / "lin.keras", files / "x.npy", "-o", out)
    assert_one_line_error(run, 2, "--overwrite")
    run = igcli("explain", files / "lin.keras", files / "x.npy", "-o", out, "--overwrite", "--steps", 2)
    assert run.exit_code == 0 and (out / "attributions.h5").exists()
    assert (out / "notes.txt").read_text() == "mine"  # --overwrite replaces only igcli's own files


def test_config_file_sets_defaults_and_flags_win(igcli, files, tmp_path):
    config = tmp_path / "igcli.toml"
    config.write_text('steps = 3\nmethod = "riemann_middle"\nbaseline = "constant:0.5"\n')
    run = igcli("explain", files / "lin.keras", files / "x.npy", "--config", config, "--steps", 5)
    assert run.exit_code == 0, run.stderr
    resolved = run.run_json()["resolved"]
    assert (resolved["steps"], resolved["method"], resolved["baseline"]) == (5, "riemann_middle", "constant:0.5")
    config.write_text("colour = 1\n")
    assert_one_line_error(igcli("explain", files / "lin.keras", files / "x.npy", "--config", config), 2, "colour")
    config.write_text("steps = [\n")
    assert_one_line_error(igcli("explain", files / "lin.keras", files / "x.npy", "--config", config), 2, "TOML")


def test_paths_in_a_config_file_are_relative_to_its_folder(files, tmp_path, monkeypatch):
    # issue 23: the same cron line must work from any directory
    job = tmp_path / "job"
    job.mkdir()
    (job / "classes.txt").write_text("ant\nbee\ncat\ndog\n")
    (job / "labels.txt").write_text("2\n2\n2\n2\n2\n")
    np.save(job / "base.npy", np.full(3, 0.25, np.float32))
    settings = 'out = "results"\nclass_names = "classes.txt"\ntarget = "labels:labels.txt"\nbaseline = "base.npy"\nsteps = 4\n'
    (job / "igcli.toml").write_text(settings)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(cli, ["explain", str(files / "lin.keras"), str(files / "x.npy"), "--config", "../job/igcli.toml"])
    assert result.exit_code == 0, result.stderr
    assert not any(elsewhere.iterdir()) and (job / "results" / "summary.csv").is_file()
    with open(job / "results" / "summary.csv", newline="") as handle:
        assert {row["target_name"] for row in csv.DictReader(handle)} == {"cat"}
    with h5py.File(job / "results" / "attributions.h5") as arrays:
        np.testing.assert_allclose(arrays["attributions"][:], expected(0.25, 2), rtol=1e-5, atol=1e-6)
    (job / "igcli.toml").write_text('baseline = "zero"\ntarget = "top:2"\nsteps = 4\n')  # no path: kept as written
    result = CliRunner().invoke(cli, ["explain", str(files / "lin.keras"), str(files / "x.npy"), "--config", "../job/igcli.toml", "-o", "o2"])
    assert result.exit_code == 0, result.stderr


def test_help_and_version(igcli):
    assert igcli("--version").stdout.strip().startswith("igcli ")
    text = igcli("explain", "--help").stdout
    for option in ("--steps", "--method", "--baseline", "--target", "--output", "--format", "--config"):
        assert option in text


def test_completeness_gate_exits_3_and_lists_the_instances(igcli, tmp_path):
    power_sum(3, 2).save(tmp_path / "sq.keras")
    x = save_npy(tmp_path / "x.npy", X)
    # riemann_left with 2 points integrates 2 alpha x to x/2 instead of x: relative delta 0.5
    gated = igcli("explain", tmp_path / "sq.keras", x, "--method", "riemann_left", "--steps", 2, "--max-delta", 0.01, "--json")
    assert gated.exit_code == 3
    assert json.loads(gated.stdout)["over_max_delta"] == ["0", "1", "2", "3", "4"]
    np.testing.assert_allclose(gated.arrays()["relative_deltas"], 0.5, rtol=1e-5)
    # Gauss-Legendre is exact on that linear integrand
    assert igcli("explain", tmp_path / "sq.keras", x, "--steps", 2, "--max-delta", 1e-5).exit_code == 0
    assert_one_line_error(igcli("explain", tmp_path / "sq.keras", x, "--max-delta", -1), 2, "--max-delta")


def test_fail_fast_stops_at_the_first_failure(igcli, files, tmp_path):
    x = np.repeat(X, 20, axis=0)
    x[3, 0] = np.inf
    run = igcli("explain", files / "lin.keras", save_npy(tmp_path / "inf.npy", x), "--steps", 2, "--fail-fast")
    assert run.exit_code == 1 and "--fail-fast" in run.stderr
    counts = run.run_json()["counts"]
    assert counts["failed"] == 1 and counts["instances"] < len(x)  # the rest was not started


def test_help_loads_none_of_the_pipeline():
    """`igcli explain --help` parses no data and loads no model: the run's modules stay unloaded."""
    script = (
        "import sys\nfrom click.testing import CliRunner\nfrom igcli.cli import cli\n"
        "assert CliRunner().invoke(cli, ['explain', '--help']).exit_code == 0\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('igcli', 'tensorflow', 'keras', 'h5py', 'PIL', 'matplotlib')))))"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    pipeline = ("igcli.plan", "igcli.runner.frame", "igcli.runner.local", "igcli.sinks.selection", "igcli.report_page", "igcli.models", "igcli.methods.ig")
    assert not [name for name in loaded if name.startswith(pipeline) or not name.startswith("igcli")], loaded
