"""igcli.regions: XRAI's segments and region merge against PAIR saliency 0.2.1's own, on real photos
that scikit-image ships (astronaut, chelsea, coffee), each with one fixed base attribution."""

import numpy as np
import pytest

pytest.importorskip("skimage")
sal = pytest.importorskip("saliency.core.xrai")
saliency_base = pytest.importorskip("saliency.core.base")

from scipy.ndimage import gaussian_filter  # noqa: E402
from skimage import data  # noqa: E402
from skimage.transform import resize  # noqa: E402

from igcli.regions import (  # noqa: E402
    SegmentationParams,
    Segments,
    XraiParams,
    felzenszwalb_segments,
    xrai,
    xrai_batch,
    xrai_batch_from_baselines,
    xrai_from_baselines,
    xrai_pool,
    xrai_regions,
)

# one photo at saliency's own segmentation size (its resize is then the identity) and two smaller,
# non-square ones (segments resized back)
PHOTOS = {"astronaut": (224, 224), "chelsea": (150, 200), "coffee": (120, 180)}


def photo(name):
    image = resize(getattr(data, name)(), PHOTOS[name], preserve_range=True, anti_aliasing=True)
    return (image / 255.0).astype(np.float32)


def base_attribution(image, seed):
    """Fixed per photo: a smooth signed random field plus the image's gradient magnitude, [H, W, 3]."""
    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.standard_normal(image.shape), (5, 5, 0))
    edges = np.hypot(*np.gradient(image, axis=(0, 1)))
    return (field / np.abs(field).max() + edges).astype(np.float32)


@pytest.fixture(scope="module")
def photos():
    """name -> (image, base attribution, saliency's segments), each computed once."""
    out = {}
    for seed, name in enumerate(PHOTOS):
        image = photo(name)
        out[name] = (image, base_attribution(image, seed), sal._get_segments_felzenszwalb(image))
    return out


def saliency_xrai(image, attribution, segments, algorithm, area_threshold=1.0):
    params = sal.XRAIParameters(algorithm=algorithm, area_threshold=area_threshold)
    params.return_xrai_segments = True
    out = sal.XRAI().GetMaskWithDetails(image, None, segments=segments, base_attribution=attribution, extra_parameters=params)
    return out.attribution_mask, out.segments


def assert_close_maps(ours, theirs):
    scale = np.abs(theirs).max()
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize("name", PHOTOS)
def test_segments_equal_saliency(photos, name):
    image, _, theirs = photos[name]
    ours = felzenszwalb_segments(image).masks()
    assert len(ours) == len(theirs)
    for mine, ref in zip(ours, theirs):
        assert mine.dtype == ref.dtype and np.array_equal(mine, ref)


@pytest.mark.parametrize("algorithm", ["full", "fast"])
@pytest.mark.parametrize("name", PHOTOS)
def test_xrai_equals_saliency(photos, name, algorithm):
    image, attribution, segments = photos[name]
    theirs, their_ranks = saliency_xrai(image, attribution, segments, algorithm)
    ours = xrai(image, attribution, XraiParams(algorithm=algorithm))
    assert_close_maps(ours.map, theirs)
    assert np.array_equal(ours.ranks, their_ranks)
    assert np.array_equal(ours.gains[ours.ranks - 1], ours.map)
    # a region's gain is its mean attribution, so the map keeps the attribution's total
    assert np.isclose(ours.map.sum(), attribution.max(axis=-1).astype(np.float64).sum(), rtol=1e-4)


@pytest.mark.parametrize("threshold", [0.2, 0.5])
def test_area_threshold_equals_saliency(photos, threshold):
    image, attribution, segments = photos["chelsea"]
    theirs, their_ranks = saliency_xrai(image, attribution, segments, "full", threshold)
    ours = xrai(image, attribution, XraiParams(area_threshold=threshold))
    assert_close_maps(ours.map, theirs)
    assert np.array_equal(ours.ranks, their_ranks)
    # the uncovered rest, ranked last, holds its mean attribution
    assert len(np.unique(ours.ranks)) < len(np.unique(xrai(image, attribution).ranks))


def test_segmentation_options_equal_saliency():
    image = photo("coffee")[::2, ::2]
    theirs = sal._get_segments_felzenszwalb(image, resize_image=False, dilation_rad=3)
    ours = felzenszwalb_segments(image, SegmentationParams(resize=False, dilation_radius=3)).masks()
    assert len(ours) == len(theirs) and all(np.array_equal(a, b) for a, b in zip(ours, theirs))
    theirs = sal._get_segments_felzenszwalb(image, dilation_rad=0)
    ours = felzenszwalb_segments(image, SegmentationParams(dilation_radius=0)).masks()
    assert len(ours) == len(theirs) and all(np.array_equal(a, b) for a, b in zip(ours, theirs))


