"""The gradient core: weighted sums of the model's gradients along any path, batched.

A method describes its path once (a Path: how the compiled function turns per-row tensors and an
alpha into a point, and how a row's weighted gradient sum becomes its attribution) and hands the
core, per group of instances, PathRows: the per-row tensors, each row's target, and each row's
points as (alpha, weight) pairs, any number per row. The core cuts the points into gradient calls
of at most batch_size points (whole rows where they fit, equal slices of a row that does not),
runs each call as parallel branches on a multi-core CPU (never an empty one), halves the batch and
redoes the call on out-of-memory, and returns per row the finished sum and the model's value at
every point. Each compiled function is traced once per run: every changing dimension is None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from igcli.cpus import usable_cpus
from igcli.tfimport import tensorflow as _tensorflow

# Path points per gradient call for --batch-size auto: about 16 MB of float32 input points on a
# GPU, which keeps calls large enough to fill it and large models within memory. On a CPU, bigger
# calls are slower once activations leave the caches: measured on a 2-core x86 for a 64x64x3 CNN,
# 557 evaluations/s at 32 points per call, 538 at 64, 446 at 100, 416 at 300. So at most 64.
AUTO_BATCH_BYTES = 1 << 24
AUTO_BATCH_LIMITS = (1, 1024)
AUTO_BATCH_CPU_MAX = 64
CPU_BRANCHES = 2
# What a compiled call returns: per-row sums, per-point contributions, per-point IDGI directions,
# or (forward passes only) the model's value at each point.
MODES = ("sums", "pair", "points", "idgi", "values")  # pair: sums with the rule and with its embedded coarser rule


def on_gpu() -> bool:
    return bool(_tensorflow().config.list_logical_devices("GPU"))


def auto_batch_size(input_shape: tuple) -> int:
    elements = int(np.prod([d or 1 for d in input_shape]))
    low, high = AUTO_BATCH_LIMITS
    if not on_gpu():
        high = AUTO_BATCH_CPU_MAX
    return int(np.clip(AUTO_BATCH_BYTES // (4 * elements), low, high))


def auto_branches(cpus: int | None = None) -> int:
    """Independent gradient calls per chunk: 2 on a multi-core CPU, 1 on a GPU.

    On this project's 2-core CPU one call of 50 points left the cores partly idle (small ops
    scale poorly across threads); two halves run side by side were 15-30% faster for a small CNN
    and for MobileNetV2 (benchmarks/bench.py). A GPU runs one call at a time on one stream, where
    halving only makes the kernels smaller. cpus: the CPUs this process may use [its affinity]."""
    cpus = usable_cpus() if cpus is None else cpus
    return 1 if on_gpu() or cpus < 2 else CPU_BRANCHES


class Path(Protocol):
    """A family of paths, built inside the compiled function.

    row_fields: the per-row tensors the path needs, each shaped like one instance (in engine space);
        row_tensors(x, baselines) makes them from the rows' inputs and baselines.
    points(rows, alphas): rows holds each field gathered to one row per point ([p, ...]), alphas
        are float64 [p, 1, ...]; -> [p, ...] float32.
    velocity(rows, alphas): d(point)/d(alpha) at each point, [p, ...], which multiplies w_k dF/dx
        before the sum; None where it is the same all along the path (the straight line's x - x').
    finish(sums, rows): a row's sum (its K targets on axis 1), with that row's tensors (given an
        axis to broadcast against K) -> its attributions (the straight line: (x - x') * sums)."""

    row_fields: tuple[str, ...]

    def row_tensors(self, x, baselines) -> dict: ...

    def points(self, rows: dict, alphas): ...

    def velocity(self, rows: dict, alphas): ...

    def finish(self, sums, rows: dict): ...


@dataclass
class PathRows:
    """One group of rows for the core. Points are listed row after row (point_rows ascending)."""

    tensors: dict[str, np.ndarray]  # field -> [R, ...] float32
    targets: np.ndarray  # [R, K] flat output indices per row ([R] for K = 1)
    point_rows: np.ndarray  # [P] the row of each point
    alphas: np.ndarray  # [P] position of each point along its row's path
    weights: np.ndarray  # [P] quadrature weight of each point
    coarse: np.ndarray | None = None  # [P] the weights of an embedded coarser rule (mode "pair")

    @classmethod
    def same_rule(cls, tensors: dict, targets: np.ndarray, alphas: np.ndarray, weights: np.ndarray, coarse: np.ndarray | None = None) -> PathRows:
        """Every row walks the same points."""
        rows = len(targets)
        return cls(
            tensors,
            np.asarray(targets),
            np.repeat(np.arange(rows), len(alphas)),
            np.tile(alphas, rows),
            np.tile(weights, rows),
            None if coarse is None else np.tile(coarse, rows),
        )


def _gradient_functions(tf, model_call, count: int):
    """-> (F at a batch, flattened [n, M]; dF_t/dx and F_t at each point for its K targets)."""

    def flat_outputs(x):
        out = model_call(x)
        return tf.reshape(tf.cast(out, tf.float32), [tf.shape(x)[0], -1])

    def point_gradients(points, targets):
        """dF_t/dx and F_t at each point for its K targets t: one forward pass, K backward."""
        with tf.GradientTape(persistent=count > 1) as tape:
            tape.watch(points)
            selected = tf.gather(flat_outputs(points), targets, batch_dims=1)  # [p, K]
            each = [selected[:, k] for k in range(count)] if count > 1 else []  # taken on the tape
        if count == 1:
            return tape.gradient(selected, points)[:, None], selected
        return tf.stack([tape.gradient(value, points) for value in each], axis=1), selected

    return flat_outputs, point_gradients


def _path_calls(tf, path: Path, rank: int, flat_outputs, point_gradients, xla: bool):
    """The body of every compiled call: a path's points built, their gradients (in branches),
    weighted and finished as each mode asks."""

    def path_calls(row_tensors, point_rows, alphas, weights, targets, branches, mode):
        rows = dict(zip(path.row_fields, row_tensors))
        at_points = {name: tf.gather(tensor, point_rows) for name, tensor in rows.items()}
        shaped_alphas = tf.reshape(alphas, [-1, *[1] * rank])
        points = path.points(at_points, shaped_alphas)
        point_targets = tf.gather(targets, point_rows)
        if mode == "values":  # F along the path, forward passes only
            return tf.gather(flat_outputs(points), point_targets, batch_dims=1)
        # Independent branches: the runtime runs them side by side on the CPU's cores, which
        # kept both cores busier than one call of twice the size (measured in benchmarks/).
        # Never more branches than points: an empty batch through a convolution or a
        # BatchNormalization is an error on some CPUs' kernels.
        sizes = tf.shape(points)[0] // branches + tf.cast(tf.range(branches) < tf.shape(points)[0] % branches, tf.int32)
        parts = zip(tf.split(points, sizes, num=branches), tf.split(point_targets, sizes, num=branches))
        grads, values = zip(*[point_gradients(p, t) for p, t in parts])
        grads, values = tf.concat(grads, 0), tf.concat(values, 0)  # [p, K, ...], [p, K]
        if mode == "idgi":  # the gradient's direction, as the share of each feature in |g|^2
            squares = tf.square(grads)
            total = tf.reduce_sum(squares, axis=list(range(2, rank + 2)), keepdims=True)
            return tf.math.divide_no_nan(squares, total), values
        velocity = path.velocity(at_points, shaped_alphas)

        def weighed(column):  # w_k dF/dx (times the path's velocity) with one column of weights
            weighted = grads * tf.reshape(weights[:, column], [-1, 1, *[1] * rank])
            return weighted if velocity is None else weighted * velocity[:, None]

        if mode == "points":  # each point's own contribution, finished with its row's tensors
            return path.finish(weighed(0), _with_target_axis(at_points)), values

        def summed(column):
            # Sorted segments are summed in point order, as a reduction over a [rows, m] axis
            # would; XLA has no sorted segment sum, only the unsorted one (another order).
            if xla:
                sums = tf.math.unsorted_segment_sum(weighed(column), point_rows, tf.shape(targets)[0])
            else:
                sums = tf.math.segment_sum(weighed(column), point_rows)
            return path.finish(sums, _with_target_axis(rows))

        if mode == "pair":  # the rule's sums and its embedded coarser rule's, from the same gradients,
            # and at every point beside F the slope dF/dalpha (for the completeness gap's evidence)
            moved = grads if velocity is None else grads * velocity[:, None]
            slopes = tf.reduce_sum(path.finish(moved, _with_target_axis(at_points)), axis=list(range(2, rank + 2)))
            return tf.stack([summed(0), summed(1)]), tf.concat([values, slopes], axis=1)
        return summed(0), values

    return path_calls


class GradientCore:
    """targets: how many outputs each row explains at once (K). Every point's forward pass is
    shared by its K targets, which take K backward passes from one tape; results gain a K axis
    after the row (or point) axis."""

    def __init__(self, model_call, input_shape: tuple, path: Path, batch_size: int, branches: int | None = None, xla: bool = False, targets: int = 1):
        tf = _tensorflow()
        self._tf = tf
        self.path = path
        self.targets = int(targets)
        self.batch_size = int(batch_size)
        self.branches = auto_branches() if branches is None else max(1, int(branches))
        self.on_points = None  # called with the path points of every gradient call (a progress bar)
        rank = len(input_shape)
        instances = tf.TensorSpec([None, *input_shape], tf.float32)
        vector = tf.TensorSpec([None, None], tf.float32)  # weights: a column per rule (two in mode "pair")
        positions = tf.TensorSpec([None], tf.float64)  # alphas: a path may need them exact (Blur IG's sigmas)
        indices = tf.TensorSpec([None], tf.int32)
        chosen = tf.TensorSpec([None, self.targets], tf.int32)
        flat_outputs, point_gradients = _gradient_functions(tf, model_call, self.targets)

        # One trace per run for each function; the branches share one traced gradient function.
        # A call with fewer points than branches uses a wrapper with fewer branches, traced on
        # first use: a few graph nodes around the same traced gradient, not another trace of the model.
        # XLA is opt-in: on the CPUs we measured it was several times slower.
        jit = xla or None
        self._outputs = tf.function(flat_outputs, input_signature=[instances], jit_compile=jit)
        self._point_gradients = tf.function(point_gradients, input_signature=[instances, chosen], jit_compile=jit)
        path_calls = _path_calls(tf, path, rank, flat_outputs, self._point_gradients, xla)
        signature = [tuple(instances for _ in path.row_fields), indices, positions, vector, chosen]

        def compiled(branches, mode):
            def call(row_tensors, point_rows, alphas, weights, targets):
                return path_calls(row_tensors, point_rows, alphas, weights, targets, branches, mode)

            return tf.function(call, input_signature=signature, jit_compile=jit)

        # traced on first use: a run uses one or two of these
        self._compiled = {(b, mode): compiled(b, mode) for b in range(1, self.branches + 1) for mode in MODES if mode != "values"}
        self._compiled[1, "values"] = compiled(1, "values")

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """All of the model's output values per instance, flattened: [G, M]."""
        return self._outputs(self._tf.constant(x, self._tf.float32)).numpy()

    def call(self, row_tensors: tuple, point_rows, alphas, weights, targets, mode: str = "sums"):
        """One call, in as many branches as it has points (at most self.branches)."""
        branches = 1 if mode == "values" else max(1, min(self.branches, int(point_rows.shape[0])))
        return self._compiled[branches, mode](row_tensors, point_rows, alphas, weights, targets)

    def weighted_sums(self, rows: PathRows) -> tuple[np.ndarray, np.ndarray]:
        """-> (attributions [R, K, ...] float32, the targets' values F at every point [P, K])."""
        results, values = self._row_sums(rows, "sums")
        return results[0], values

    def weighted_pair(self, rows: PathRows) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """-> (attributions [R, K, ...] with rows.weights, the same with rows.coarse, F at every
        point [P, K], dF/dalpha at every point [P, K]): one gradient per point, two sums."""
        results, values = self._row_sums(rows, "pair")
        return results[0], results[1], values[:, : self.targets], values[:, self.targets :]

    def _row_sums(self, rows: PathRows, mode: str) -> tuple[np.ndarray, np.ndarray]:
        """-> (the rows' sums [C, R, K, ...]: C = 1, or 2 in mode "pair"; F at every point [P, K])."""
        results = np.zeros((1, 0, self.targets), np.float32)  # no rows, no calls; else the first call's shape
        filled = np.zeros(len(rows.targets), bool)
        values = np.zeros((len(rows.point_rows), self.targets * (2 if mode == "pair" else 1)), np.float32)
        for start, stop, first, last, part, part_values in self._calls(rows, mode):
            part = part if mode == "pair" else part[None]
            if start == 0:
                results = np.zeros((len(part), len(rows.targets), *part.shape[2:]), part.dtype)
            # A row met for the first time takes its sum as computed (bit for bit, signed zeros
            # included); a row sliced over several calls adds the later slices to it.
            fresh = ~filled[first:last]
            block = results[:, first:last]
            block[:, fresh] = part[:, fresh]
            block[:, ~fresh] += part[:, ~fresh]
            filled[first:last] = True
            values[start:stop] = part_values
        return results, values

    def point_contributions(self, rows: PathRows, mode: str = "points") -> tuple[np.ndarray, np.ndarray]:
        """Each point's own result instead of the rows' sums: its finished contribution
        (mode "points"; for the straight line w_k (x - x') dF/dx), or the share of each feature
        in |dF/dx|^2 (mode "idgi"). -> ([P, K, ...] float32, F at every point [P, K])."""
        results = np.zeros((0, self.targets), np.float32)  # no points, no calls; else the first call's shape
        values = np.zeros((len(rows.point_rows), self.targets), np.float32)
        for start, stop, _, _, part, part_values in self._calls(rows, mode):
            if start == 0:
                results = np.zeros((len(rows.point_rows), *part.shape[1:]), part.dtype)
            results[start:stop] = part
            values[start:stop] = part_values
        return results, values

    def path_values(self, rows: PathRows) -> np.ndarray:
        """F at the rows' path points, forward passes only: [P, K]."""
        values = np.zeros((len(rows.point_rows), self.targets), np.float32)
        for start, stop, _, _, part, _ in self._calls(rows, "values"):
            values[start:stop] = part
        return values

    def _calls(self, rows: PathRows, mode: str):
        """Run every call of `rows`, yielding (first point, end point, first row, end row, the
        call's results, its values) as numpy."""
        tf = self._tf
        tensors = [np.asarray(rows.tensors[name], np.float32) for name in self.path.row_fields]
        point_rows = np.asarray(rows.point_rows, np.int32)
        alphas = np.asarray(rows.alphas, np.float64)
        columns = [rows.weights] if rows.coarse is None or mode != "pair" else [rows.weights, rows.coarse]
        weights = np.stack([np.asarray(column, np.float32) for column in columns], axis=1)  # [P, 1 or 2]
        targets = np.asarray(rows.targets, np.int32).reshape(len(rows.targets), -1)
        start = 0
        while start < len(point_rows):
            stop = _call_end(point_rows, start, self.batch_size)
            first, last = point_rows[start], point_rows[stop - 1] + 1
            try:
                out = self.call(
                    tuple(tf.constant(t[first:last]) for t in tensors),
                    tf.constant(point_rows[start:stop] - first),
                    tf.constant(alphas[start:stop]),
                    tf.constant(weights[start:stop]),
                    tf.constant(targets[first:last]),
                    mode,
                )
            except tf.errors.ResourceExhaustedError:
                if self.batch_size == 1:
                    raise
                self.batch_size //= 2  # out of memory: halve and redo this call
                continue
            part, part_values = (out, None) if mode == "values" else out
            if self.on_points is not None and mode != "values":
                self.on_points(stop - start)
            yield start, stop, first, last, part.numpy(), None if part_values is None else part_values.numpy()
            start = stop


def _with_target_axis(rows: dict) -> dict:
    """Per-row (or per-point) tensors, broadcastable against results with a K axis."""
    return {name: tensor[:, None] for name, tensor in rows.items()}


def _call_end(point_rows: np.ndarray, start: int, batch_size: int) -> int:
    """Where the call that begins at point `start` ends: whole rows while they fit in batch_size
    points; a row that does not fit is cut into equal slices, so that no call is a short remainder."""
    row = point_rows[start]
    row_start = int(np.searchsorted(point_rows, row, side="left"))
    row_end = int(np.searchsorted(point_rows, row, side="right"))
    count = row_end - row_start
    if count > batch_size:
        size = -(-count // -(-count // batch_size))
        return row_start + min(start - row_start + size, count)
    stop = row_end
    while stop < len(point_rows):
        next_end = int(np.searchsorted(point_rows, point_rows[stop], side="right"))
        if next_end - start > batch_size:
            break
        stop = next_end
    return stop
