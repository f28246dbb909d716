"""--format zarr (issue 26): OUT/attributions.zarr holds exactly the arrays attributions.h5 holds for
the same run (written by independent code, h5py), chunked by instance, with dimension names that
xarray opens; it survives an interruption and --resume, replaces an h5 run with --overwrite, gets a
report.html, and igcli compare reads it. Its writing API lets processes that share no disk write
disjoint instances into one store: two spawned processes give what one process gives."""

import errno
import json
import multiprocessing
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
xr = pytest.importorskip("xarray")

from igcli.sinks.arrays import ArrayLayout  # noqa: E402
from igcli.sinks.zarr_arrays import ZarrWriter, create_store, finish_store, is_row_array, write_rows  # noqa: E402
from tests.conftest import assert_one_line_error  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
IMAGES = ("explain", SAMPLE / "shapes" / "model.keras", SAMPLE / "shapes" / "images", "--steps", 4, "--target", "top:2", "--records", "jsonl", "--quiet")
# --steps auto and --metrics: the optional arrays (steps, error_estimate, incomplete, deletion, insertion, their curves)
TABLE = (
    "explain",
    SAMPLE / "table" / "model.keras",
    SAMPLE / "table" / "table.csv",
    *("--id-column", "id", "--label-column", "label", "--steps", "auto", "--max-steps", 32),
    *("--metrics", "deletion,insertion", "--metric-steps", 4, "--batch-size", 64, "--records", "jsonl", "--quiet"),
)


def h5_arrays(path) -> dict:
    """Every dataset of attributions.h5 by its path, text as str."""
    found = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, node: found.update({name: node[()]}) if isinstance(node, h5py.Dataset) else None)
        attributes = {key: (value.item() if isinstance(value, np.generic) else value) for key, value in handle.attrs.items()}
    return {name: _text(v) for name, v in found.items()}, attributes


def zarr_arrays(path) -> dict:
    group = zarr.open_group(path, mode="r")
    found = {name: node[...] for name, node in group.members(max_depth=None) if isinstance(node, zarr.Array)}
    return {name: _text(v) for name, v in found.items()}, dict(group.attrs)


def _text(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "OT":  # h5py's bytes, zarr's StringDType: compared as Python str
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values.ravel()], dtype=object).reshape(values.shape)
    return values


def assert_same_arrays(zarr_path, h5_path) -> dict:
    want, want_attributes = h5_arrays(h5_path)
    got, attributes = zarr_arrays(zarr_path)
    assert sorted(got) == sorted(want)
    for name, values in want.items():
        assert got[name].dtype == values.dtype and got[name].shape == values.shape, name
        assert np.array_equal(got[name], values, equal_nan=values.dtype.kind == "f"), name
    assert attributes == want_attributes
    return got


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from click.testing import CliRunner

    from igcli.cli import cli

    root = tmp_path_factory.mktemp("zarr")
    for name, args in (("images", IMAGES), ("table", TABLE)):
        for fmt in ("h5", "zarr"):
            result = CliRunner().invoke(cli, [str(a) for a in args] + ["--format", fmt, "-o", str(root / f"{name}-{fmt}")])
            assert result.exit_code == 0, result.stderr
    return root


def test_images_with_several_targets_equal_the_h5_run(runs):
    got = assert_same_arrays(runs / "images-zarr" / "attributions.zarr", runs / "images-h5" / "attributions.h5")
    assert got["attributions"].shape == (24, 2, 64, 64, 3)
    group = zarr.open_group(runs / "images-zarr" / "attributions.zarr", mode="r")
    assert group["attributions"].chunks == (1, 2, 64, 64, 3)  # one instance per chunk object
    assert group["attributions"].metadata.dimension_names == ("instance", "target", "height", "width", "channel")
    names = [".igcli", "attributions.zarr", "explanations.jsonl", "heatmaps", "overview.png", "report.html", "run.json", "summary.csv"]
    assert sorted(p.name for p in (runs / "images-zarr").iterdir()) == names  # nothing partial left; the report and heatmaps as with h5
    heatmaps = {fmt: sorted(p.relative_to(runs / f"images-{fmt}") for p in (runs / f"images-{fmt}" / "heatmaps").rglob("*.png")) for fmt in ("h5", "zarr")}
    assert heatmaps["zarr"] == heatmaps["h5"] and len(heatmaps["h5"]) == 24 * 2
    last = json.loads((runs / "images-zarr" / "explanations.jsonl").read_text().splitlines()[-1])["explanation"]["attributions"][1]["featureAttributions"]
    assert {k: last[k] for k in ("file", "dataset", "row", "target")} == {"file": "attributions.zarr", "dataset": "attributions", "row": 23, "target": 1}
    pointed = zarr.open_group(runs / "images-zarr" / last["file"], mode="r")[last["dataset"]][last["row"], last["target"]]
    assert np.array_equal(pointed, got["attributions"][23, 1]) and list(pointed.shape) == last["shape"]


