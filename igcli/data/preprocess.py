"""How pixels (0..255) become model inputs, and back for display: --scale, --mean, --std."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from igcli.errors import UsageProblem
from igcli.optiontype import Given, ParsedOption

SCALES = ("0..1", "-1..1", "0..255", "imagenet-caffe", "imagenet-torch")
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)
_TORCH_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_TORCH_STD = np.array([0.229, 0.224, 0.225], np.float32)


@dataclass(frozen=True)
class Floats(Given):
    """--mean, --std: one number per channel (or one for all)."""

    values: tuple[float, ...]

    def array(self) -> np.ndarray:
        return np.array(self.values, np.float32)


def float_list(option: str) -> ParsedOption:
    """The type of an option of comma-separated finite numbers (--mean, --std)."""

    def parse(text: str) -> Floats:
        try:
            values = np.array([float(v) for v in text.split(",")], np.float32)
        except ValueError:
            raise UsageProblem(f"{option} {text!r}: expected numbers separated by commas") from None
        if not np.all(np.isfinite(values)):
            raise UsageProblem(f"{option} {text!r}: values must be finite")
        return Floats(tuple(float(v) for v in values), text=text)

    return ParsedOption("X,Y,Z", parse, Floats)


@dataclass
class Preprocess:
    scale: str = "0..1"
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    def __post_init__(self):
        if self.scale not in SCALES:
            raise UsageProblem(f"--scale {self.scale!r}: choose one of {', '.join(SCALES)}")
        if self.std is not None and np.any(self.std == 0):
            raise UsageProblem("--std: values must be non-zero")

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """pixels: float32 [..., H, W, C] in 0..255 (RGB order) -> model input."""
        x = pixels.astype(np.float32)
        channels = x.shape[-1]
        if self.scale == "0..1":
            x = x / 255.0
        elif self.scale == "-1..1":
            x = x / 127.5 - 1.0
        elif self.scale == "imagenet-caffe":
            x = x[..., ::-1] - _CAFFE_MEAN_BGR[:channels] if channels == 3 else x - _CAFFE_MEAN_BGR.mean()
        elif self.scale == "imagenet-torch":
            x = (x / 255.0 - _TORCH_MEAN[:channels]) / _TORCH_STD[:channels] if channels == 3 else (x / 255.0 - _TORCH_MEAN.mean()) / _TORCH_STD.mean()
        if self.mean is not None:
            x = x - self.mean
        if self.std is not None:
            x = x / self.std
        return x.astype(np.float32)

    def to_pixels(self, x: np.ndarray) -> np.ndarray:
        """The inverse of apply: model input -> 0..255 RGB floats, to show what the model saw."""
        x = x.astype(np.float32)
        channels = x.shape[-1]
        if self.std is not None:
            x = x * self.std
        if self.mean is not None:
            x = x + self.mean
        if self.scale == "0..1":
            x = x * 255.0
        elif self.scale == "-1..1":
            x = (x + 1.0) * 127.5
        elif self.scale == "imagenet-caffe":
            x = (x + _CAFFE_MEAN_BGR[:channels])[..., ::-1] if channels == 3 else x + _CAFFE_MEAN_BGR.mean()
        elif self.scale == "imagenet-torch":
            x = (x * _TORCH_STD[:channels] + _TORCH_MEAN[:channels]) * 255.0 if channels == 3 else (x * _TORCH_STD.mean() + _TORCH_MEAN.mean()) * 255.0
        return x

    def value_range(self, shape: tuple) -> tuple[np.ndarray, np.ndarray]:
        """The model-input values of black (all 0) and white (all 255) pixels, per element."""
        channels = shape[-1] if len(shape) == 3 and shape[-1] in (1, 3) else 1
        black = self.apply(np.zeros((1, 1, channels), np.float32))
        white = self.apply(np.full((1, 1, channels), 255.0, np.float32))
        if len(shape) != 3:  # arrays and tables: the declared range, as scalars
            return black.reshape(-1)[:1].reshape(()), white.reshape(-1)[:1].reshape(())
        return black, white
