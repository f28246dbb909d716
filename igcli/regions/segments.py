"""The segments XRAI merges: Felzenszwalb's graph segmentation at several scales, each segment
dilated, as PAIR saliency 0.2.1 builds them (`_get_segments_felzenszwalb`), so that XRAI maps equal
saliency's. Pure numpy and scikit-image: no TensorFlow.

A segment is kept as the sorted flat indices of its pixels (one CSR-like array for all of them),
which is what the merge needs; each is dilated within its bounding box, not over the whole image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# saliency 0.2.1's settings, which its published XRAI maps (and Vertex's) were tuned with
DEFAULT_SCALES: tuple[float, ...] = (50, 100, 150, 250, 500, 1200)
DEFAULT_SIGMA = 0.8
DEFAULT_MIN_SIZE = 150
DEFAULT_DILATION_RADIUS = 5
SEGMENT_SHAPE = (224, 224)
VALUE_RANGE = (-1.0, 1.0)


@dataclass(frozen=True)
class SegmentationParams:
    """How the image is cut into segments; the defaults are saliency's."""

    scales: tuple[float, ...] = DEFAULT_SCALES
    sigma: float = DEFAULT_SIGMA
    min_size: int = DEFAULT_MIN_SIZE
    dilation_radius: int = DEFAULT_DILATION_RADIUS
    resize: bool = True


@dataclass(frozen=True)
class Segments:
    """Segments of an image of `shape`: segment i holds the flat pixel indices
    `pixels[indptr[i]:indptr[i + 1]]`, ascending (row-major order, as a boolean mask indexes)."""

    shape: tuple[int, int]
    indptr: np.ndarray
    pixels: np.ndarray

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def of(self, i: int) -> np.ndarray:
        return self.pixels[self.indptr[i] : self.indptr[i + 1]]

    def sizes(self) -> np.ndarray:
        return np.diff(self.indptr)

    def masks(self) -> list[np.ndarray]:
        """Boolean [H, W] masks, in order: the form saliency takes and returns."""
        out = []
        for i in range(len(self)):
            mask = np.zeros(self.shape[0] * self.shape[1], dtype=bool)
            mask[self.of(i)] = True
            out.append(mask.reshape(self.shape))
        return out

    @classmethod
    def from_masks(cls, masks: Sequence[np.ndarray]) -> Segments:
        """Ready-made segments (saliency's `segments=` argument): a list of boolean [H, W] masks."""
        if not len(masks):
            raise ValueError("no segments")
        shape = tuple(np.shape(masks[0]))
        if len(shape) != 2 or any(np.shape(m) != shape for m in masks):
            raise ValueError("segments must be boolean masks of one [H, W] shape")
        flat = [np.flatnonzero(np.asarray(m, dtype=bool)) for m in masks]
        indptr = np.concatenate([[0], np.cumsum([len(f) for f in flat])])
        return cls((int(shape[0]), int(shape[1])), indptr.astype(np.int64), np.concatenate(flat).astype(np.int64))


def _rescaled(image: np.ndarray, resize: bool) -> np.ndarray:
    """The image's values spread over VALUE_RANGE, then (optionally) resized to SEGMENT_SHAPE: the
    scales were tuned for that range and size. Same arithmetic, in the image's own dtype, as
    saliency, so that Felzenszwalb sees bit-identical input."""
    from skimage.transform import resize as sk_resize

    lo, hi = np.min(image), np.max(image)
    span = VALUE_RANGE[1] - VALUE_RANGE[0]
    values = (image - lo) / (hi - lo) * span + VALUE_RANGE[0]
    if not resize:
        return values
    return sk_resize(values, SEGMENT_SHAPE, order=3, mode="constant", preserve_range=True, anti_aliasing=True)


def label_images(image: np.ndarray, params: SegmentationParams = SegmentationParams()) -> list[np.ndarray]:
    """One integer label image [H, W] per scale, at the image's own size (before dilation)."""
    from skimage.segmentation import felzenszwalb
    from skimage.transform import resize as sk_resize

    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"an image is [H, W] or [H, W, C], got shape {image.shape}")
    if np.max(image) == np.min(image):
        raise ValueError("a constant image has no segments")
    size = image.shape[:2]
    values = _rescaled(image, params.resize)
    labels = []
    for scale in params.scales:
        seg = felzenszwalb(values, scale=scale, sigma=params.sigma, min_size=params.min_size)
        if params.resize:
            # nearest neighbour back to the image's size; a small segment may vanish (an empty mask)
            seg = sk_resize(seg, size, order=0, mode="constant", preserve_range=True, anti_aliasing=False).astype(int)
        labels.append(seg)
    return labels


def _dilated_pairs(labels: np.ndarray, first: int, count: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """(segment, pixel) pairs of every label's mask dilated by skimage's disk(radius), sorted by
    segment then pixel. Each label is dilated inside its bounding box grown by the radius (the
    image's edge clips it, where a dilation sees only absent pixels anyway), so the cost follows
    the image's area, not segments x area as one full-image dilation per mask does. The disk is
    symmetric, so scipy's binary dilation equals skimage's `dilation` of a boolean mask."""
    from scipy import ndimage
    from skimage.morphology import disk

    height, width = labels.shape
    footprint = disk(radius).astype(bool) if radius > 0 else None
    boxes = ndimage.find_objects(labels - first + 1, max_label=count)
    segment, pixel = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for k, box in enumerate(boxes):
        if box is None:  # a label lost in the resize: an empty segment
            continue
        y0, y1 = max(0, box[0].start - radius), min(height, box[0].stop + radius)
        x0, x1 = max(0, box[1].start - radius), min(width, box[1].stop + radius)
        mask = labels[y0:y1, x0:x1] == first + k
        if footprint is not None:
            mask = ndimage.binary_dilation(mask, structure=footprint)
        ys, xs = np.nonzero(mask)  # row-major within the box, hence ascending in the image
        pixel.append((ys + y0) * width + xs + x0)
        segment.append(np.full(len(ys), k, dtype=np.int64))
    return np.concatenate(segment), np.concatenate(pixel).astype(np.int64)


def segments_from_labels(labels: Sequence[np.ndarray], dilation_radius: int = DEFAULT_DILATION_RADIUS) -> Segments:
    """Segments from label images: per image, labels min..max in order (a label absent from the
    image gives an empty segment, as in saliency), each dilated by a disk of `dilation_radius`."""
    shape = labels[0].shape
    sizes, pixels = [], []
    for lab in labels:
        first, last = int(lab.min()), int(lab.max())
        count = last - first + 1
        segment, pixel = _dilated_pairs(np.asarray(lab), first, count, dilation_radius)
        sizes.append(np.bincount(segment, minlength=count))
        pixels.append(pixel)
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(sizes))])
    return Segments((int(shape[0]), int(shape[1])), indptr.astype(np.int64), np.concatenate(pixels).astype(np.int64))


def felzenszwalb_segments(image: np.ndarray, params: SegmentationParams = SegmentationParams()) -> Segments:
    """XRAI's segments of one image ([H, W] or [H, W, C], any value range), as saliency's
    `_get_segments_felzenszwalb(image, resize_image=params.resize, dilation_rad=params.dilation_radius)`
    with its scales, sigma and minimum size."""
    return segments_from_labels(label_images(image, params), params.dilation_radius)