def test_a_table_with_the_optional_arrays_equals_the_h5_run(runs):
    got = assert_same_arrays(runs / "table-zarr" / "attributions.zarr", runs / "table-h5" / "attributions.h5")
    assert {"steps", "error_estimate", "incomplete", "deletion", "insertion", "deletion_curve", "insertion_curve"} <= set(got)
    assert got["attributions"].shape == (400, 6) and got["deletion_curve"].shape == (400, 5)
    records = (runs / "table-zarr" / "explanations.jsonl").read_text()
    assert records == (runs / "table-h5" / "explanations.jsonl").read_text()  # a table's records name its columns, not the file


@pytest.mark.parametrize("run", ["images", "table"])
def test_xarray_and_zarr_read_every_instance(runs, run):
    path = runs / f"{run}-zarr" / "attributions.zarr"
    want, attributes = h5_arrays(runs / f"{run}-h5" / "attributions.h5")
    for dataset in (xr.open_zarr(path), xr.open_dataset(path, engine="zarr")):
        assert set(dataset.data_vars) == set(want) and dataset.sizes["instance"] == len(want["ids"])
        assert list(dataset["ids"].values) == list(want["ids"]) and dataset.attrs == attributes
        for name in ("attributions", "scores", "targets"):
            assert np.array_equal(dataset[name].values, want[name], equal_nan=True) and dataset[name].dtype == want[name].dtype, name
    group = zarr.open(path, mode="r")
    assert all(np.array_equal(group["attributions"][i], want["attributions"][i], equal_nan=True) for i in range(len(want["ids"])))


def test_several_model_inputs_one_array_each(igcli, tmp_path):
    from tests.test_multi_input import two_input_model

    two_input_model().save(tmp_path / "two.keras")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "x.npz", image=rng.normal(size=(5, 4, 4, 1)).astype(np.float32), extra=rng.normal(size=(5, 3)).astype(np.float32))
    h5 = igcli("explain", tmp_path / "two.keras", tmp_path / "x.npz", "--steps", 8)
    stored = igcli("explain", tmp_path / "two.keras", tmp_path / "x.npz", "--steps", 8, "--format", "zarr")
    assert h5.exit_code == 0 and stored.exit_code == 0, stored.stderr
    got = assert_same_arrays(stored.out / "attributions.zarr", h5.out / "attributions.h5")
    assert got["attributions/image"].shape == (5, 4, 4, 1) and got["attributions/extra"].shape == (5, 3)
    inputs = xr.open_zarr(stored.out / "attributions.zarr", group="attributions")
    assert inputs["image"].dims == ("instance", "image_height", "image_width", "image_channel") and inputs["extra"].dims == ("instance", "extra_feature")


