"""Input readers. Each turns INPUTS into a stream of Batch objects, so memory stays flat in the
number of instances; image folders and CSV tables plug in as further readers of the same shape."""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np

from igcli.errors import UsageProblem
from igcli.ids import UniqueIds, image_ids, safe_id
from igcli.preprocess import Preprocess


@dataclass
class Batch:
    indices: np.ndarray  # each instance's position in the input order
    ids: list[str]
    sources: list[str]
    arrays: np.ndarray  # [b, ...] float32; rows that failed to read hold zeros
    errors: list[str | None] = field(default_factory=list)  # per instance: why it cannot be used
    extras: list[dict] = field(default_factory=list)  # per instance: original_size, label, ...

    def __post_init__(self):
        if not self.errors:
            self.errors = [None] * len(self.ids)
        if not self.extras:
            self.extras = [{} for _ in self.ids]


class InputSource(Protocol):
    path: Path
    count: int | None  # None when not known before reading (a stream)
    instance_shape: tuple

    def batches(self, size: int) -> Iterator[Batch]: ...


class ArrayInputs:
    """A .npy file or one array of a .npz file: instance i is row i, its id is str(i)."""

    def __init__(self, path: Path, key: str | None):
        self.path = path
        try:
            if path.suffix.lower() == ".npy":
                # mmap: rows are read as batches ask for them, not all at once
                self.array = np.load(path, mmap_mode="r", allow_pickle=False)
                self.label = path.name
            else:
                archive = np.load(path, allow_pickle=False)
                if key is None:  # the only array, else the one named x
                    key = archive.files[0] if len(archive.files) == 1 else "x"
                if key not in archive.files:
                    raise UsageProblem(f"{path}: no array {key!r} (arrays: {', '.join(archive.files) or 'none'}); choose with --key")
                self.array = archive[key]
                self.label = f"{path.name}:{key}"
        except UsageProblem:
            raise
        except (OSError, ValueError, EOFError) as error:
            raise UsageProblem(f"{path}: not a readable {path.suffix} array file ({error})") from None
        if self.array.ndim < 2:
            raise UsageProblem(f"{path}: array of shape {self.array.shape}; expected [instances, ...features]")
        if not (np.issubdtype(self.array.dtype, np.number) or self.array.dtype == bool):
            raise UsageProblem(f"{path}: array of dtype {self.array.dtype}; expected numbers")
        self.count = len(self.array)
        self.instance_shape = tuple(self.array.shape[1:])

    def batches(self, size: int) -> Iterator[Batch]:
        for start in range(0, self.count, size):
            rows = np.array(self.array[start : start + size], dtype=np.float32)  # a writable copy
            yield _array_batch(start, rows, self.label)


class MultiArrayInputs:
    """An .npz with one array per model input (keys = input names), served as one flat row per
    instance: the inputs flattened and concatenated in the model's order."""

    def __init__(self, path: Path, layout: list):
        self.path = path
        try:
            archive = np.load(path, allow_pickle=False)
            missing = [name for name, _ in layout if name not in archive.files]
            if missing:
                raise UsageProblem(f"{path}: no array for input(s) {', '.join(missing)} (arrays: {', '.join(archive.files) or 'none'})")
            self.arrays = [archive[name] for name, _ in layout]
        except (OSError, ValueError, EOFError) as error:
            raise UsageProblem(f"{path}: not a readable .npz file ({error})") from None
        for (name, shape), array in zip(layout, self.arrays):
            if tuple(array.shape[1:]) != tuple(shape):
                raise UsageProblem(f"{path}: array {name!r} has instances of shape {tuple(array.shape[1:])}; the model's input {name!r} takes {tuple(shape)}")
        counts = {len(array) for array in self.arrays}
        if len(counts) != 1:
            raise UsageProblem(f"{path}: the arrays hold different numbers of instances ({', '.join(str(len(a)) for a in self.arrays)})")
        self.count = counts.pop()
        self.instance_shape = (sum(int(np.prod(shape)) for _, shape in layout),)

    def batches(self, size: int) -> Iterator[Batch]:
        for start in range(0, self.count, size):
            parts = [np.asarray(a[start : start + size], np.float32).reshape(min(size, self.count - start), -1) for a in self.arrays]
            yield _array_batch(start, np.concatenate(parts, axis=1), self.path.name)


def _array_batch(start: int, rows: np.ndarray, label: str) -> Batch:
    """Rows start.. of an array file: ids are row indices; a row with NaN/Inf fails alone."""
    indices = np.arange(start, start + len(rows))
    finite = np.isfinite(rows.reshape(len(rows), -1)).all(axis=1)
    errors = [None if ok else "input holds NaN or Inf values" for ok in finite]
    extras = [{"hash": _digest(row.tobytes())} for row in rows]
    rows[~finite] = 0
    return Batch(indices, [str(i) for i in indices], [f"{label}[{i}]" for i in indices], rows, errors, extras)


