"""XRAI's greedy region merge (Kapishnikov et al., ICCV 2019) over ready-made attributions, equal
to PAIR saliency 0.2.1's `XRAI._xrai` ("full") and `XRAI._xrai_fast` ("fast"). Pure numpy.

Both return saliency's map: every pixel holds the gain (mean attribution over the pixels it added)
of the region that first covered it; pixels no region covered hold the mean attribution over them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from igcli.regions.segments import SegmentationParams, Segments, felzenszwalb_segments

Algorithm = Literal["full", "fast"]
ALGORITHMS: tuple[str, ...] = ("full", "fast")
DEFAULT_MIN_PIXEL_DIFF = 50  # saliency's experimental_params['min_pixel_diff']


@dataclass(frozen=True)
class XraiParams:
    """XRAI's settings; the defaults are saliency's XRAIParameters (the fast merge ignores
    `area_threshold`, as saliency's does)."""

    algorithm: Algorithm = "full"
    area_threshold: float = 1.0
    min_pixel_diff: int = DEFAULT_MIN_PIXEL_DIFF
    segmentation: SegmentationParams = field(default_factory=SegmentationParams)

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unknown XRAI algorithm {self.algorithm!r}: full or fast")


DEFAULT_PARAMS = XraiParams()


@dataclass(frozen=True)
class XraiResult:
    """`map`: float64 [H, W], saliency's XRAI output. `ranks`: int32 [H, W], 1 for the pixels of the
    region with the highest gain, ... (saliency's flattened `segments`; 0 nowhere: every pixel
    belongs to a region or to the uncovered rest, which comes last). `gains`: float64, the gain
    of rank 1, 2, ... (`map` equals `gains[ranks - 1]`)."""

    map: np.ndarray
    ranks: np.ndarray
    gains: np.ndarray


def reduce_channels(attribution: np.ndarray) -> np.ndarray:
    """[H, W, C] -> [H, W] by the maximum over channels, as saliency's XRAI does (not the sum);
    [H, W] is kept as is."""
    attribution = np.asarray(attribution)
    return attribution.max(axis=-1) if attribution.ndim > 2 else attribution


def combine_baselines(per_baseline: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Saliency's XRAI without a base attribution runs IG once per baseline (by default the
    constant images min(x) and max(x): black and white for an image that spans its range) and
    feeds XRAI their plain mean, per channel, before the channel maximum."""
    return np.mean(np.asarray(per_baseline), axis=0)


def _ranked(regions: list[tuple[np.ndarray, float]], rest: np.ndarray, attr: np.ndarray, out: np.ndarray) -> XraiResult:
    """Fill the uncovered rest with its mean attribution (so the map keeps IG's sum) and rank the
    regions by gain, ties in the order they were added, the rest last (saliency's order)."""
    if rest.size:
        fill = attr[rest].mean()
        out[rest] = fill
        regions = sorted(regions, key=lambda r: -r[1]) + [(rest, fill)]
    else:
        regions = sorted(regions, key=lambda r: -r[1])
    ranks = np.zeros(out.size, dtype=np.int32)
    for rank, (pixels, _) in enumerate(regions, start=1):
        ranks[pixels] = rank
    gains = np.array([g for _, g in regions], dtype=np.float64)
    return XraiResult(out, ranks, gains)


def _pixel_to_segments(segs: Segments, n_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """The transpose of `segs`: segment ids of pixel p at `ids[ptr[p]:ptr[p + 1]]`."""
    owner = np.repeat(np.arange(len(segs)), segs.sizes())
    order = np.argsort(segs.pixels, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(segs.pixels, minlength=n_pixels))])
    return ptr, owner[order]


def _segments_of(pixels: np.ndarray, ptr: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(segment id, pixel) for every segment holding one of `pixels`."""
    starts, lens = ptr[pixels], ptr[pixels + 1] - ptr[pixels]
    total = int(lens.sum())
    at = np.arange(total) + np.repeat(starts - np.cumsum(lens) + lens, lens)
    return ids[at], np.repeat(pixels, lens)


def _exact_best(candidates: np.ndarray, segs: Segments, covered: np.ndarray, attr: np.ndarray) -> tuple[int, float, np.ndarray]:
    """Among near-best candidates (ascending ids), the gain computed as saliency does (a mean over
    the new pixels in row-major order, in the attribution's dtype), first id on ties."""
    best, best_gain, best_new = -1, -np.inf, candidates[:0]
    for i in candidates:
        pixels = segs.of(int(i))
        new = pixels[~covered[pixels]]
        gain = attr[new].mean()
        if gain > best_gain:
            best, best_gain, best_new = int(i), gain, new
    return best, float(best_gain), best_new


def _full(attr: np.ndarray, segs: Segments, area_threshold: float, min_pixel_diff: int) -> XraiResult:
    """Add, step by step, the segment whose new pixels have the highest mean attribution, until the
    covered share of the image exceeds `area_threshold` or no segment adds `min_pixel_diff` pixels.

    Each segment's count and sum over uncovered pixels is kept up to date as pixels get covered
    (each pixel once), so a step costs O(segments); the few segments within rounding of the best
    are then scored exactly as saliency scores them, so the choice, ties included, is saliency's."""
    n_pixels = attr.size
    ptr, ids = _pixel_to_segments(segs, n_pixels)
    wide = attr.astype(np.float64)
    count = segs.sizes().astype(np.int64)
    total = np.bincount(np.repeat(np.arange(len(segs)), count), weights=wide[segs.pixels], minlength=len(segs))
    alive = count >= min_pixel_diff
    covered = np.zeros(n_pixels, dtype=bool)
    out = np.full(n_pixels, -np.inf)
    scale = float(np.max(np.abs(wide))) if n_pixels else 0.0
    slack = 1e-5 * scale  # far above float32 and incremental rounding, far below real gaps
    regions: list[tuple[np.ndarray, float]] = []
    n_covered = 0
    while n_covered / n_pixels <= area_threshold:
        alive &= count >= min_pixel_diff  # a segment only loses pixels: once short, dropped for good
        if not alive.any():
            break
        approx = np.where(alive, total / np.maximum(count, 1), -np.inf)
        candidates = np.flatnonzero(approx >= approx.max() - slack)
        if slack == 0:  # an all-zero attribution: every gain is exactly 0, the first segment wins
            candidates = candidates[:1]
        best, gain, new = _exact_best(candidates, segs, covered, attr)
        covered[new] = True
        n_covered += new.size
        out[new] = gain
        regions.append((new, gain))
        alive[best] = False
        seg_ids, pixels = _segments_of(new, ptr, ids)
        count -= np.bincount(seg_ids, minlength=len(segs))
        total -= np.bincount(seg_ids, weights=wide[pixels], minlength=len(segs))
    return _ranked(regions, np.flatnonzero(~covered), attr, out)


def _fast(attr: np.ndarray, segs: Segments, min_pixel_diff: int) -> XraiResult:
    """Rank the segments once by their own mean attribution (empty ones last), then add them in
    that order, each for the pixels it adds, skipping those that add fewer than `min_pixel_diff`."""
    own = np.array([attr[segs.of(i)].mean() if segs.indptr[i + 1] > segs.indptr[i] else -np.inf for i in range(len(segs))], dtype=np.float64)
    covered = np.zeros(attr.size, dtype=bool)
    out = np.full(attr.size, -np.inf)
    regions: list[tuple[np.ndarray, float]] = []
    for i in np.argsort(-own, kind="stable"):
        pixels = segs.of(int(i))
        new = pixels[~covered[pixels]]
        if new.size < min_pixel_diff:
            continue
        gain = float(attr[new].mean())
        out[new] = gain
        covered[new] = True
        regions.append((new, gain))
    return _ranked(regions, np.flatnonzero(~covered), attr, out)


def xrai_regions(attribution: np.ndarray, segments: Segments, params: XraiParams = XraiParams()) -> XraiResult:
    """XRAI over given segments: `attribution` is [H, W] or [H, W, C] (reduced by the channel
    maximum), in any float dtype (kept for the gains, as saliency keeps it)."""
    attr = reduce_channels(attribution)
    if attr.shape != segments.shape:
        raise ValueError(f"attribution of shape {attr.shape} for segments of an image of shape {segments.shape}")
    flat = np.ascontiguousarray(attr).ravel()
    if params.algorithm == "full":
        result = _full(flat, segments, params.area_threshold, params.min_pixel_diff)
    else:
        result = _fast(flat, segments, params.min_pixel_diff)
    return XraiResult(result.map.reshape(attr.shape), result.ranks.reshape(attr.shape), result.gains)


def xrai(image: np.ndarray, attribution: np.ndarray, params: XraiParams = XraiParams()) -> XraiResult:
    """XRAI of one image ([H, W, C] or [H, W]) from its attribution (same [H, W] and channels, or
    [H, W]): saliency's `XRAI().GetMaskWithDetails(image, ..., base_attribution=attribution)`."""
    image = np.asarray(image)
    attribution = np.asarray(attribution)
    if attribution.shape[:2] != image.shape[:2]:
        raise ValueError(f"attribution of shape {attribution.shape} for an image of shape {image.shape}")
    return xrai_regions(attribution, felzenszwalb_segments(image, params.segmentation), params)


def xrai_from_baselines(image: np.ndarray, per_baseline: Sequence[np.ndarray] | np.ndarray, params: XraiParams = XraiParams()) -> XraiResult:
    """XRAI from one IG attribution per baseline, combined as saliency combines them when it
    computes IG itself (the mean over baselines, then the channel maximum)."""
    return xrai(image, combine_baselines(per_baseline), params)