def test_resume_after_an_interrupted_run_gives_the_same_store(igcli, runs, tmp_path, monkeypatch):
    calls = {"n": 0}
    append = ZarrWriter.append

    def failing(self, results):  # the disk fills at the third group: two groups are in the arrays
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        append(self, results)

    monkeypatch.setattr(ZarrWriter, "append", failing)
    out = tmp_path / "out"
    stopped = igcli(*TABLE, "--format", "zarr", "-o", out)
    assert stopped.exit_code == 74, stopped.stderr
    assert sorted(p.name for p in out.iterdir()) == [".igcli"]  # the partial store removed, nothing under a final name
    monkeypatch.setattr(ZarrWriter, "append", append)
    resumed = igcli(*TABLE, "--format", "zarr", "-o", out, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    counts = resumed.run_json()["counts"]
    assert 0 < counts["reused"] < 400 and counts["reused"] + counts["computed"] == 400  # the groups journaled before the failure were kept
    want, want_attributes = zarr_arrays(runs / "table-zarr" / "attributions.zarr")
    got, attributes = zarr_arrays(out / "attributions.zarr")
    assert sorted(got) == sorted(want) and attributes == want_attributes
    assert all(np.array_equal(got[name], want[name], equal_nan=want[name].dtype.kind == "f") for name in want)
    again = igcli(*TABLE, "--format", "zarr", "-o", out, "--resume", "--json")  # nothing new: the store counts as an output still there
    assert again.exit_code == 0 and json.loads(again.stdout)["up_to_date"] is True, again.stderr


def test_overwrite_replaces_an_h5_run_with_a_zarr_store(igcli, runs, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(runs / "images-h5", out)
    run = igcli(*IMAGES, "--format", "zarr", "-o", out, "--overwrite", "--no-heatmap", "--no-report")
    assert run.exit_code == 0, run.stderr
    assert not (out / "attributions.h5").exists() and not (out / "heatmaps").exists()
    assert_same_arrays(out / "attributions.zarr", runs / "images-h5" / "attributions.h5")


@pytest.mark.parametrize("other", ["images-zarr", "images-h5"])
def test_compare_reads_zarr_runs(igcli, runs, tmp_path, other):
    import csv

    run = igcli("compare", runs / "images-zarr", runs / other, "-o", tmp_path / "diff")
    assert run.exit_code == 0, run.stderr
    with open(tmp_path / "diff" / "compare.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 24 * 2 and {row["verdict"] for row in rows} == {"same"}  # the same maps, whichever file holds them
    assert all(float(row["relative_change"]) == 0 for row in rows)


def test_without_zarr_installed_one_line_before_any_work(igcli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "zarr", None)  # find_spec answers None, as for a missing package
    run = igcli(*IMAGES, "--format", "zarr", "-o", tmp_path / "out")
    line = assert_one_line_error(run, 2)
    assert line == "igcli: error: --format zarr needs the zarr package: pip install 'igcli[zarr]'"
    assert not (tmp_path / "out").exists()


# The writing API: a driver creates the store, workers write disjoint instances, the driver finishes it.

LAYOUT = ArrayLayout((3, 4, 2), optional=(("steps", ()), ("deletion_curve", (5,))), targets=2)
COUNT = 11


def columns(indices) -> dict:
    """Each instance's rows, a function of its index only (as a worker computes them)."""
    rows = {}
    for name, shape in LAYOUT.shapes().items():
        values = np.stack([np.random.default_rng(i).normal(size=shape) for i in indices]) if shape else np.asarray(indices, np.float64)
        rows[name] = np.vectorize(lambda v: f"id-{v:.3f}", otypes=[object])(values) if name in ("ids", "sources", "status", "target_names") else values
    return rows


def _write_part(location, indices) -> None:
    rows = columns(indices)
    write_rows(location, indices, {name: values for name, values in rows.items() if is_row_array(name)})


def write_in_parallel(location) -> None:
    create_store(location, COUNT, LAYOUT, {"method": "riemann_middle", "steps": 4})
    context = multiprocessing.get_context("spawn")
    parts = [[0, 2, 3, 7, 10], [1, 4, 5, 6, 8, 9]]  # interleaved: neighbours belong to different writers
    processes = [context.Process(target=_write_part, args=(str(location), part)) for part in parts]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    values = columns(range(COUNT))
    finish_store(location, {name: v for name, v in values.items() if not is_row_array(name)})


def test_two_processes_write_one_store_as_one_process_does(tmp_path):
    write_in_parallel(tmp_path / "parallel.zarr")
    one = create_store(tmp_path / "one.zarr", COUNT, LAYOUT, {"method": "riemann_middle", "steps": 4})
    write_rows(one, np.arange(COUNT), columns(range(COUNT)))
    finish_store(one)
    want, want_attributes = zarr_arrays(tmp_path / "one.zarr")
    got, attributes = zarr_arrays(tmp_path / "parallel.zarr")
    assert sorted(got) == sorted(want) and attributes == want_attributes == {"method": "riemann_middle", "steps": 4}
    for name, values in want.items():
        assert got[name].dtype == values.dtype and np.array_equal(got[name], values), name
    assert np.array_equal(want["attributions"], columns(range(COUNT))["attributions"].astype(np.float32))
    # an fsspec URL goes through zarr's FsspecStore, as s3:// does
    memory = "memory://igcli-test/attributions.zarr"
    create_store(memory, COUNT, LAYOUT, {"method": "riemann_middle", "steps": 4})
    for part in ([5, 1, 2], [0, 3, 4, 6, 7, 8, 9, 10]):  # in any order
        write_rows(memory, part, columns(part))
    finish_store(memory)
    remote = xr.open_zarr(memory)
    assert np.array_equal(remote["attributions"].values, want["attributions"]) and list(remote["ids"].values) == list(want["ids"])
