"""Image inputs: one image, a folder (recursive, sorted) or a glob, decoded a batch at a time in
threads; every PIL mode converted to the model's channels, resized to its input size."""

from __future__ import annotations

import glob
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from igcli.cpus import usable_cpus
from igcli.data.batch import Batch, content_hash
from igcli.data.ids import image_ids
from igcli.data.preprocess import Preprocess
from igcli.errors import UsageProblem
from igcli.optiontype import Given, ParsedOption

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
COLORS = ("auto", "rgb", "grayscale")
FITS = ("stretch", "crop", "pad")  # --fit: how an image of other proportions meets the model's input
DEFAULT_MAX_PIXELS = 50_000_000  # larger images are refused: a decompression bomb costs memory


@dataclass
class ImageOptions:
    color: str = "auto"
    resize: tuple[int, int] | None = None  # (H, W)
    preprocess: Preprocess = field(default_factory=Preprocess)
    max_pixels: int = DEFAULT_MAX_PIXELS
    fit: str = "stretch"


@dataclass(frozen=True)
class Resize(Given):
    """--resize HxW."""

    height: int
    width: int


def parse_resize(text: str) -> Resize:
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise UsageProblem(f"--resize {text!r}: expected HxW, e.g. 224x224")
    return Resize(int(match.group(1)), int(match.group(2)), text=text)


RESIZE = ParsedOption("HxW", parse_resize, Resize)  # --resize


class ImageInputs:
    """One image, a folder (recursive, sorted) or a glob; decoded a batch at a time, in threads."""

    def __init__(self, root: Path, files: list[Path], relative: list[str], skipped: list[Path], model_shape: tuple, options: ImageOptions):
        self.path = root
        self.files = files
        self.ids = image_ids(relative)
        self.skipped = skipped  # files in a folder that are not images (by name): reported
        self.count = len(files)
        self.options = options
        self.channels, self.size = _image_geometry(root, model_shape, options)
        self.instance_shape = (*self.size, self.channels)

    def batches(self, size: int) -> Iterator[Batch]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(4, usable_cpus())) as pool:
            for start in range(0, self.count, size):
                indices = np.arange(start, min(start + size, self.count))
                decoded = list(pool.map(self.decode, indices))
                sources = [str(self.files[i]) for i in indices]
                yield image_batch(indices, [self.ids[i] for i in indices], sources, decoded, self.instance_shape, self.options.preprocess)

    def decode(self, index: int):
        """Image `index` of the input order -> decode_image's (pixels, error, original size, hash)."""
        try:
            data = self.files[index].read_bytes()
        except OSError as error:
            return None, f"cannot read the file ({error.strerror or error})", "", ""
        return decode_image(data, self.channels, self.size, self.options)


def image_batch(indices, ids: list[str], sources: list[str], decoded: list, shape: tuple, preprocess: Preprocess) -> Batch:
    """Decoded images (decode_image's tuples, in order) -> a Batch of model inputs of `shape`;
    the rows that failed hold zeros and their reason. A cluster worker builds its groups the same way."""
    pixels = np.zeros((len(decoded), *shape), np.float32)
    errors, extras = [], []
    for row, (image, error, original_size, digest) in enumerate(decoded):
        errors.append(error)
        extras.append({"original_size": original_size, "hash": digest})
        if image is not None:
            pixels[row] = image
    arrays = preprocess.apply(pixels)
    arrays[[e is not None for e in errors]] = 0
    return Batch(np.asarray(indices), list(ids), list(sources), arrays, errors, extras)


def decode_image(data: bytes, channels: int, size: tuple[int, int], options: ImageOptions):
    """An image file's bytes -> (pixels float32 [H, W, channels] in 0..255 or None, why it failed
    or None, its original 'WxH', its content hash). Readers that get bytes elsewhere (a cluster
    worker) decode exactly as a local run does."""
    from PIL import Image, UnidentifiedImageError

    original = ""
    digest = content_hash(data)
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            original = f"{width}x{height}"
            if width * height > options.max_pixels:
                return None, f"{original} pixels exceeds the limit of {options.max_pixels} (--max-pixels)", original, digest
            image.seek(0)  # animated GIF/WebP/TIFF: the first frame
            pixels = _to_channels(image, channels, grey=options.color == "grayscale")
            if (height, width) != tuple(size):
                pixels = _resize(_fit(pixels, size, options.fit), size)
            return pixels, None, original, digest
    except (UnidentifiedImageError, Image.DecompressionBombError) as error:
        return None, f"not a readable image ({type(error).__name__})", original, digest
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        return None, f"corrupt or truncated image ({' '.join(str(error).split())[:200]})", original, digest