def open_inputs(path: str | Path, *, model_shape: tuple, key: str | None = None, images: ImageOptions | None = None, table: TableOptions | None = None, layout: list | None = None) -> InputSource:
    text = str(path)
    path = Path(path)
    suffix = path.suffix.lower()
    is_glob = not path.exists() and re.search(r"[*?\[]", text) is not None
    if not path.exists() and not is_glob:
        raise UsageProblem(f"{path}: no such input file or folder")
    if layout:
        if not (path.is_file() and suffix == ".npz"):
            raise UsageProblem(f"{path}: a model with several inputs ({', '.join(n for n, _ in layout)}) reads an .npz with one array per input")
        return MultiArrayInputs(path, layout)
    if path.is_file() and suffix in (".npy", ".npz"):
        return ArrayInputs(path, key)
    if path.is_file() and suffix == ".csv":
        return CsvInputs(path, table or TableOptions())
    if path.is_file() and suffix not in IMAGE_SUFFIXES:
        raise UsageProblem(f"{path}: unsupported input {suffix or 'file'!r}; expected an image, a folder, a glob, .npy, .npz or .csv")
    root, files, relative, skipped = _list_images(path)
    if not files:
        raise UsageProblem(f"{path}: no images found ({', '.join(IMAGE_SUFFIXES)})")
    return ImageInputs(root, files, relative, skipped, model_shape, images or ImageOptions())


# --- images -------------------------------------------------------------------------------------

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
COLORS = ("auto", "rgb", "grayscale")
DEFAULT_MAX_PIXELS = 50_000_000  # larger images are refused: a decompression bomb costs memory


@dataclass
class ImageOptions:
    color: str = "auto"
    resize: tuple[int, int] | None = None  # (H, W)
    preprocess: Preprocess = field(default_factory=Preprocess)
    max_pixels: int = DEFAULT_MAX_PIXELS


def parse_resize(text: str | None) -> tuple[int, int] | None:
    if text is None or str(text).strip() == "":
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise UsageProblem(f"--resize {text!r}: expected HxW, e.g. 224x224")
    return int(match.group(1)), int(match.group(2))


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

        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            for start in range(0, self.count, size):
                indices = np.arange(start, min(start + size, self.count))
                decoded = list(pool.map(self._decode, indices))
                pixels = np.zeros((len(indices), *self.instance_shape), np.float32)
                errors, extras = [], []
                for row, (image, error, original_size, digest) in enumerate(decoded):
                    errors.append(error)
                    extras.append({"original_size": original_size, "hash": digest})
                    if image is not None:
                        pixels[row] = image
                arrays = self.options.preprocess.apply(pixels)
                arrays[[e is not None for e in errors]] = 0
                yield Batch(indices, [self.ids[i] for i in indices], [str(self.files[i]) for i in indices], arrays, errors, extras)

    def _decode(self, index: int):
        """-> (pixels float32 [H, W, C] in 0..255 or None, why it failed or None, 'WxH', content hash)."""
        from PIL import Image, UnidentifiedImageError

        path = self.files[index]
        original = digest = ""
        try:
            data = path.read_bytes()
            digest = _digest(data)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                original = f"{width}x{height}"
                if width * height > self.options.max_pixels:
                    return None, f"{original} pixels exceeds the limit of {self.options.max_pixels} (--max-pixels)", original, digest
                image.seek(0)  # animated GIF/WebP/TIFF: the first frame
                pixels = _to_channels(image, self.channels, grey=self.options.color == "grayscale")
                if (height, width) != self.size:
                    pixels = _resize(pixels, self.size)
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
        raise UsageProblem(f"--color rgb: the model takes 1-channel (grayscale) images")
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
        grey = np.asarray(image, dtype=np.float32)
        grey = grey / 257.0 if grey.max(initial=0) > 255 or image.mode.startswith("I;16") else grey
        pixels = grey[..., None]
    elif image.mode == "F":
        pixels = np.asarray(image, dtype=np.float32)[..., None]
    elif channels == 1 or grey:
        pixels = np.asarray(image.convert("L"), dtype=np.float32)[..., None]
    else:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    if pixels.shape[-1] != channels:
        pixels = np.repeat(pixels, channels, axis=-1) if pixels.shape[-1] == 1 else pixels.mean(axis=-1, keepdims=True)
    return np.clip(pixels, 0, 255)


