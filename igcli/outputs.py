"""Everything igcli writes: attribution arrays, summary.csv, run.json. Files appear under their
final names only when complete (written under a temporary name, then renamed)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from igcli.errors import UsageProblem

FORMATS = ("h5", "npz", "npy")
# What igcli writes into OUT; --overwrite removes only these, never a user's other files.
OWN_NAMES = ("attributions.h5", "attributions.npz", "attributions.csv", "summary.csv", "run.json", "overview.png", "heatmaps", "arrays", ".igcli")
SUMMARY_COLUMNS = (
    "id", "source", "original_size", "predicted", "predicted_name", "target", "target_name", "score",
    "baseline_score", "attribution_sum", "delta", "relative_delta", "status", "error",
)
ARRAY_NAMES = ("attributions", "ids", "sources", "targets", "target_names", "scores", "baseline_scores", "deltas", "relative_deltas", "status")
TEXT_ARRAYS = ("ids", "sources", "target_names", "status")


@dataclass
class Results:
    """One group of instances, explained or failed, in input order."""

    indices: np.ndarray
    ids: list[str]
    sources: list[str]
    inputs: np.ndarray  # what the model saw, [b, ...]
    extras: list[dict]  # per instance: original_size, label, ...
    attributions: np.ndarray  # float32 [b, ...]; NaN rows for failed instances
    targets: np.ndarray  # int64, -1 where failed before a target was chosen
    predicted: np.ndarray  # int64 argmax of the output, -1 where not computed
    scores: np.ndarray  # float64, NaN where failed
    baseline_scores: np.ndarray
    sums: np.ndarray
    deltas: np.ndarray
    errors: list[str | None]
    target_names: list[str] = field(default_factory=list)
    predicted_names: list[str] = field(default_factory=list)

    @classmethod
    def empty(cls, batch, shape: tuple) -> "Results":
        """Every instance failed or not yet computed: NaN values, the batch's read errors.
        shape: one instance's attributions (the input's, or a layer's with --layer)."""
        count = len(batch.ids)
        nan = lambda: np.full(count, np.nan)  # noqa: E731
        return cls(
            indices=batch.indices, ids=list(batch.ids), sources=list(batch.sources), inputs=batch.arrays, extras=batch.extras,
            attributions=np.full((count, *shape), np.nan, np.float32), targets=np.full(count, -1, np.int64),
            predicted=np.full(count, -1, np.int64), scores=nan(), baseline_scores=nan(), sums=nan(), deltas=nan(),
            errors=list(batch.errors), target_names=[""] * count, predicted_names=[""] * count,
        )

    @property
    def statuses(self) -> list[str]:
        return ["ok" if error is None else "error" for error in self.errors]

    @property
    def relative_deltas(self) -> np.ndarray:
        """|delta| relative to |F(x) - F(x')|; 0/0 counts as exact, x/0 as infinite."""
        gap = np.abs(self.scores - self.baseline_scores)
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.abs(self.deltas) / gap
        relative[(gap == 0) & (self.deltas == 0)] = 0.0
        return relative


def prepare_out_dir(out: Path, overwrite: bool, resume: bool = False) -> None:
    if out.exists() and not out.is_dir():
        raise UsageProblem(f"{out}: exists and is not a directory")
    if overwrite and resume:
        raise UsageProblem("--overwrite and --resume exclude each other: replace the results, or continue them")
    if out.exists() and any(out.iterdir()):
        if resume and not (out / ".igcli" / "state.json").is_file():
            raise UsageProblem(f"{out}: not an igcli output directory (no .igcli/state.json); cannot --resume")
        if not overwrite and not resume:
            raise UsageProblem(f"{out}: output directory is not empty; use --resume to continue or --overwrite to replace its results")
        for name in OWN_NAMES if overwrite else ():
            target = out / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".igcli-probe-"):
            pass
    except OSError as error:
        raise UsageProblem(f"{out}: cannot write the output directory ({error.strerror or error})") from None


