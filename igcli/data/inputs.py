"""INPUTS -> the reader that fits it: arrays, a CSV table, or images."""

from __future__ import annotations

import re
from pathlib import Path

from igcli.data.arrays import ArrayInputs, MultiArrayInputs
from igcli.data.batch import InputSource
from igcli.data.images import IMAGE_SUFFIXES, ImageInputs, ImageOptions, list_images
from igcli.data.tables import CsvInputs, TableOptions
from igcli.errors import UsageProblem


def open_inputs(
    path: str | Path,
    *,
    model_shape: tuple,
    key: str | None = None,
    images: ImageOptions | None = None,
    table: TableOptions | None = None,
    layout: list | None = None,
    progress=None,
) -> InputSource:
    from igcli.stores import is_remote, local_copy

    text = str(path)
    if is_remote(text):
        if text.lower().endswith((".npy", ".npz", ".csv")):  # read whole: copied once
            path = local_copy(text, "input file")
        else:
            from igcli.data.store_images import StoreImageInputs

            if layout:
                raise UsageProblem(f"{text}: a model with several inputs ({', '.join(n for n, _ in layout)}) reads an .npz with one array per input")
            return StoreImageInputs(text, model_shape, images or ImageOptions(), progress)
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
    root, files, relative, skipped = list_images(path)
    if not files:
        raise UsageProblem(f"{path}: no images found ({', '.join(IMAGE_SUFFIXES)})")
    return ImageInputs(root, files, relative, skipped, model_shape, images or ImageOptions())
