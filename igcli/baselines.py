"""Baselines x': the 'absence of signal' each path starts from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from igcli.errors import InstanceError, UsageProblem
from igcli.optiontype import Given, ParsedOption
from igcli.seeds import instance_rng
from igcli.stores import local_copy

RANDOM_KINDS = ("uniform", "gaussian", "samples")
HELP = "zero|black|white|black+white|constant:V|uniform|gaussian:SIGMA|blur:SIGMA|samples:PATH|PATH(.npy/.npz)"
FIXED_PAIRS = {"black+white": 2}  # several fixed baselines, their attributions averaged (Vertex's XRAI default)


@dataclass(frozen=True)
class BaselineSpec(Given):
    kind: str  # zero, constant, black, white, black+white, uniform, gaussian, blur, file, samples (a reference set)
    value: float = 0.0  # constant value, or sigma
    path: Path | None = None

    @property
    def random(self) -> bool:
        return self.kind in RANDOM_KINDS


def parse_baseline(given: str) -> BaselineSpec:
    text = given.strip()
    if text in ("zero", "black", "white", "uniform", "black+white"):
        return BaselineSpec(text, text=given)
    match = re.fullmatch(r"(constant|gaussian|blur):(.+)", text)
    if match:
        kind, raw = match.groups()
        try:
            value = float(raw)
        except ValueError:
            raise UsageProblem(f"--baseline {text}: {raw!r} is not a number") from None
        if not np.isfinite(value) or (kind != "constant" and value <= 0):
            raise UsageProblem(f"--baseline {text}: {kind} needs a {'finite' if kind == 'constant' else 'positive'} number")
        return BaselineSpec(kind, value, text=given)
    if text.startswith("samples:"):
        path = local_copy(text[len("samples:") :], "reference set")
        if not path.exists():
            raise UsageProblem(f"--baseline {text}: no such reference set (a folder of images or an .npy/.npz file)")
        return BaselineSpec("samples", path=path, text=given)
    if text.endswith((".npy", ".npz")):
        path = local_copy(text, "baseline")
        if not path.is_file():
            raise UsageProblem(f"--baseline {text}: no such file")
        return BaselineSpec("file", path=path, text=given)
    raise UsageProblem(f"--baseline {text!r}: expected {HELP}")


BASELINE = ParsedOption("baseline", parse_baseline, BaselineSpec)  # --baseline


def load_baseline_file(path: Path, layout: list | None = None) -> np.ndarray:
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile) and layout and all(name in data.files for name, _ in layout):
            return _flatten_per_input(path, data, layout)
        if isinstance(data, np.lib.npyio.NpzFile):
            if len(data.files) != 1:
                raise UsageProblem(f"{path}: a baseline .npz must hold exactly one array, it holds {len(data.files)}")
            data = data[data.files[0]]
    except (OSError, ValueError) as error:
        raise UsageProblem(f"{path}: not a readable baseline array ({error})") from None
    if not np.issubdtype(data.dtype, np.number) or not np.all(np.isfinite(data)):
        raise UsageProblem(f"{path}: baseline must be finite numbers")
    return data.astype(np.float32)


def _flatten_per_input(path: Path, data, layout: list) -> np.ndarray:
    """One array per model input (each one baseline, or one per instance) -> flat rows."""
    parts = []
    for name, shape in layout:
        array = data[name].astype(np.float32)
        if tuple(array.shape) == tuple(shape):
            array = array[None]
        elif tuple(array.shape[1:]) != tuple(shape):
            raise UsageProblem(f"{path}: baseline {name!r} of shape {array.shape} fits neither one input {tuple(shape)} nor one per input")
        parts.append(array.reshape(len(array), -1))
    if len({len(p) for p in parts}) != 1:
        raise UsageProblem(f"{path}: the per-input baselines hold different numbers of rows")
    flat = np.concatenate(parts, axis=1)
    return flat[0] if len(flat) == 1 else flat


class Baselines:
    """Makes [G, K, ...] baselines for a group of inputs; random kinds are seeded per instance so
    the result does not depend on batching or on which instances run together."""

    def __init__(
        self,
        spec: BaselineSpec,
        *,
        samples: int,
        seed: int,
        value_range: tuple,  # (low, high): the model-input values of black and white (Preprocess.value_range)
        input_shape: tuple,
        count: int | None,
        layout: list | None = None,
        reference=None,
    ):
        """reference: for samples:PATH, the reference set (data.reference.ReferenceSet)."""
        self.spec = spec
        self.samples = samples if spec.random else FIXED_PAIRS.get(spec.kind, 1)
        self.seed = seed
        self.low, self.high = value_range
        self.per_instance = None
        self.single = None
        self.reference = reference
        if spec.kind == "file" and spec.path is not None:
            data = load_baseline_file(spec.path, layout)
            if _fits(data.shape, input_shape):
                self.single = data
            elif data.ndim == len(input_shape) + 1 and _fits(data.shape[1:], input_shape):
                if count is not None and len(data) != count:
                    raise UsageProblem(f"{spec.path}: {len(data)} baselines for {count} inputs")
                self.per_instance = data
            else:
                raise UsageProblem(f"{spec.path}: baseline shape {data.shape} fits neither one input {tuple(input_shape)} nor one per input")
        if spec.kind == "blur" and len(input_shape) not in (2, 3):
            raise UsageProblem(f"--baseline blur needs image inputs (H, W[, C]); inputs are {tuple(input_shape)}")

    def make(self, x: np.ndarray, indices: np.ndarray, ids: list[str]) -> np.ndarray:
        """x [G, ...], their positions in the input and ids -> baselines [G, K, ...]."""
        kind, k = self.spec.kind, self.samples
        shape = (len(x), k, *x.shape[1:])
        if kind == "zero":
            return np.zeros(shape, np.float32)
        if kind == "black+white":  # one path from black, one from white: their attributions averaged
            return np.concatenate([np.full((len(x), 1, *x.shape[1:]), value, np.float32) for value in (self.low, self.high)], axis=1)
        if kind in ("constant", "black", "white"):
            value = {"constant": self.spec.value, "black": self.low, "white": self.high}[kind]
            return np.full(shape, value, np.float32)
        if kind == "blur":
            return np.stack([gaussian_blur(image, self.spec.value) for image in x])[:, None].astype(np.float32)
        if kind == "file":
            if self.single is not None:
                return np.broadcast_to(self.single, shape).astype(np.float32)
            per_instance = self.per_instance
            assert per_instance is not None  # __init__ took the file as one baseline or one per input
            if indices.max() >= len(per_instance):  # a CSV longer than the baseline file
                raise InstanceError(f"no baseline for row {indices.max()} in {self.spec.path} ({len(per_instance)} baselines)")
            return per_instance[indices][:, None].astype(np.float32)
        out = np.empty(shape, np.float32)
        for row, (image, ident) in enumerate(zip(x, ids)):
            rng = instance_rng(self.seed, ident, "baseline")
            if kind == "samples":  # expected gradients: K draws from the reference set, with replacement
                out[row] = self.reference.get(rng.integers(0, len(self.reference), size=k))
            elif kind == "uniform":
                out[row] = rng.uniform(self.low, self.high, size=(k, *x.shape[1:]))
            else:  # gaussian: the input plus noise, kept in the input's range
                noise = rng.normal(0.0, self.spec.value, size=(k, *x.shape[1:]))
                out[row] = np.clip(image[None] + noise, self.low, self.high)
        return out


def _fits(shape: tuple, input_shape: tuple) -> bool:
    return len(shape) == len(input_shape) and all(d is None or d == s for s, d in zip(shape, input_shape))


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur over the two spatial axes (H, W), edges reflected."""
    radius = max(1, int(np.ceil(3 * sigma)))
    taps = np.arange(-radius, radius + 1)
    kernel = np.exp(-(taps**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    out = image.astype(np.float64)
    for axis in (0, 1):
        # reflect needs the axis longer than the radius; edge padding is the fallback for tiny images
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect") if out.shape[axis] > radius else np.pad(out, pad, mode="edge")
        length = out.shape[axis]
        out = sum(w * np.take(padded, np.arange(i, i + length), axis=axis) for i, w in enumerate(kernel))
    return out