def atomic_write_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_run_json(path: Path, manifest: dict) -> None:
    atomic_write_text(path, json.dumps(manifest, indent=2, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class SummaryWriter:
    """summary.csv, one row per instance, streamed and renamed into place at the end."""

    def __init__(self, out: Path):
        self.path = out / "summary.csv"
        self.temporary = out / ".summary.csv.partial"
        self.handle = open(self.temporary, "w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.handle)
        self.writer.writerow(SUMMARY_COLUMNS)

    def append(self, results: Results) -> None:
        sizes = [extra.get("original_size", "") for extra in results.extras]
        rows = zip(results.ids, results.sources, sizes, results.predicted, results.predicted_names, results.targets, results.target_names, results.scores, results.baseline_scores, results.sums, results.deltas, results.relative_deltas, results.statuses, results.errors)
        for row in rows:
            *head, status, error = row
            self.writer.writerow([_cell(value) for value in head] + [status, error or ""])
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()
        os.replace(self.temporary, self.path)


def _cell(value):
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else repr(float(value))
    if isinstance(value, np.integer):
        return "" if value < 0 else int(value)
    return value


class H5Writer:
    """attributions.h5: datasets grown a group at a time, parameters as attributes."""

    def __init__(self, out: Path, instance_shape: tuple, attributes: dict, layout: list | None = None):
        import h5py

        self.path = out / "attributions.h5"
        self.temporary = out / ".attributions.h5.partial"
        self.file = h5py.File(self.temporary, "w")
        text = h5py.string_dtype()
        self.layout = layout
        self.datasets = {
            name: self._grow(name, text if name in TEXT_ARRAYS else _numeric_dtype(name), shape)
            for name, shape in _array_shapes(instance_shape, layout).items()
        }
        for key, value in attributes.items():
            self.file.attrs[key] = "" if value is None else value

    def _grow(self, name, dtype, shape=()):
        chunks = (1, *shape) if shape else (1024,)
        return self.file.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype, chunks=chunks)

    def append(self, results: Results) -> None:
        values = _columns(results, self.layout)
        for name, dataset in self.datasets.items():
            data = values[name]
            start = dataset.shape[0]
            dataset.resize(start + len(data), axis=0)
            dataset[start:] = data
        self.file.flush()

    def close(self) -> None:
        self.file.close()
        os.replace(self.temporary, self.path)


def _numeric_dtype(name: str) -> np.dtype:
    if name.startswith("attributions"):
        return np.dtype(np.float32)
    return np.dtype(np.int64 if name == "targets" else np.float64)


def _array_shapes(instance_shape: tuple, layout: list | None) -> dict:
    """Each array's shape per instance; several model inputs get attributions/<input name>."""
    shapes = {name: () for name in ARRAY_NAMES}
    if layout:
        del shapes["attributions"]
        shapes = {**{f"attributions/{name}": tuple(shape) for name, shape in layout}, **shapes}
    else:
        shapes["attributions"] = tuple(instance_shape)
    return shapes


def _columns(results: Results, layout: list | None = None) -> dict:
    columns = {
        "attributions": results.attributions, "ids": results.ids, "sources": results.sources, "targets": results.targets,
        "target_names": results.target_names, "scores": results.scores, "baseline_scores": results.baseline_scores,
        "deltas": results.deltas, "relative_deltas": results.relative_deltas, "status": results.statuses,
    }
    if layout:  # the flat rows of several inputs, cut back into one array per input
        flat = columns.pop("attributions")
        sizes = np.cumsum([int(np.prod(shape)) for _, shape in layout])[:-1]
        parts = np.split(flat, sizes, axis=1)
        columns = {**{f"attributions/{name}": part.reshape(len(flat), *shape) for (name, shape), part in zip(layout, parts)}, **columns}
    return columns


class NumpyWriter:
    """--format npy (a folder OUT/arrays/ of .npy files) or npz (OUT/attributions.npz).

    Rows are streamed to raw temporary files and framed as .npy at the end, so memory stays flat."""

    def __init__(self, out: Path, instance_shape: tuple, fmt: str, layout: list | None = None):
        self.out, self.fmt, self.layout = out, fmt, layout
        self.shapes = _array_shapes(instance_shape, layout)
        self.work = Path(tempfile.mkdtemp(dir=out, prefix=".arrays-"))
        self.raw = {}
        self.rows = 0
        self.dtypes = {}
        self.text = {name: [] for name in TEXT_ARRAYS}

    def append(self, results: Results) -> None:
        for name, data in _columns(results, self.layout).items():
            if name in self.text:
                self.text[name].extend(data)
                continue
            data = np.ascontiguousarray(data)
            self.dtypes[name] = data.dtype
            if name not in self.raw:
                self.raw[name] = open(self.work / f"{_file_name(name)}.raw", "wb")
            self.raw[name].write(data.tobytes())
        self.rows += len(results.ids)

    def _frame(self, name: str, target: Path) -> None:
        shape = (self.rows, *self.shapes[name])
        with open(target, "wb") as handle:
            if name in self.text:
                np.save(handle, np.asarray(self.text[name], dtype=str).reshape(shape))
                return
            self.raw[name].close()
            header = {"descr": np.lib.format.dtype_to_descr(self.dtypes[name]), "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_1_0(handle, header)
            with open(self.work / f"{_file_name(name)}.raw", "rb") as raw:
                shutil.copyfileobj(raw, handle)

    def close(self) -> None:
        names = list(self.shapes)
        if self.rows == 0:
            self.dtypes = {n: _numeric_dtype(n) for n in names if n not in self.text}
            self.raw = {n: open(self.work / f"{_file_name(n)}.raw", "wb") for n in self.dtypes}
        framed = self.work / "framed"
        framed.mkdir()
        for name in names:
            self._frame(name, framed / f"{_file_name(name)}.npy")
        if self.fmt == "npy":
            final = self.out / "arrays"
            os.replace(framed, final)
        else:
            temporary = self.out / ".attributions.npz.partial"
            with zipfile.ZipFile(temporary, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                for name in names:
                    archive.write(framed / f"{_file_name(name)}.npy", f"{_file_name(name)}.npy")
            os.replace(temporary, self.out / "attributions.npz")
        shutil.rmtree(self.work)


def _file_name(array_name: str) -> str:
    """attributions/<input> -> attributions.<input> for .npy files and .npz members."""
    return array_name.replace("/", ".")


def open_array_writer(out: Path, fmt: str, instance_shape: tuple, attributes: dict, layout: list | None = None):
    if fmt == "h5":
        return H5Writer(out, instance_shape, attributes, layout)
    return NumpyWriter(out, instance_shape, fmt, layout)


class TableAttributionsWriter:
    """attributions.csv for table inputs: id, then one column per feature."""

    def __init__(self, out: Path, features: list[str]):
        self.path = out / "attributions.csv"
        self.temporary = out / ".attributions.csv.partial"
        self.handle = open(self.temporary, "w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.handle)
        self.writer.writerow(["id", *features])

    def append(self, results: Results) -> None:
        for ident, row in zip(results.ids, results.attributions):
            self.writer.writerow([ident, *(_cell(float(v)) for v in row)])
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()
        os.replace(self.temporary, self.path)


OVERVIEW_TILES = 24  # images on the contact sheet: the first ones explained


class HeatmapWriter:
    """OUT/heatmaps/<id>.png per explained image, and OUT/overview.png of the first few."""

    def __init__(self, out: Path, config, preprocess):
        from igcli import render

        self.render = render
        self.directory = out / "heatmaps"
        self.overview = out / "overview.png"
        self.config = config
        self.preprocess = preprocess
        self.tiles = []

    def append(self, results: Results) -> None:
        for row, (ident, error) in enumerate(zip(results.ids, results.errors)):
            if error is not None:
                continue
            path = self.directory / f"{ident}.png"
            if not path.resolve().is_relative_to(self.directory.resolve()):
                raise RuntimeError(f"refusing to write outside the output directory: {path}")
            kept = results.extras[row].get("reused") and path.exists()  # --resume: already drawn
            want_tile = len(self.tiles) < OVERVIEW_TILES
            if kept and not want_tile:
                continue
            pixels = self.preprocess.to_pixels(results.inputs[row])
            drawn = None
            if not kept:
                drawn = self._draw(pixels, results.attributions[row], self.config.panel)
                self.render.save_png(drawn, path)
            if want_tile:
                tile = drawn if drawn is not None and not self.config.panel else self._draw(pixels, results.attributions[row], panel=False)
                tile.thumbnail((160, 160))
                name = results.target_names[row] or f"class {results.targets[row]}"
                self.tiles.append((tile, f"{ident}\n{name} {results.scores[row]:.3g}"))

    def _draw(self, pixels, attributions, panel: bool):
        config = self.config
        return self.render.render_heatmap(
            pixels, attributions, value_range=(0.0, 255.0), sign=config.sign, cmap=config.cmap,
            clip_percentile=config.clip_percentile, alpha=config.alpha, panel=panel,
        )

    def close(self) -> None:
        if self.tiles:
            self.render.save_png(self.render.contact_sheet(self.tiles), self.overview)


def check_heatmap_options(config) -> None:
    """A bad --sign/--cmap/--clip-percentile/--alpha is a usage error before any work, not a
    failure on the first image."""
    from igcli import render

    try:
        render.attribution_map(np.zeros((2, 2)), config.sign, config.clip_percentile)
        render.colorize(np.zeros((2, 2)), config.sign, config.cmap or render.default_cmap(config.sign))
        render.overlay(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2)), config.alpha)
    except ValueError as error:
        raise UsageProblem(str(error)) from None


def open_sinks(out: Path, config, inputs, parameters: dict, preprocess, attribution_shape: tuple, layout: list | None = None) -> list:
    """Everything each group of results is written to, in order. Heatmaps and the feature table
    are for attributions in input space; token tables for token models with --vocab."""
    from igcli.inputs import CsvInputs, ImageInputs

    sinks = [open_array_writer(out, config.format, attribution_shape, parameters, layout), SummaryWriter(out)]
    if isinstance(inputs, CsvInputs) and config.layer is None:
        sinks.append(TableAttributionsWriter(out, inputs.features))
    if isinstance(inputs, ImageInputs) and config.heatmap and config.layer is None:
        sinks.append(HeatmapWriter(out, config, preprocess))
    if config.vocab:
        from igcli.tokens import TokenWriter

        sinks.append(TokenWriter(out, config.vocab))
    return sinks
