"""Heatmaps: attributions reduced to one value per pixel, coloured, blended over the input."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIGNS = ("positive", "negative", "absolute", "all")
# Absolute by default: evidence of either sign shows where the model looked, and a sequential
# colormap of |A| reads without a legend. 'all' keeps the sign on a diverging map.
DEFAULT_SIGN = "absolute"
PANEL_GAP = 8  # white pixels between the tiles of a panel
CAPTION_HEIGHT = 32  # room for two lines of the 12 px default font
TILE_PAD = 6
LABEL_HEIGHT = 22  # the strip above each column of a labelled panel (side_by_side)
LABEL_FONT = 15


def _check_sign(sign: str) -> None:
    if sign not in SIGNS:
        raise ValueError(f"--sign {sign!r}: choose one of {', '.join(SIGNS)}")


def default_cmap(sign: str) -> str:
    _check_sign(sign)
    return "coolwarm" if sign == "all" else "inferno"


def attribution_map(attributions: np.ndarray, sign: str, clip_percentile: float, low_percentile: float = 0.0) -> np.ndarray:
    """[H, W(, C)] -> float32 [H, W] in [0, 1] ([-1, 1] for 'all'), clipped at a percentile of |A|;
    pixels whose |A| is under the low_percentile-th percentile shown as zero (--clip-low-percentile)."""
    _check_sign(sign)
    if not 0 < clip_percentile <= 100:
        raise ValueError(f"--clip-percentile {clip_percentile}: must be in (0, 100]")
    values = np.asarray(attributions, np.float64)
    if values.ndim not in (2, 3):
        raise ValueError(f"attributions of shape {values.shape}: expected [H, W] or [H, W, C]")
    if values.ndim == 3:
        values = values.sum(axis=-1)  # signed sum: opposite evidence within a pixel cancels
    # One NaN/inf pixel would otherwise make the scale NaN and blank the whole map.
    values = np.where(np.isfinite(values), values, 0.0)
    if sign == "positive":
        values = np.maximum(values, 0.0)
    elif sign == "negative":
        values = np.maximum(-values, 0.0)
    elif sign == "absolute":
        values = np.abs(values)
    if low_percentile > 0:
        values = np.where(np.abs(values) < np.percentile(np.abs(values), low_percentile), 0.0, values)
    scale = np.percentile(np.abs(values), clip_percentile)
    if not scale > 0:
        return np.zeros(values.shape, np.float32)
    low = -1.0 if sign == "all" else 0.0
    return np.clip(values / scale, low, 1.0).astype(np.float32)


def colorize(norm_map: np.ndarray, sign: str, cmap: str) -> np.ndarray:
    import matplotlib

    _check_sign(sign)
    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError:
        raise ValueError(f"--cmap {cmap!r}: not a matplotlib colormap") from None
    values = np.asarray(norm_map, np.float64)
    values = (np.clip(values, -1, 1) + 1) / 2 if sign == "all" else np.clip(values, 0, 1)
    return (colormap(values)[..., :3] * 255).round().astype(np.uint8)


def image_for_display(x: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    low, high = (float(v) for v in value_range)
    if not high > low:
        raise ValueError(f"value range {value_range}: the upper end must exceed the lower")
    image = np.asarray(x, np.float64)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(f"image of shape {np.shape(x)}: expected [H, W], [H, W, 1] or [H, W, 3]")
    image = np.clip((image - low) / (high - low), 0, 1) * 255
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return image.round().astype(np.uint8)


def overlay(image_rgb: np.ndarray, heat_rgb: np.ndarray, norm_map: np.ndarray, alpha: float) -> np.ndarray:
    """Colour where attribution is strong, the image where it is weak: opacity alpha * sqrt|map|
    (the square root keeps mid-strength evidence visible next to the few strongest pixels)."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"--alpha {alpha}: must be between 0 and 1")
    opacity = alpha * np.sqrt(np.clip(np.abs(np.asarray(norm_map, np.float64)), 0, 1))[..., None]
    blended = np.asarray(image_rgb, np.float64) * (1 - opacity) + np.asarray(heat_rgb, np.float64) * opacity
    return blended.round().astype(np.uint8)


