"""--xrai in a run: each explained (instance, target)'s XRAI map from the model input and its
attributions, in the explaining process (a process pool measured no faster on 2 cores, and costs
seconds to start: benchmarks/xrai_cost.py)."""

from __future__ import annotations

import numpy as np

from igcli.regions.batch import xrai_batch
from igcli.regions.segments import SegmentationParams
from igcli.regions.xrai import XraiParams


def params_of(options) -> XraiParams:
    """The run's --xrai-algorithm, --xrai-area-threshold and --xrai-scales."""
    segmentation = SegmentationParams(scales=tuple(float(s) for s in options.xrai_scales.values))
    return XraiParams(algorithm=options.xrai_algorithm, area_threshold=options.xrai_area_threshold, segmentation=segmentation)


def region_maps(images: np.ndarray, attributions: np.ndarray, params: XraiParams) -> np.ndarray:
    """images [R, H, W, C] (what the model saw), attributions [R, K, H, W, C] -> XRAI maps
    [R, K, H, W]; NaN for an image XRAI cannot segment (a constant one): its attributions stand."""
    rows, targets = attributions.shape[:2]
    pairs = [(images[r], attributions[r, k]) for r in range(rows) for k in range(targets)]
    results = xrai_batch([p[0] for p in pairs], [p[1] for p in pairs], params, workers=1, keep_errors=True)
    maps = np.full((rows, targets, *attributions.shape[2:4]), np.nan)
    for number, result in enumerate(results):
        if not isinstance(result, Exception):
            maps[divmod(number, targets)] = result.map
    return maps
