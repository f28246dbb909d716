"""Heatmaps of image inputs: OUT/heatmaps/<id>.png per explained image and OUT/overview.png, a
contact sheet of the first few. Each PNG is complete when it appears."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from igcli.errors import UsageProblem
from igcli.results import Results
from igcli.sinks.outdir import remove_others

OVERVIEW_TILES = 24  # images on the contact sheet: the first ones explained


class HeatmapWriter:
    """heatmaps/<id>.png (one target), or with several targets heatmaps/<id>/<target>.png per
    target (its class name, else its index) and, with --panel, heatmaps/<id>.png: the input and
    a column per target.

    whole_run: this writer sees every instance of the run, so it draws overview.png and, at close,
    removes the heatmaps of instances no longer in the run (inputs gone since an earlier run, or
    failed now); a cluster run's workers each see a part (whole_run=False). files=False: no
    heatmap files, only overview.png from the rows that carry their attributions (a cluster run's
    driver, whose workers drew the heatmaps)."""

    OWNS = ("heatmaps", "overview.png")

    def __init__(self, out: Path, config, preprocess, several: bool = False, files: bool = True, whole_run: bool = True):
        from igcli import render

        self.render = render
        self.directory = out / "heatmaps"
        self.overview = out / "overview.png"
        self.config = config
        self.preprocess = preprocess
        self.several = several
        self.draws_files, self.whole_run = files, whole_run
        self.tiles: list = []
        self.expected: set[Path] = set()  # every explained instance's heatmaps (whole_run)

    def files(self, results: Results, row: int) -> list[Path]:
        """The heatmap files of one explained instance."""
        ident = results.ids[row]
        if not self.several:
            return [self._inside(self.directory / f"{ident}.png")]
        files = [self._inside(self.directory / ident / f"{label}.png") for label in results.target_labels(row)]
        return files + ([self._inside(self.directory / f"{ident}.png")] if self.config.panel else [])

    def xrai_files(self, results: Results, row: int) -> list[Path]:
        """--xrai: <id>.xrai.png (one target) or <id>/<target>.xrai.png, beside the heatmaps."""
        if results.xrai is None:
            return []
        ident = results.ids[row]
        if not self.several:
            return [self._inside(self.directory / f"{ident}.xrai.png")]
        return [self._inside(self.directory / ident / f"{label}.xrai.png") for label in results.target_labels(row)]

    def drawn(self, results: Results, row: int) -> bool:
        """Whether every heatmap of the instance is on disk already (--resume)."""
        return all(path.exists() for path in self.files(results, row) + self.xrai_files(results, row))

    def _inside(self, path: Path) -> Path:
        if not path.resolve().is_relative_to(self.directory.resolve()):
            raise RuntimeError(f"refusing to write outside the output directory: {path}")
        return path

    def append(self, results: Results) -> None:
        for row, error in enumerate(results.errors):
            if error is not None:
                continue
            if self.whole_run:
                self.expected.update(self.files(results, row) + self.xrai_files(results, row))
            want_tile = self.whole_run and len(self.tiles) < OVERVIEW_TILES
            if self.draws_files:
                files = self.files(results, row)  # one per target (then the panel), or the instance's one
                kept = results.extras[row].get("reused") and self.drawn(results, row)  # --resume: already drawn
            else:
                files, kept = [], True
                want_tile = want_tile and bool(np.isfinite(results.attributions[row]).any())
            if kept and not want_tile:
                continue
            pixels = self.preprocess.to_pixels(results.inputs[row])
            overlay = None if kept else self._save(pixels, results.attributions[row], files, panel_labels(results, row))
            if not kept and self.draws_files:
                self._save_regions(pixels, results, row)
            if want_tile:  # the first target's overlay, reused when it was just drawn
                tile = overlay if overlay is not None else self._draw(pixels, results.attributions[row, 0], panel=False)
                tile.thumbnail((160, 160))
                name = results.target_names[row][0] or f"class {results.targets[row, 0]}"
                self.tiles.append((tile, f"{results.ids[row]}\n{name} {results.scores[row, 0]:.3g}"))

    def _save(self, pixels, attributions, files: list[Path], labels: list[str]):
        """Draw and save an instance's heatmaps; -> the first target's plain overlay, or None when
        only a panel was drawn. labels: the panel's columns with several targets."""
        if not self.several:
            image = self._draw(pixels, attributions[0], self.config.panel)
            self.render.save_png(image, files[0])
            return None if self.config.panel else image
        overlays = [self._draw(pixels, one, panel=False) for one in attributions]
        for image, path in zip(overlays, files):
            self.render.save_png(image, path)
        if self.config.panel:
            self.render.save_png(self.render.side_by_side([self._input(pixels), *overlays], labels), files[-1])
        return overlays[0]

    def _save_regions(self, pixels, results: Results, row: int) -> None:
        """--xrai: each target's region picture (none for an image XRAI could not segment)."""
        for k, path in enumerate(self.xrai_files(results, row)):
            regions = results.xrai[row, k]  # type: ignore[index]  # xrai_files is empty without maps
            if np.isfinite(regions).any():
                self.render.save_png(self.render.xrai_image(pixels, regions, value_range=(0.0, 255.0)), path)

    def _draw(self, pixels, attributions, panel: bool):
        config = self.config
        return self.render.render_heatmap(
            pixels,
            attributions,
            value_range=(0.0, 255.0),
            sign=config.sign,
            cmap=config.cmap,
            clip_percentile=config.clip_percentile,
            alpha=config.alpha,
            panel=panel,
            low_percentile=config.clip_low_percentile,
        )

    def _input(self, pixels):
        return self.render.render_heatmap(pixels, np.zeros(pixels.shape[:2]), value_range=(0.0, 255.0), alpha=0.0)

    def close(self) -> None:
        if self.tiles:
            self.render.save_png(self.render.contact_sheet(self.tiles), self.overview)
        if self.whole_run:
            remove_others(self.directory, self.expected, ".png")

    def abort(self) -> None:
        pass  # every heatmap already written is complete, and --resume keeps it


def panel_labels(results: Results, row: int) -> list[str]:
    """The columns of a panel with several targets: "input", then each target by its class name
    (--class-names), else its index, with its score F(x)."""
    names = (name or f"class {target}" for name, target in zip(results.target_names[row], results.targets[row]))
    return ["input", *(f"{name}, score {score:.3g}" for name, score in zip(names, results.scores[row]))]


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