def upscale_factor(height: int, width: int, min_side: int = 256) -> int:
    if height < 1 or width < 1:
        raise ValueError(f"image size {height}x{width}: both sides must be positive")
    return max(1, -(-min_side // min(height, width)))


def render_heatmap(x, attributions, *, value_range=(0.0, 1.0), sign=DEFAULT_SIGN, cmap=None, clip_percentile=99.5, alpha=0.6, panel=False, low_percentile=0.0):
    """Overlay of the attributions on x, upscaled; panel=True: input | heatmap | overlay."""
    from PIL import Image

    norm = attribution_map(attributions, sign, clip_percentile, low_percentile)
    heat = colorize(norm, sign, cmap or default_cmap(sign))
    image = image_for_display(x, value_range)
    if image.shape[:2] != norm.shape:
        raise ValueError(f"input {image.shape[:2]} and attributions {norm.shape} differ in height/width")
    blended = overlay(image, heat, norm, alpha)
    height, width = norm.shape
    factor = upscale_factor(height, width)
    size = (width * factor, height * factor)

    def big(array):  # nearest neighbour keeps the model's pixels visible as pixels
        return Image.fromarray(array).resize(size, Image.Resampling.NEAREST)

    if not panel:
        return big(blended)
    sheet = Image.new("RGB", (3 * size[0] + 2 * PANEL_GAP, size[1]), "white")
    for column, tile in enumerate((image, heat, blended)):
        sheet.paste(big(tile), (column * (size[0] + PANEL_GAP), 0))
    return sheet


XRAI_TOP_AREA = 0.3  # the share of the image an XRAI picture shows at full brightness


def xrai_image(x, regions: np.ndarray, *, value_range=(0.0, 1.0), top_area: float = XRAI_TOP_AREA):
    """An XRAI map read as its authors read it: the best-ranked regions that cover top_area of the
    image at full brightness (a region on the boundary whole), the rest dimmed to a quarter."""
    from PIL import Image

    image = image_for_display(x, value_range)
    values = np.where(np.isfinite(regions), regions, -np.inf)
    cut = np.quantile(values, 1.0 - top_area)  # the value of the region that reaches the share
    keep = values >= cut
    shown = np.where(keep[..., None], image, image // 4).astype(np.uint8)
    height, width = keep.shape
    factor = upscale_factor(height, width)
    return Image.fromarray(shown).resize((width * factor, height * factor), Image.Resampling.NEAREST)


def side_by_side(images: list, labels: list[str] | None = None):
    """Images of one height in a row, PANEL_GAP white pixels apart; labels: a line of text on a
    white strip LABEL_HEIGHT pixels high above each image, cut short to the image's width."""
    from PIL import Image, ImageDraw

    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} images")
    top = LABEL_HEIGHT if labels is not None else 0
    width = sum(image.width for image in images) + PANEL_GAP * (len(images) - 1)
    sheet = Image.new("RGB", (width, top + max(image.height for image in images)), "white")
    draw, font = ImageDraw.Draw(sheet), _caption_font(LABEL_FONT)
    left = 0
    for number, image in enumerate(images):
        sheet.paste(image, (left, top))
        if labels is not None:
            draw.text((left + 2, 3), fit_text(draw, labels[number], font, image.width - 4), fill="black", font=font)
        left += image.width + PANEL_GAP
    return sheet


def fit_text(draw, text: str, font, width: float) -> str:
    """text, or as much of it as fits in width pixels followed by '...'."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def _caption_font(size: int = 12):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed-size bitmap font
        return ImageFont.load_default()


def contact_sheet(tiles: list, columns: int = 6, tile_size: int = 160):
    """(image, caption) pairs -> a white grid, each image fitted to tile_size with its caption below."""
    from PIL import Image, ImageDraw

    if not tiles:
        raise ValueError("no tiles for the contact sheet")
    if columns < 1 or tile_size < 1:
        raise ValueError(f"contact sheet: columns ({columns}) and tile_size ({tile_size}) must be positive")
    font = _caption_font()
    columns = min(columns, len(tiles))
    rows = -(-len(tiles) // columns)
    cell_w, cell_h = tile_size + 2 * TILE_PAD, tile_size + CAPTION_HEIGHT + 2 * TILE_PAD
    sheet = Image.new("RGB", (columns * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    for number, (image, caption) in enumerate(tiles):
        image = image.convert("RGB")
        scale = min(tile_size / image.width, tile_size / image.height)
        fitted = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        # crisp pixels when enlarging; averaging when shrinking avoids moire on fine heatmaps
        thumb = image.resize(fitted, Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.BOX)
        left, top = (number % columns) * cell_w + TILE_PAD, (number // columns) * cell_h + TILE_PAD
        sheet.paste(thumb, (left + (tile_size - thumb.width) // 2, top + (tile_size - thumb.height) // 2))
        draw.multiline_text((left, top + tile_size + 2), caption, fill="black", font=font, spacing=2)
    return sheet


def save_png(image, path) -> None:
    """Atomic, and no timestamps: the same input gives the same bytes."""
    from igcli.atomic import atomic_path

    with atomic_path(Path(path)) as temporary:
        # zlib level 1: 2.7 ms against 4.4 ms at the default 6 for a 256x256 map, and no bigger
        image.save(temporary, format="PNG", compress_level=1)
