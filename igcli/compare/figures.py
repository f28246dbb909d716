"""The per-instance figures of `igcli compare`, for a batch of matched maps at once: rank
correlations, top-feature overlaps, cosine similarity, the relative L1 change, and for images the
overlap of the heatmaps' top regions. Pure numpy and scipy: no TensorFlow.

A feature is an element of the stored attributions (a table's column, a token, a feature-map
position), except in images, where it is a pixel: its channels' attributions summed (signed) or
their absolute values summed (magnitude), as the heatmaps show them."""

from __future__ import annotations

import math

import numpy as np

TOP_SHARES = (0.01, 0.05, 0.10)  # top 1%, 5% and 10% of the features by |A|
REGION_SHARE = 0.10  # images: the heatmap's top 10% of its area, after smoothing
FIGURES = ("spearman_abs", "spearman", "cosine", "iou_1", "iou_5", "iou_10", "relative_change")


def features(attributions: np.ndarray, image: bool) -> tuple[np.ndarray, np.ndarray]:
    """[B, ...] attributions -> (signed [B, n], magnitude [B, n]) in float64."""
    a = np.asarray(attributions, np.float64)
    if image:  # [B, H, W, C]: a pixel is a feature
        return a.sum(axis=-1).reshape(len(a), -1), np.abs(a).sum(axis=-1).reshape(len(a), -1)
    flat = a.reshape(len(a), -1)
    return flat, np.abs(flat)


def spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rank correlation of each row pair (tied values share their mean rank): [B].
    NaN where a row is constant (its ranks carry no order)."""
    from scipy.stats import rankdata

    return pearson(rankdata(x, axis=1), rankdata(y, axis=1))


def pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    dx = x - x.mean(axis=1, keepdims=True)
    dy = y - y.mean(axis=1, keepdims=True)
    scale = np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, (dx * dy).sum(axis=1) / scale, np.nan)


def cosine(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    scale = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, (x * y).sum(axis=1) / scale, np.nan)


def top_iou(x: np.ndarray, y: np.ndarray, share: float) -> np.ndarray:
    """Intersection over union of the k = ceil(share * n) largest features of each row pair."""
    k = max(1, math.ceil(share * x.shape[1]))
    top_x = _top_mask(x, k)
    top_y = _top_mask(y, k)
    both = (top_x & top_y).sum(axis=1)
    return both / (2 * k - both)


def _top_mask(values: np.ndarray, k: int) -> np.ndarray:
    """The k largest of each row, ties broken by position (the first wins), as a boolean mask."""
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    mask = np.zeros(values.shape, bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask


def region_iou(x: np.ndarray, y: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Images: the overlap of the heatmaps' top regions: each magnitude map [B, H*W] smoothed by
    a box of about 1/16 of the shorter side (a region, not single pixels), then the top
    REGION_SHARE of its area compared as top_iou does."""
    from scipy.ndimage import uniform_filter

    size = max(1, round(min(shape) / 16))
    smooth = [uniform_filter(m.reshape(len(m), *shape), size=(1, size, size), mode="nearest").reshape(len(m), -1) for m in (x, y)]
    return top_iou(smooth[0], smooth[1], REGION_SHARE)


def relative_change(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """||A - B||_1 / max(||A||_1, ||B||_1) of the signed features: the change on the scale of the
    error estimates, which are relative L1 errors."""
    scale = np.maximum(np.abs(x).sum(axis=1), np.abs(y).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, np.abs(x - y).sum(axis=1) / scale, 0.0)


def batch_figures(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], image_shape: tuple | None) -> dict[str, np.ndarray]:
    """Every figure of matched maps, given as features() of each ((signed, magnitude) [B, n]) ->
    name -> [B]. image_shape: (H, W) of image maps (for region_iou), None for other inputs."""
    (signed_a, magnitude_a), (signed_b, magnitude_b) = a, b
    out = {
        "spearman_abs": spearman(magnitude_a, magnitude_b),
        "spearman": spearman(signed_a, signed_b),
        "cosine": cosine(signed_a, signed_b),
        **{f"iou_{round(share * 100)}": top_iou(magnitude_a, magnitude_b, share) for share in TOP_SHARES},
        "relative_change": relative_change(signed_a, signed_b),
    }
    if image_shape is not None:
        out["region_iou"] = region_iou(magnitude_a, magnitude_b, image_shape)
    return out
