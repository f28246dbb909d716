"""Heatmaps of image inputs: OUT/heatmaps/<id>.png per explained image and OUT/overview.png, a
contact sheet of the first few. Each PNG is complete when it appears."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from igcli.errors import UsageProblem
from igcli.results import Results

OVERVIEW_TILES = 24  # images on the contact sheet: the first ones explained


class HeatmapWriter:
    OWNS = ("heatmaps", "overview.png")

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

    def abort(self) -> None:
        pass  # every heatmap already written is complete, and --resume keeps it


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
