"""The Integrated Gradients engine: model + inputs + baselines + targets -> attributions.

Cost is (instances x baseline samples x steps) forward+backward passes. The path points are
built, differentiated and summed inside one compiled function, a chunk of whole paths (or a
slice of one path) at a time, so memory is bounded by --batch-size and not by steps x instances.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from igcli.tfimport import tensorflow as _tensorflow

# Path points per gradient call for --batch-size auto: about 16 MB of float32 input points on a
# GPU, which keeps calls large enough to fill it and large models within memory. On a CPU, bigger
# calls are slower once activations leave the caches: measured on a 2-core x86 for a 64x64x3 CNN,
# 557 evaluations/s at 32 points per call, 538 at 64, 446 at 100, 416 at 300. So at most 64.
AUTO_BATCH_BYTES = 1 << 24
AUTO_BATCH_LIMITS = (1, 1024)
AUTO_BATCH_CPU_MAX = 64
CPU_BRANCHES = 2


@dataclass
class Explanation:
    """Results for a group of instances; arrays are numpy, first axis is the instance."""

    attributions: np.ndarray  # [G, ...input shape]
    scores: np.ndarray  # F(x) at the target, [G]
    baseline_scores: np.ndarray  # F(x') at the target, averaged over baseline samples, [G]

    @property
    def sums(self) -> np.ndarray:
        return self.attributions.reshape(len(self.attributions), -1).sum(axis=1, dtype=np.float64)

    @property
    def deltas(self) -> np.ndarray:
        """Completeness error: sum(A) - (F(x) - F(x'))."""
        return self.sums - (self.scores.astype(np.float64) - self.baseline_scores)


def _on_gpu() -> bool:
    return bool(_tensorflow().config.list_logical_devices("GPU"))


def auto_batch_size(input_shape: tuple) -> int:
    elements = int(np.prod([d or 1 for d in input_shape]))
    low, high = AUTO_BATCH_LIMITS
    if not _on_gpu():
        high = AUTO_BATCH_CPU_MAX
    return int(np.clip(AUTO_BATCH_BYTES // (4 * elements), low, high))


def auto_branches() -> int:
    """Independent gradient calls per chunk: 2 on a multi-core CPU, 1 on a GPU.

    On this project's 2-core CPU one call of 50 points left the cores partly idle (small ops
    scale poorly across threads); two halves run side by side were 15-30% faster for a small CNN
    and for MobileNetV2 (benchmarks/bench.py). A GPU runs one call at a time on one stream, where
    halving only makes the kernels smaller."""
    return 1 if _on_gpu() or (os.cpu_count() or 1) < 2 else CPU_BRANCHES


def _even_sizes(tf, n, parts: int):
    """`parts` sizes that add up to n and differ by at most one (some 0 when n < parts)."""
    return n // parts + tf.cast(tf.range(parts) < n % parts, tf.int32)


class IntegratedGradients:
    def __init__(self, model_call, input_shape: tuple, alphas: np.ndarray, weights: np.ndarray, batch_size: int,
                 xla: bool = False, branches: int | None = None):
        tf = _tensorflow()
        self._tf = tf
        self.branches = auto_branches() if branches is None else max(1, int(branches))
        self.alphas = np.asarray(alphas, np.float32)
        self.weights = np.asarray(weights, np.float32)
        self.batch_size = int(batch_size)
        self._shared_baseline = None  # (baseline, its outputs): see _baseline_outputs
        rank = len(input_shape)
        points_spec = tf.TensorSpec([None, *input_shape], tf.float32)
        vector = tf.TensorSpec([None], tf.float32)
        indices = tf.TensorSpec([None], tf.int32)

        def flat_outputs(x):
            out = model_call(x)
            return tf.reshape(tf.cast(out, tf.float32), [tf.shape(x)[0], -1])

        def point_gradients(points, targets):
            """dF_target/dx at each point: one forward and one backward pass of the model."""
            with tf.GradientTape() as tape:
                tape.watch(points)
                selected = tf.gather(flat_outputs(points), targets[:, None], batch_dims=1)
            return tape.gradient(selected, points)

        def path_integrals(baselines, diffs, alphas, weights, targets, branches):
            # rows r, points per row m: every row walks the same m alphas.
            rows, m = tf.shape(baselines)[0], tf.shape(alphas)[0]
            expand = [1] * rank
            a = tf.reshape(alphas, [1, m, *expand])
            points = baselines[:, None] + a * diffs[:, None]
            points = tf.reshape(points, tf.concat([[rows * m], tf.shape(baselines)[1:]], 0))
            # Independent branches: the runtime runs them side by side on the CPU's cores, which
            # kept both cores busier than one call of twice the size (measured in benchmarks/).
            # The caller never asks for more branches than the call has points: an empty batch
            # through a convolution or a BatchNormalization is an error on some CPUs' kernels.
            sizes = _even_sizes(tf, rows * m, branches)
            point_parts = tf.split(points, sizes, num=branches)
            target_parts = tf.split(tf.repeat(targets, m), sizes, num=branches)
            grads = tf.concat([self._point_gradients(p, t) for p, t in zip(point_parts, target_parts)], 0)
            grads = tf.reshape(grads, tf.concat([[rows, m], tf.shape(baselines)[1:]], 0))
            return diffs * tf.reduce_sum(grads * tf.reshape(weights, [1, m, *expand]), axis=1)

        # One trace per run: every dimension that changes between calls is None in the signature;
        # the branches share one traced gradient function. A call with fewer points than branches
        # (a tiny --batch-size, a short last chunk) uses a wrapper with fewer branches, traced on
        # first use: a few graph nodes, not another trace of the model.
        # XLA is opt-in: on the CPUs we measured it was several times slower.
        jit = xla or None
        self._outputs = tf.function(flat_outputs, input_signature=[points_spec], jit_compile=jit)
        self._point_gradients = tf.function(point_gradients, input_signature=[points_spec, indices], jit_compile=jit)
        signature = [points_spec, points_spec, vector, vector, indices]
        self._integrals_by_branches = {
            b: tf.function(lambda *args, b=b: path_integrals(*args, b), input_signature=signature, jit_compile=jit)
            for b in range(1, self.branches + 1)
        }

    def _integrals(self, baselines, diffs, alphas, weights, targets):
        """One gradient call over rows x alphas points, in as many branches as it has points
        (at most self.branches), so that no branch is ever empty."""
        points = int(baselines.shape[0]) * int(alphas.shape[0])
        return self._integrals_by_branches[max(1, min(self.branches, points))](baselines, diffs, alphas, weights, targets)

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """All of the model's output values per instance, flattened: [G, M]."""
        return self._outputs(self._tf.constant(x, self._tf.float32)).numpy()

    def explain(self, x: np.ndarray, baselines: np.ndarray, targets: np.ndarray, x_outputs: np.ndarray | None = None) -> Explanation:
        """x [G, ...], baselines [G, K, ...], targets [G] flat output indices."""
        groups, samples = baselines.shape[:2]
        x = np.asarray(x, np.float32)
        rows_x = np.repeat(x, samples, axis=0)
        rows_baseline = np.asarray(baselines, np.float32).reshape(rows_x.shape)
        rows_target = np.repeat(np.asarray(targets, np.int32), samples)
        diffs = rows_x - rows_baseline
        attributions = self._integrate(rows_baseline, diffs, rows_target).reshape(groups, samples, *x.shape[1:]).mean(axis=1)
        if x_outputs is None:
            x_outputs = self.outputs(x)
        scores = np.take_along_axis(x_outputs, np.asarray(targets)[:, None], axis=1)[:, 0]
        baseline_outputs = self._baseline_outputs(rows_baseline)
        baseline_scores = np.take_along_axis(baseline_outputs, rows_target[:, None].astype(np.int64), axis=1)[:, 0]
        baseline_scores = baseline_scores.astype(np.float64).reshape(groups, samples).mean(axis=1)
        return Explanation(attributions.astype(np.float32), scores, baseline_scores)

    def _baseline_outputs(self, baselines: np.ndarray) -> np.ndarray:
        """F(x') for every row; one forward pass per run when all rows share one baseline
        (zero, black, white, a constant, a single baseline file), as they usually do."""
        first = baselines[0]
        if not (baselines == first).all():
            return self.outputs(baselines)
        if self._shared_baseline is None or not np.array_equal(self._shared_baseline[0], first):
            self._shared_baseline = (first.copy(), self.outputs(first[None])[0])
        return np.broadcast_to(self._shared_baseline[1], (len(baselines), len(self._shared_baseline[1])))

    def _integrate(self, baselines: np.ndarray, diffs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Attributions per row, (x - x') * sum_k w_k dF/dx(x' + alpha_k (x - x')), computed in
        chunks of at most batch_size path points."""
        tf = self._tf
        steps = len(self.alphas)
        results = []
        start = 0
        while start < len(baselines):
            rows_per_call = max(1, self.batch_size // steps)
            stop = min(start + rows_per_call, len(baselines))
            b = tf.constant(baselines[start:stop])
            d = tf.constant(diffs[start:stop])
            t = tf.constant(targets[start:stop])
            try:
                if self.batch_size >= steps:
                    part = self._integrals(b, d, self.alphas, self.weights, t)
                else:
                    # Fewer points per call than steps: each path is summed over several calls,
                    # of equal size so that no call is a short remainder.
                    calls = -(-steps // self.batch_size)
                    size = -(-steps // calls)
                    part = 0
                    for k in range(0, steps, size):
                        part += self._integrals(b, d, self.alphas[k : k + size], self.weights[k : k + size], t)
            except tf.errors.ResourceExhaustedError:
                if self.batch_size == 1:
                    raise
                self.batch_size //= 2  # out of memory: halve and redo this chunk
                continue
            results.append(part.numpy())
            start = stop
        return np.concatenate(results)
