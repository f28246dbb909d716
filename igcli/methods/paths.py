"""Paths from a baseline to the input, as the gradient core builds them (see core.Path)."""

from __future__ import annotations


class StraightLine:
    """x' + alpha (x - x'): the velocity x - x' is the same at every point, so it multiplies the
    row's weighted gradient sum once, after the sum (Sundararajan et al. 2017)."""

    row_fields: tuple[str, ...] = ("start", "delta")

    def row_tensors(self, x, baselines) -> dict:
        return {"start": baselines, "delta": x - baselines}

    def points(self, rows: dict, alphas):
        from igcli.tfimport import tensorflow

        return rows["start"] + tensorflow().cast(alphas, "float32") * rows["delta"]

    def velocity(self, rows: dict, alphas):
        return None  # x - x' everywhere: it multiplies the sum once, in finish

    def finish(self, sums, rows: dict):
        return rows["delta"] * sums


class GivenPoints:
    """Points the caller computed (Guided IG chooses each step from the last gradient): the core
    only differentiates them; finish returns the weighted gradients themselves."""

    row_fields: tuple[str, ...] = ("point",)

    def row_tensors(self, x, baselines) -> dict:
        return {"point": x}  # the points are the inputs themselves

    def points(self, rows: dict, alphas):
        return rows["point"]

    def velocity(self, rows: dict, alphas):
        return None

    def finish(self, sums, rows: dict):
        return sums


class BlurPath:
    """Blur IG's path (Xu et al. 2020): from the input blurred by a Gaussian of max_sigma
    (alpha = 0) to the input itself (alpha = 1), sigma = (1 - alpha) max_sigma, blurring the two
    spatial axes as scipy.ndimage.gaussian_filter(mode="constant") does: outside the image is 0,
    the kernel is cut at int(4 sigma + 0.5) pixels and normalised over its own taps. Each blur is a
    pair of matrix products, K_H x K_W^T, with K built per point inside the compiled function.

    Its velocity d(point)/d(alpha) = -max_sigma d(blur)/d(sigma): exact (the kernels' derivative),
    or, with finite_step, PAIR saliency's forward difference (blur(sigma + step) - blur(sigma)) / step."""

    row_fields: tuple[str, ...] = ("x",)

    def __init__(self, max_sigma: float, image_shape: tuple, finite_step: float | None = None):
        if len(image_shape) != 3:
            raise ValueError(f"blur needs image inputs (H, W, C); inputs are {tuple(image_shape)}")
        self.max_sigma = float(max_sigma)
        self.height, self.width = int(image_shape[0]), int(image_shape[1])
        self.finite_step = finite_step
        self.radius = int(4 * (self.max_sigma + (finite_step or 0)) + 0.5) + 1  # the widest kernel's taps
        # the forward difference subtracts two nearly equal blurs: float64 keeps its digits
        self.dtype = "float64" if finite_step else "float32"

    def _sigmas(self, alphas):
        from igcli.tfimport import tensorflow

        tf = tensorflow()
        return tf.cast(tf.reshape(1.0 - alphas, [-1]) * self.max_sigma, self.dtype)

    def _kernels(self, sigma, length: int, derivative: bool = False):
        """[p, length, length] blur matrices for the sigmas [p] (or their d/d sigma)."""
        from igcli.tfimport import tensorflow

        tf = tensorflow()
        taps = tf.cast(tf.range(-self.radius, self.radius + 1), self.dtype)
        s = tf.maximum(sigma, 1e-12)[:, None]
        inside = tf.cast(tf.abs(taps)[None] <= tf.floor(4 * s + 0.5), self.dtype)
        weights = tf.exp(-0.5 * tf.square(taps)[None] / tf.square(s)) * inside
        kernel = weights / tf.reduce_sum(weights, axis=1, keepdims=True)  # [p, taps]
        offsets = tf.range(length)[:, None] - tf.range(length)[None, :]
        index = tf.clip_by_value(offsets + self.radius, 0, 2 * self.radius)
        valid = tf.cast(tf.abs(offsets) <= self.radius, self.dtype)
        matrix = tf.gather(kernel, index, axis=1) * valid  # [p, L, L]
        if derivative:  # d k_t / d sigma = k_t (t^2 - sum_u k_u u^2) / sigma^3
            spread = tf.reduce_sum(kernel * tf.square(taps)[None], axis=1)[:, None, None]
            squared = tf.cast(tf.square(offsets), self.dtype)[None]
            matrix = matrix * (squared - spread) / tf.pow(s[:, :, None], 3)
            return tf.where(sigma[:, None, None] > 1e-12, matrix, tf.zeros_like(matrix))
        identity = tf.eye(length, dtype=self.dtype)[None]
        return tf.where(sigma[:, None, None] > 1e-12, matrix, identity)

    def _blur(self, x, sigma, derivative: bool = False):
        from igcli.tfimport import tensorflow

        tf = tensorflow()
        x = tf.cast(x, self.dtype)
        rows, columns = self._kernels(sigma, self.height), self._kernels(sigma, self.width)
        if not derivative:
            return tf.einsum("pwk,phkc->phwc", columns, tf.einsum("phk,pkwc->phwc", rows, x))
        d_rows, d_columns = self._kernels(sigma, self.height, True), self._kernels(sigma, self.width, True)
        return tf.einsum("pwk,phkc->phwc", columns, tf.einsum("phk,pkwc->phwc", d_rows, x)) + tf.einsum(
            "pwk,phkc->phwc", d_columns, tf.einsum("phk,pkwc->phwc", rows, x)
        )

    def row_tensors(self, x, baselines) -> dict:
        return {"x": x}  # the path starts from x blurred: no baseline

    def points(self, rows: dict, alphas):
        from igcli.tfimport import tensorflow

        return tensorflow().cast(self._blur(rows["x"], self._sigmas(alphas)), "float32")

    def velocity(self, rows: dict, alphas):
        from igcli.tfimport import tensorflow

        tf = tensorflow()
        sigma = self._sigmas(alphas)
        if self.finite_step:
            slope = (self._blur(rows["x"], sigma + self.finite_step) - self._blur(rows["x"], sigma)) / self.finite_step
        else:
            slope = self._blur(rows["x"], sigma, derivative=True)
        return tf.cast(-self.max_sigma * slope, "float32")

    def finish(self, sums, rows: dict):
        return sums
