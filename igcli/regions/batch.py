"""XRAI for many images at once, on a pool of processes sized by the CPUs this process may use.

Processes, not threads: scikit-image's Felzenszwalb holds the GIL (two threads take twice as long
as one). The pool's workers come from a fork server that has imported only this package, numpy
and scikit-image, never the parent's TensorFlow (forking a process with TensorFlow's threads
running is unsafe), and they start in milliseconds once it is up. A run keeps one pool for all its
groups (`xrai_pool`) so that start-up is paid once.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from itertools import repeat
from multiprocessing.context import BaseContext

import numpy as np

from igcli.cpus import usable_cpus
from igcli.regions.xrai import DEFAULT_PARAMS, XraiParams, XraiResult, combine_baselines, xrai

# what a worker needs, imported once in the fork server rather than in every worker
_PRELOAD = ["igcli.regions.xrai", "skimage.segmentation", "skimage.transform", "skimage.morphology"]


def _one(image: np.ndarray, attribution: np.ndarray, params: XraiParams, keep_errors: bool) -> XraiResult | Exception:
    try:
        return xrai(image, attribution, params)
    except (ValueError, ArithmeticError) as err:  # one bad instance (a constant image) is its own failure
        if keep_errors:
            return err
        raise


def _process_pool(workers: int) -> ProcessPoolExecutor:
    ctx: BaseContext
    try:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
    except ValueError:  # no fork server on this platform
        ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


@contextmanager
def xrai_pool(workers: int | None = None) -> Iterator[Executor | None]:
    """A pool of `workers` processes (default: usable_cpus()) to pass to `xrai_batch` for all of a
    run's groups; None (work in this process) when one worker is all there is."""
    workers = usable_cpus() if workers is None else workers
    if workers <= 1:
        yield None
        return
    pool = _process_pool(workers)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def xrai_batch(
    images: Sequence[np.ndarray] | np.ndarray,
    attributions: Sequence[np.ndarray] | np.ndarray,
    params: XraiParams = DEFAULT_PARAMS,
    *,
    workers: int | None = None,
    executor: Executor | None = None,
    keep_errors: bool = False,
) -> list[XraiResult | Exception]:
    """XRAI of each image ([N, H, W, C], or a list of images of any sizes) from its attribution
    (same [H, W], channels reduced by their maximum as saliency does), in order. Runs on `executor`
    if given, else on a pool of `workers` processes (default: usable_cpus(); 1 or a single image:
    in this process). With keep_errors, an image XRAI cannot segment (a constant one) gives its
    ValueError in its place instead of failing the batch."""
    if len(images) != len(attributions):
        raise ValueError(f"{len(images)} images but {len(attributions)} attributions")
    n = len(images)
    jobs = (images, attributions, repeat(params, n), repeat(keep_errors, n))
    if executor is not None:
        return list(executor.map(_one, *jobs, chunksize=max(1, n // (4 * usable_cpus()))))
    workers = min(usable_cpus() if workers is None else workers, n)
    if workers <= 1:
        return [_one(*job) for job in zip(*jobs)]
    with xrai_pool(workers) as pool:
        assert pool is not None
        return list(pool.map(_one, *jobs, chunksize=max(1, n // (4 * workers))))


def xrai_batch_from_baselines(
    images: Sequence[np.ndarray] | np.ndarray,
    per_baseline: Sequence[np.ndarray] | np.ndarray,
    params: XraiParams = DEFAULT_PARAMS,
    *,
    workers: int | None = None,
    executor: Executor | None = None,
    keep_errors: bool = False,
) -> list[XraiResult | Exception]:
    """Like `xrai_batch`, from IG attributions [B, N, H, W, C] for B baselines (Vertex's default:
    black and white), combined per instance as saliency combines them (their mean)."""
    combined = combine_baselines(per_baseline)
    return xrai_batch(images, combined, params, workers=workers, executor=executor, keep_errors=keep_errors)
