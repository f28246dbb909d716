"""What XRAI's region step costs per image, measured in one run on real photos that scikit-image
ships (no download): igcli.regions against PAIR saliency 0.2.1 on the same images, base
attributions and segments, and against the gradient evaluations of the IG run it follows.

    python benchmarks/xrai_cost.py                   # 5 photos at 224 x 224, 3 rounds
    python benchmarks/xrai_cost.py --size 299 --rounds 5 --no-ig

Steps timed per image, single process: Felzenszwalb's segments (6 scales, dilated), the full merge
and the fast merge; then the whole step (segments + merge) for a batch on igcli's process pool
(usable_cpus() workers, warm; its start-up, paid once per run, printed apart). With --ig (the default), one compiled gradient
loop of MobileNetV2 at the same size (random weights, batch 32) gives the seconds per image of
Vertex's default IG for XRAI (50 steps from a black and from a white baseline: 100 evaluations),
which the region step is compared with. Rounds are interleaved and the median round is reported;
every round goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry"]
IG_EVALUATIONS = 100  # Vertex's XRAI default: IG with 50 steps, from black and from white


def photos(size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image in [0, 1], a fixed smooth signed base attribution), [size, size, 3] float32."""
    from scipy.ndimage import gaussian_filter
    from skimage import data
    from skimage.transform import resize

    out = []
    for seed, name in enumerate(PHOTOS):
        image = (resize(getattr(data, name)(), (size, size), preserve_range=True, anti_aliasing=True) / 255.0).astype(np.float32)
        field = gaussian_filter(np.random.default_rng(seed).standard_normal(image.shape), (5, 5, 0))
        out.append((image, field.astype(np.float32)))
    return out


def timed(fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def ours_round(items) -> dict[str, float]:
    """Seconds per image of each step, single process."""
    from igcli.regions import XraiParams, felzenszwalb_segments, xrai_regions

    totals = {"segments": 0.0, "full merge": 0.0, "fast merge": 0.0}
    for image, attribution in items:
        seconds, segments = timed(felzenszwalb_segments, image)
        totals["segments"] += seconds
        totals["full merge"] += timed(xrai_regions, attribution, segments, XraiParams(algorithm="full"))[0]
        totals["fast merge"] += timed(xrai_regions, attribution, segments, XraiParams(algorithm="fast"))[0]
    return {k: v / len(items) for k, v in totals.items()}


def saliency_round(items) -> dict[str, float]:
    from saliency.core import xrai as sal

    totals = {"segments": 0.0, "full merge": 0.0, "fast merge": 0.0}
    for image, attribution in items:
        seconds, segments = timed(sal._get_segments_felzenszwalb, image)
        totals["segments"] += seconds
        attr = attribution.max(axis=-1)
        totals["full merge"] += timed(sal.XRAI._xrai, attr, segments)[0]
        totals["fast merge"] += timed(sal.XRAI._xrai_fast, attr, segments)[0]
    return {k: v / len(items) for k, v in totals.items()}


def pool_round(items, copies: int, pool) -> float:
    """Seconds per image of the whole full-XRAI step for len(items) x copies images on a warm pool."""
    from igcli.regions import xrai_batch

    images = [im for im, _ in items] * copies
    attributions = [at for _, at in items] * copies
    return timed(lambda: xrai_batch(images, attributions, executor=pool))[0] / len(images)


def pool_start(items):
    """A pool of usable_cpus() workers, and the seconds until it has returned its first batch."""
    from igcli.regions import xrai_batch, xrai_pool

    context = xrai_pool()
    start = time.perf_counter()
    pool = context.__enter__()
    xrai_batch([im for im, _ in items[:1]] * 2, [at for _, at in items[:1]] * 2, executor=pool)
    return context, pool, time.perf_counter() - start


def ig_seconds_per_image(size: int) -> float:
    """Seconds per image of 100 gradient evaluations of MobileNetV2 in a compiled loop, batch 32."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(size, size, 3), weights=None, classes=1000)

    @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = model(x)[:, 0]
        return tape.gradient(y, x)

    batch = tf.random.uniform([32, size, size, 3])
    gradient(batch)  # trace
    seconds = timed(lambda: [gradient(batch).numpy() for _ in range(4)])[0]
    return seconds / (4 * 32) * IG_EVALUATIONS


def median_rounds(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}


def table(ours: dict[str, float], ref: dict[str, float] | None, pool: float, workers: int, ig: float | None) -> str:
    def row(step: str, mine: float, theirs: float | None) -> str:
        cells = [step, f"{mine:.3f}"]
        if ref is not None:
            cells += [f"{theirs:.3f}" if theirs is not None else "", f"{theirs / mine:.1f}x" if theirs is not None else ""]
        if ig is not None:
            cells.append(f"{100 * mine / ig:.1f}%")
        return "| " + " | ".join(cells) + " |"

    head = ["step", "igcli s/image"] + (["saliency 0.2.1 s/image", "igcli faster by"] if ref is not None else []) + (["of IG's time"] if ig is not None else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for step in ours:
        lines.append(row(step, ours[step], ref[step] if ref else None))
    for algorithm in ("full", "fast"):
        key = f"{algorithm} merge"
        lines.append(row(f"segments + {algorithm} merge", ours["segments"] + ours[key], ref["segments"] + ref[key] if ref else None))
    lines.append(row(f"segments + full merge, batch on a warm pool of {workers}", pool, None))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--copies", type=int, default=4, help="each photo this many times in the pool's batch")
    parser.add_argument("--no-ig", action="store_true", help="skip the MobileNetV2 gradient loop")
    parser.add_argument("--no-saliency", action="store_true", help="skip PAIR saliency's own XRAI")
    args = parser.parse_args()
    items = photos(args.size)
    ig = None if args.no_ig else ig_seconds_per_image(args.size)
    mine, theirs, pooled = [], [], []
    context, pool, started = pool_start(items)
    for n in range(args.rounds):
        mine.append(ours_round(items))
        if not args.no_saliency:
            theirs.append(saliency_round(items))
        pooled.append(pool_round(items, args.copies, pool))
        print(f"round {n + 1}: igcli {mine[-1]}, saliency {theirs[-1] if theirs else '-'}, pool {pooled[-1]:.3f}", file=sys.stderr)
    context.__exit__(None, None, None)
    import skimage

    from igcli.cpus import usable_cpus

    print(f"XRAI's region step on {len(items)} photos at {args.size} x {args.size} (median of {args.rounds} rounds), {time.strftime('%Y-%m-%d')}")
    print(
        f"{platform.processor() or platform.machine()}, {usable_cpus()} usable CPUs, Python {platform.python_version()}, numpy {np.__version__}, scikit-image {skimage.__version__}"
    )
    if ig is not None:
        print(f"IG for XRAI (MobileNetV2, {IG_EVALUATIONS} gradient evaluations, compiled loop, batch 32): {ig:.3f} s/image")
    print(f"the pool's start-up (fork server, scikit-image imported once, first batch of 2): {started:.2f} s, once per run")
    print()
    print(table(median_rounds(mine), median_rounds(theirs) if theirs else None, statistics.median(pooled), usable_cpus(), ig))


if __name__ == "__main__":
    main()
