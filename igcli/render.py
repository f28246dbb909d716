"""Heatmaps: attributions reduced to one value per pixel, coloured, blended over the input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

SIGNS = ("positive", "negative", "absolute", "all")
# Absolute by default: evidence of either sign shows where the model looked, and a sequential
# colormap of |A| reads without a legend. 'all' keeps the sign on a diverging map.
DEFAULT_SIGN = "absolute"
PANEL_GAP = 8


def default_cmap(sign: str) -> str:
    return "coolwarm" if sign == "all" else "inferno"


def attribution_map(attributions: np.ndarray, sign: str, clip_percentile: float) -> np.ndarray:
    """[H, W(, C)] -> float32 [H, W] in [0, 1] ([-1, 1] for 'all'), clipped at a percentile of |A|."""
    if sign not in SIGNS:
        raise ValueError(f"--sign {sign!r}: choose one of {', '.join(SIGNS)}")
    if not 0 < clip_percentile <= 100:
        raise ValueError(f"--clip-percentile {clip_percentile}: must be in (0, 100]")
    values = np.asarray(attributions, np.float64)
    if values.ndim == 3:
        values = values.sum(axis=-1)  # signed sum: opposite evidence within a pixel cancels
    values = {"positive": np.maximum(values, 0), "negative": np.maximum(-values, 0), "absolute": np.abs(values), "all": values}[sign]
    scale = np.percentile(np.abs(values), clip_percentile)
    if not scale > 0:
        return np.zeros(values.shape, np.float32)
    low = -1.0 if sign == "all" else 0.0
    return np.clip(values / scale, low, 1.0).astype(np.float32)


def colorize(norm_map: np.ndarray, sign: str, cmap: str) -> np.ndarray:
    import matplotlib

    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError:
        raise ValueError(f"--cmap {cmap!r}: not a matplotlib colormap") from None
    values = (norm_map + 1) / 2 if sign == "all" else norm_map
    return (colormap(np.asarray(values, np.float64))[..., :3] * 255).round().astype(np.uint8)


def image_for_display(x: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    low, high = value_range
    image = np.asarray(x, np.float64)
    if image.ndim == 2:
        image = image[..., None]
    image = np.clip((image - low) / (high - low), 0, 1) * 255
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return image.round().astype(np.uint8)


def overlay(image_rgb: np.ndarray, heat_rgb: np.ndarray, norm_map: np.ndarray, alpha: float) -> np.ndarray:
    """Colour where attribution is strong, the image where it is weak: opacity alpha * sqrt|map|
    (the square root keeps mid-strength evidence visible next to the few strongest pixels)."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"--alpha {alpha}: must be between 0 and 1")
    opacity = alpha * np.sqrt(np.abs(np.asarray(norm_map, np.float64)))[..., None]
    blended = image_rgb * (1 - opacity) + heat_rgb * opacity
    return blended.round().astype(np.uint8)


def upscale_factor(height: int, width: int, min_side: int = 256) -> int:
    return max(1, -(-min_side // min(height, width)))


def render_heatmap(x, attributions, *, value_range=(0.0, 1.0), sign=DEFAULT_SIGN, cmap=None, clip_percentile=99.5, alpha=0.6, panel=False):
    from PIL import Image

    norm = attribution_map(attributions, sign, clip_percentile)
    heat = colorize(norm, sign, cmap or default_cmap(sign))
    image = image_for_display(x, value_range)
    blended = overlay(image, heat, norm, alpha)
    height, width = norm.shape
    factor = upscale_factor(height, width)
    size = (width * factor, height * factor)

    def big(array):  # nearest neighbour keeps the model's pixels visible as pixels
        return Image.fromarray(array).resize(size, Image.NEAREST)

    if not panel:
        return big(blended)
    sheet = Image.new("RGB", (3 * size[0] + 2 * PANEL_GAP, size[1]), "white")
    for column, tile in enumerate((image, heat, blended)):
        sheet.paste(big(tile), (column * (size[0] + PANEL_GAP), 0))
    return sheet


def contact_sheet(tiles: list, columns: int = 6, tile_size: int = 160):
    """tiles: (image, caption) pairs -> one image, captions under each tile."""
    from PIL import Image, ImageDraw, ImageFont

    if not tiles:
        raise ValueError("no tiles for the contact sheet")
    try:
        font = ImageFont.load_default(size=12)
    except TypeError:  # Pillow < 10.1 has one fixed-size default font
        font = ImageFont.load_default()
    caption_height, pad = 32, 6
    columns = min(columns, len(tiles))
    rows = -(-len(tiles) // columns)
    cell_w, cell_h = tile_size + 2 * pad, tile_size + caption_height + 2 * pad
    sheet = Image.new("RGB", (columns * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    for number, (image, caption) in enumerate(tiles):
        thumb = image.copy()
        thumb.thumbnail((tile_size, tile_size), Image.NEAREST)
        left, top = (number % columns) * cell_w + pad, (number // columns) * cell_h + pad
        sheet.paste(thumb, (left + (tile_size - thumb.width) // 2, top + (tile_size - thumb.height) // 2))
        draw.multiline_text((left, top + tile_size + 2), caption, fill="black", font=font, spacing=2)
    return sheet


def save_png(image, path) -> None:
    """Atomic: written under a temporary name, then renamed; no timestamps, so same input, same bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    image.save(temporary, format="PNG")
    os.replace(temporary, path)