def test_tiny_image_gives_saliencys_empty_segments():
    """A 20 x 24 image loses segments in the resize back: empty masks, kept in place."""
    image = photo("astronaut")[100:120, 100:124]
    theirs = sal._get_segments_felzenszwalb(image)
    ours = felzenszwalb_segments(image)
    assert (ours.sizes() == 0).any()
    assert all(np.array_equal(a, b) for a, b in zip(ours.masks(), theirs)) and len(ours) == len(theirs)
    attribution = base_attribution(image, 7)
    for algorithm in ("full", "fast"):
        params = sal.XRAIParameters(algorithm=algorithm)
        ref = sal.XRAI().GetMask(image, None, segments=theirs, base_attribution=attribution, extra_parameters=params)
        assert_close_maps(xrai_regions(attribution, ours, XraiParams(algorithm=algorithm)).map, ref)


@pytest.mark.parametrize("algorithm", ["full", "fast"])
@pytest.mark.parametrize("values", ["zeros", "levels", "float64"])
def test_ties_duplicates_and_empty_segments(algorithm, values):
    """Exact ties (repeated and empty masks, piecewise constant attributions) broken as saliency
    breaks them, segments given as masks (saliency's `segments=`)."""
    rng = np.random.default_rng(3)
    shape = (40, 48)
    masks = [np.zeros(shape, dtype=bool)]
    for _ in range(30):
        y, x, h, w = rng.integers(0, 30), rng.integers(0, 36), rng.integers(4, 20), rng.integers(4, 20)
        mask = np.zeros(shape, dtype=bool)
        mask[y : y + h, x : x + w] = True
        masks.append(mask)
    masks += [masks[5].copy(), np.zeros(shape, dtype=bool), masks[9].copy()]
    attr = {
        "zeros": np.zeros(shape, dtype=np.float32),
        "levels": np.kron(rng.integers(-2, 3, (5, 6)), np.ones((8, 8))).astype(np.float32),
        "float64": rng.standard_normal(shape),
    }[values]
    merge = sal.XRAI._xrai if algorithm == "full" else sal.XRAI._xrai_fast
    for min_pixel_diff in (1, 50):
        ref_map, ref_ranks = merge(attr, masks, min_pixel_diff=min_pixel_diff)
        ours = xrai_regions(attr, Segments.from_masks(masks), XraiParams(algorithm=algorithm, min_pixel_diff=min_pixel_diff))
        assert np.array_equal(ours.map, ref_map) and np.array_equal(ours.ranks, ref_ranks)


def test_combining_baselines_as_saliency_does():
    """Without a base attribution saliency runs IG from the constant min(x) and max(x) images and
    averages them: igcli computes those two IGs itself and gets saliency's map."""
    image = photo("coffee")
    weights = base_attribution(image, 11).astype(np.float64)
    steps = 8

    def call_model(batch, call_model_args=None, expected_keys=None):  # a linear model: constant gradient
        return {saliency_base.INPUT_OUTPUT_GRADIENTS: np.broadcast_to(weights, np.shape(batch)).copy()}

    params = sal.XRAIParameters(steps=steps)
    theirs = sal.XRAI().GetMask(image, call_model, extra_parameters=params)
    baselines = [np.min(image) * np.ones_like(image), np.max(image) * np.ones_like(image)]
    per_baseline = [steps * weights * (image - b) / steps for b in baselines]  # saliency's IG, exact for a linear model
    assert_close_maps(xrai_from_baselines(image, per_baseline).map, theirs)
    batched = xrai_batch_from_baselines(image[None], np.asarray(per_baseline)[:, None], workers=1)
    assert np.array_equal(batched[0].map, xrai_from_baselines(image, per_baseline).map)


@pytest.mark.slow
def test_batch_equals_one_at_a_time(photos):
    """A list of photos of different sizes and an [N, H, W, C] stack, on a process pool, in this
    process and on a pool kept across calls, give the one-at-a-time maps; a constant image
    fails alone with keep_errors."""
    names = list(PHOTOS)
    images = [photos[n][0] for n in names]
    attributions = [photos[n][1] for n in names]
    for algorithm in ("full", "fast"):
        params = XraiParams(algorithm=algorithm)
        single = [xrai(im, at, params) for im, at in zip(images, attributions)]
        for results in (xrai_batch(images, attributions, params, workers=2), xrai_batch(images, attributions, params, workers=1)):
            assert all(np.array_equal(r.map, s.map) and np.array_equal(r.ranks, s.ranks) for r, s in zip(results, single))
    stack = np.stack([photos["astronaut"][0], photos["astronaut"][0][::-1]])
    stack_attr = np.stack([photos["astronaut"][1], photos["astronaut"][1][::-1]])
    with xrai_pool(2) as pool:
        stacked = xrai_batch(np.concatenate([stack, np.zeros_like(stack[:1])]), np.concatenate([stack_attr, stack_attr[:1]]), executor=pool, keep_errors=True)
    assert all(np.array_equal(r.map, xrai(im, at).map) for r, im, at in zip(stacked[:2], stack, stack_attr))
    assert isinstance(stacked[2], ValueError)
    with pytest.raises(ValueError, match="constant image"):
        xrai_batch([np.zeros((30, 30, 3))], [np.ones((30, 30, 3))], workers=1)


def test_refusals():
    image = photo("coffee")
    with pytest.raises(ValueError, match="unknown XRAI algorithm"):
        XraiParams(algorithm="slow")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="attribution of shape"):
        xrai(image, np.zeros((10, 10, 3)))
    with pytest.raises(ValueError, match="2 images but 1 attributions"):
        xrai_batch([image, image], [image])
