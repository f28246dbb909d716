"""SmoothGrad (Smilkov et al. 2017): the attributions averaged over N noisy copies of the input,
each the input plus Gaussian noise of standard deviation SIGMA times the input's value range
(its largest minus its smallest value, as PAIR saliency's GetSmoothedMask takes it). The noise is
seeded per instance from --seed and the instance's id."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from igcli.seeds import instance_rng


@dataclass(frozen=True)
class Smoothing:
    copies: int
    noise: float  # a fraction of each input's value range
    seed: int = 0
    squared: bool = False  # average the squares of the attributions (SmoothGrad-Squared)
    absolute: bool = False  # --noise-units input: noise is the standard deviation itself (Vertex's noiseSigma)

    def make(self, x: np.ndarray, ids: list[str]) -> np.ndarray:
        """x [G, ...] -> noisy copies [G, N, ...]."""
        out = np.empty((len(x), self.copies, *x.shape[1:]), np.float32)
        for row, (image, ident) in enumerate(zip(x, ids)):
            sigma = self.noise if self.absolute else self.noise * float(image.max() - image.min())
            rng = instance_rng(self.seed, ident, "noise")
            out[row] = image[None] + rng.normal(0.0, sigma, size=(self.copies, *image.shape))
        return out