def _resize(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    # Per channel in float mode, so 16-bit precision and any channel count survive the resize.
    channels = [np.asarray(Image.fromarray(pixels[..., c]).resize((size[1], size[0]), Image.BILINEAR)) for c in range(pixels.shape[-1])]
    return np.stack(channels, axis=-1).astype(np.float32)


def _list_images(path: Path) -> tuple[Path, list[Path], list[str], list[Path]]:
    """(root, image files, their ids' raw form, skipped non-image files), sorted."""
    text = str(path)
    if path.is_file():
        return path.parent, [path], [path.name], []
    if path.is_dir():
        everything = sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
        root = path
    else:  # a glob, e.g. 'photos/*.jpg' or 'photos/**/*.png'
        root = Path(text[: re.search(r"[*?\[]", text).start()] or ".")
        root = root if root.is_dir() else root.parent
        everything = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
    images = [p for p in everything if p.suffix.lower() in IMAGE_SUFFIXES]
    skipped = [p for p in everything if p.suffix.lower() not in IMAGE_SUFFIXES]
    return root, images, [p.relative_to(root).as_posix() for p in images], skipped


# --- CSV tables ---------------------------------------------------------------------------------


@dataclass
class TableOptions:
    columns: list[str] | None = None
    id_column: str | None = None
    label_column: str | None = None


class CsvInputs:
    """A CSV table with a header row; one instance per row, streamed."""

    def __init__(self, path: Path, options: TableOptions):
        self.path = path
        self.options = options
        try:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                reader = csv.reader(handle)
                header = next(reader, None)
                first = next(reader, None)
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            raise UsageProblem(f"{path}: not a readable CSV file ({error})") from None
        if not header:
            raise UsageProblem(f"{path}: empty CSV file (a header row is needed)")
        self.header = [name.strip() for name in header]
        for option, name in (("--id-column", options.id_column), ("--label-column", options.label_column)):
            if name is not None and name not in self.header:
                raise UsageProblem(f"{path}: {option} {name!r} is not a column ({', '.join(self.header)})")
        excluded = {options.id_column, options.label_column}
        if options.columns:
            missing = [c for c in options.columns if c not in self.header]
            if missing:
                raise UsageProblem(f"{path}: --columns {', '.join(missing)}: no such column")
            self.features = list(options.columns)
        else:
            # features: the columns whose first value is a number, less the id and label columns
            self.features = [name for i, name in enumerate(self.header) if name not in excluded and first is not None and i < len(first) and _is_number(first[i])]
        if not self.features:
            raise UsageProblem(f"{path}: no numeric feature columns found (choose them with --columns)")
        self.positions = [self.header.index(name) for name in self.features]
        self.count = None  # not known without reading the whole table
        self.instance_shape = (len(self.features),)

    def batches(self, size: int) -> Iterator[Batch]:
        unique = UniqueIds()
        id_at = self.header.index(self.options.id_column) if self.options.id_column else None
        label_at = self.header.index(self.options.label_column) if self.options.label_column else None
        with open(self.path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            next(reader)
            rows = []
            for number, row in enumerate(reader):
                if not row or all(not cell.strip() for cell in row):
                    continue  # blank lines are not instances
                rows.append((number, row))
                if len(rows) == size:
                    yield self._batch(rows, unique, id_at, label_at)
                    rows = []
            if rows:
                yield self._batch(rows, unique, id_at, label_at)

    def _batch(self, rows, unique, id_at, label_at) -> Batch:
        arrays = np.zeros((len(rows), len(self.features)), np.float32)
        ids, sources, errors, extras = [], [], [], []
        for slot, (number, row) in enumerate(rows):
            line = number + 2  # 1-based, after the header
            raw_id = row[id_at].strip() if id_at is not None and id_at < len(row) else str(number)
            ids.append(unique(safe_id(raw_id)))
            sources.append(f"{self.path}:{line}")
            label = row[label_at].strip() if label_at is not None and label_at < len(row) else None
            extras.append({"label": label, "hash": _digest("\x1f".join(row).encode())})
            error = None
            if len(row) != len(self.header):
                error = f"line {line} has {len(row)} cells, the header has {len(self.header)}"
            else:
                for column, position in zip(self.features, self.positions):
                    cell = row[position].strip()
                    if cell == "":
                        error = f"line {line}: missing value in column {column!r}"
                        break
                    if not _is_number(cell) or not np.isfinite(float(cell)):
                        error = f"line {line}: {cell[:40]!r} in column {column!r} is not a finite number"
                        break
                    arrays[slot, self.features.index(column)] = float(cell)
            errors.append(error)
            if error:
                arrays[slot] = 0
        indices = np.array([number for number, _ in rows])
        return Batch(indices, ids, sources, arrays, errors, extras=extras)


def _digest(data: bytes) -> str:
    """Content hash of one instance: --resume recomputes an instance whose content changed."""
    return hashlib.sha256(data).hexdigest()[:32]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True
