"""Region-level attributions over igcli's pixel attributions: XRAI (Kapishnikov et al., ICCV 2019)
as PAIR saliency 0.2.1 computes it. numpy and scikit-image only (the `xrai` extra); no TensorFlow.

    segments.py  Felzenszwalb segments at saliency's scales, resized and dilated as saliency does
    xrai.py      the greedy region merge, full and fast, over ready-made attributions
    batch.py     many images on a process pool sized by igcli.cpus.usable_cpus()
"""

from igcli.regions.batch import xrai_batch, xrai_batch_from_baselines, xrai_pool
from igcli.regions.segments import SegmentationParams, Segments, felzenszwalb_segments, label_images, segments_from_labels
from igcli.regions.xrai import ALGORITHMS, XraiParams, XraiResult, combine_baselines, reduce_channels, xrai, xrai_from_baselines, xrai_regions

__all__ = [
    "ALGORITHMS",
    "SegmentationParams",
    "Segments",
    "XraiParams",
    "XraiResult",
    "combine_baselines",
    "felzenszwalb_segments",
    "label_images",
    "reduce_channels",
    "segments_from_labels",
    "xrai",
    "xrai_batch",
    "xrai_batch_from_baselines",
    "xrai_from_baselines",
    "xrai_pool",
    "xrai_regions",
]