def _image_geometry(root: Path, model_shape: tuple, options: ImageOptions) -> tuple[int, tuple[int, int]]:
    if len(model_shape) != 3 or model_shape[-1] not in (1, 3):
        raise UsageProblem(f"{root}: images need a model input of shape (H, W, 1 or 3); this model takes {model_shape}")
    channels = model_shape[-1]
    if options.color == "rgb" and channels == 1:
        raise UsageProblem("--color rgb: the model takes 1-channel (grayscale) images")
    size = options.resize or (model_shape[0], model_shape[1])
    if size[0] is None or size[1] is None:
        raise UsageProblem(f"{root}: the model accepts any image size; choose one with --resize HxW")
    if options.resize and model_shape[0] is not None and tuple(options.resize) != (model_shape[0], model_shape[1]):
        raise UsageProblem(f"--resize {options.resize[0]}x{options.resize[1]}: the model takes {model_shape[0]}x{model_shape[1]} images")
    return channels, (int(size[0]), int(size[1]))


def _to_channels(image, channels: int, grey: bool = False) -> np.ndarray:
    """Any PIL mode (L, P, RGBA, CMYK, 16-bit, ...) -> float32 [H, W, channels] in 0..255.
    grey (--color grayscale): luminance (ITU-R 601-2, as PIL's "L"), copied to every channel."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        wide = np.asarray(image, dtype=np.float32)
        wide = wide / 257.0 if wide.max(initial=0) > 255 or image.mode.startswith("I;16") else wide
        pixels = wide[..., None]
    elif image.mode == "F":
        pixels = np.asarray(image, dtype=np.float32)[..., None]
    elif channels == 1 or grey:
        pixels = np.asarray(image.convert("L"), dtype=np.float32)[..., None]
    else:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    if pixels.shape[-1] != channels:
        pixels = np.repeat(pixels, channels, axis=-1) if pixels.shape[-1] == 1 else pixels.mean(axis=-1, keepdims=True)
    return np.clip(pixels, 0, 255)


def _fit(pixels: np.ndarray, size: tuple[int, int], fit: str) -> np.ndarray:
    """--fit crop: the largest centred region of the model's proportions; pad: black borders
    around the whole image (black is also the default baseline: they add no attribution)."""
    height, width = pixels.shape[:2]
    if fit == "stretch" or not changes_aspect(f"{width}x{height}", size):
        return pixels
    want = size[1] / size[0]  # width / height
    if fit == "crop":
        if width / height > want:
            keep = max(1, round(height * want))
            return pixels[:, (width - keep) // 2 : (width - keep) // 2 + keep]
        keep = max(1, round(width / want))
        return pixels[(height - keep) // 2 : (height - keep) // 2 + keep]
    new_height, new_width = (height, round(height * want)) if width / height < want else (round(width / want), width)
    padded = np.zeros((new_height, new_width, pixels.shape[-1]), np.float32)
    top, left = (new_height - height) // 2, (new_width - width) // 2
    padded[top : top + height, left : left + width] = pixels
    return padded


def changes_aspect(original: str, size: tuple[int, int]) -> bool:
    """Whether an image of `original` ('WxH') stretched to size (H, W) changes its proportions
    by more than 1% (a 1-pixel rounding does not count)."""
    try:
        width, height = (int(v) for v in original.split("x"))
    except ValueError:
        return False
    return abs((width / height) / (size[1] / size[0]) - 1) > 0.01


def _resize(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    # Per channel in float mode, so 16-bit precision and any channel count survive the resize.
    channels = [np.asarray(Image.fromarray(pixels[..., c]).resize((size[1], size[0]), Image.Resampling.BILINEAR)) for c in range(pixels.shape[-1])]
    return np.stack(channels, axis=-1).astype(np.float32)


def list_images(path: Path) -> tuple[Path, list[Path], list[str], list[Path]]:
    """(root, image files, their ids' raw form, skipped non-image files), sorted."""
    text = str(path)
    if path.is_file():
        return path.parent, [path], [path.name], []
    if path.is_dir():
        everything = sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
        root = path
    else:  # a glob, e.g. 'photos/*.jpg' or 'photos/**/*.png'
        wildcard = re.search(r"[*?\[]", text)
        root = Path(text[: wildcard.start() if wildcard else len(text)] or ".")
        root = root if root.is_dir() else root.parent
        everything = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
    images = [p for p in everything if p.suffix.lower() in IMAGE_SUFFIXES]
    skipped = [p for p in everything if p.suffix.lower() not in IMAGE_SUFFIXES]
    return root, images, [p.relative_to(root).as_posix() for p in images], skipped
