"""The Integrated Gradients engine: model + inputs + baselines + targets -> attributions.

Cost is (instances x baseline samples x steps) forward+backward passes. The path points are
built, differentiated and summed inside one compiled function, a chunk of whole paths (or a
slice of one path) at a time, so memory is bounded by --batch-size and not by steps x instances.
"""

from __future__ import annotations

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


def auto_batch_size(input_shape: tuple) -> int:
    elements = int(np.prod([d or 1 for d in input_shape]))
    low, high = AUTO_BATCH_LIMITS
    if not _tensorflow().config.list_logical_devices("GPU"):
        high = AUTO_BATCH_CPU_MAX
    return int(np.clip(AUTO_BATCH_BYTES // (4 * elements), low, high))


class IntegratedGradients:
    def __init__(self, model_call, input_shape: tuple, alphas: np.ndarray, weights: np.ndarray, batch_size: int, xla: bool = False):
        tf = _tensorflow()
        self._tf = tf
        self.alphas = np.asarray(alphas, np.float32)
        self.weights = np.asarray(weights, np.float32)
        self.batch_size = int(batch_size)
        rank = len(input_shape)
        points_spec = tf.TensorSpec([None, *input_shape], tf.float32)
        vector = tf.TensorSpec([None], tf.float32)
        indices = tf.TensorSpec([None], tf.int32)

        def flat_outputs(x):
            out = model_call(x)
            return tf.reshape(tf.cast(out, tf.float32), [tf.shape(x)[0], -1])

        def path_integrals(baselines, diffs, alphas, weights, targets):
            # rows r, points per row m: every row walks the same m alphas.
            rows, m = tf.shape(baselines)[0], tf.shape(alphas)[0]
            expand = [1] * rank
            a = tf.reshape(alphas, [1, m, *expand])
            points = baselines[:, None] + a * diffs[:, None]
            points = tf.reshape(points, tf.concat([[rows * m], tf.shape(baselines)[1:]], 0))
            with tf.GradientTape() as tape:
                tape.watch(points)
                selected = tf.gather(flat_outputs(points), tf.repeat(targets, m), batch_dims=1)
            grads = tape.gradient(selected, points)
            grads = tf.reshape(grads, tf.concat([[rows, m], tf.shape(baselines)[1:]], 0))
            return tf.reduce_sum(grads * tf.reshape(weights, [1, m, *expand]), axis=1)

        # One trace per run: every dimension that changes between calls is None in the signature.
        # XLA is opt-in: on the CPUs we measured it was several times slower.
        self._outputs = tf.function(flat_outputs, input_signature=[points_spec], jit_compile=xla or None)
        self._integrals = tf.function(
            path_integrals, input_signature=[points_spec, points_spec, vector, vector, indices], jit_compile=xla or None
        )

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """All of the model's output values per instance, flattened: [G, M]."""
        return self._outputs(self._tf.constant(x, self._tf.float32)).numpy()

    def explain(self, x: np.ndarray, baselines: np.ndarray, targets: np.ndarray, x_outputs: np.ndarray | None = None) -> Explanation:
        """x [G, ...], baselines [G, K, ...], targets [G] flat output indices."""
        tf = self._tf
        groups, samples = baselines.shape[:2]
        x = np.asarray(x, np.float32)
        rows_x = np.repeat(x, samples, axis=0)
        rows_baseline = np.asarray(baselines, np.float32).reshape(rows_x.shape)
        rows_target = np.repeat(np.asarray(targets, np.int32), samples)
        diffs = rows_x - rows_baseline
        integrals = self._integrate(rows_baseline, diffs, rows_target)
        attributions = (diffs * integrals).reshape(groups, samples, *x.shape[1:]).mean(axis=1)
        if x_outputs is None:
            x_outputs = self.outputs(x)
        scores = np.take_along_axis(x_outputs, np.asarray(targets)[:, None], axis=1)[:, 0]
        baseline_outputs = self._outputs(tf.constant(rows_baseline)).numpy()
        baseline_scores = np.take_along_axis(baseline_outputs, rows_target[:, None].astype(np.int64), axis=1)[:, 0]
        baseline_scores = baseline_scores.astype(np.float64).reshape(groups, samples).mean(axis=1)
        return Explanation(attributions.astype(np.float32), scores, baseline_scores)

    def _integrate(self, baselines: np.ndarray, diffs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """sum_k w_k dF/dx(x' + alpha_k (x - x')) per row, chunked to at most batch_size points."""
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
