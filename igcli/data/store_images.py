"""Image inputs in an object store: a prefix (every object under it, as a folder's files), a glob,
or one object. Listed a page at a time, then read a group at a time: one request for the group's
objects (concurrent where the store's driver is), decoded in threads as local files are.

Ids and order are those of the same files in a local folder: the key relative to the prefix,
without its extension, in the order of its path components; keys with a component starting with
"." are left out, as hidden files are."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath

import numpy as np

from igcli.cpus import usable_cpus
from igcli.data.batch import Batch
from igcli.data.images import IMAGE_SUFFIXES, ImageInputs, ImageOptions, decode_image, image_batch
from igcli.errors import UsageProblem
from igcli.stores import filesystem, listed_with_bar, read_objects, store_problem, uri_of


def list_store_images(uri: str, progress=None) -> tuple[str, list[str], list[str], list[str]]:
    """(root URI, image URIs, their ids' raw form, skipped non-image URIs), in a local folder's order."""
    fs, path = filesystem(uri)
    wildcard = re.search(r"[*?\[]", path)
    if wildcard:
        try:
            names = sorted(fs.glob(path))
        except Exception as error:
            raise store_problem(uri, error, "list the objects") from None
        root = path[: wildcard.start()].rsplit("/", 1)[0]
    else:
        names = [name for name, _ in listed_with_bar(uri, progress, "list INPUTS")]
        root = path.rstrip("/")
        if names == [root]:  # one object
            root = root.rsplit("/", 1)[0]
    relative = [name[len(root) + 1 :] for name in names if name.startswith(root + "/")]
    relative = sorted((r for r in relative if r and not any(part.startswith(".") for part in r.split("/"))), key=lambda r: PurePosixPath(r).parts)
    images = [r for r in relative if PurePosixPath(r).suffix.lower() in IMAGE_SUFFIXES]
    skipped = [r for r in relative if PurePosixPath(r).suffix.lower() not in IMAGE_SUFFIXES]
    prefix = uri_of(fs, root)
    return prefix, [f"{prefix}/{r}" for r in images], images, [f"{prefix}/{r}" for r in skipped]


class StoreImageInputs(ImageInputs):
    """Image objects under a prefix, read a group at a time."""

    def __init__(self, uri: str, model_shape: tuple, options: ImageOptions, progress=None):
        root, files, relative, skipped = list_store_images(uri, progress)
        if not files:
            raise UsageProblem(f"{uri}: no images found ({', '.join(IMAGE_SUFFIXES)})")
        super().__init__(root, files, relative, skipped, model_shape, options)  # type: ignore[arg-type]
        self.fs, _ = filesystem(uri)

    def batches(self, size: int) -> Iterator[Batch]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(4, usable_cpus())) as pool:
            for start in range(0, self.count, size):
                indices = np.arange(start, min(start + size, self.count))
                sources = [str(self.files[i]) for i in indices]
                contents = read_objects(self.fs, [self.fs._strip_protocol(source) for source in sources])
                found = [contents.get(self.fs._strip_protocol(source), FileNotFoundError(source)) for source in sources]
                decoded = list(pool.map(self._decode_bytes, found))
                yield image_batch(indices, [self.ids[i] for i in indices], sources, decoded, self.instance_shape, self.options.preprocess)

    def decode(self, index: int):
        contents = read_objects(self.fs, [self.fs._strip_protocol(str(self.files[index]))])
        return self._decode_bytes(next(iter(contents.values())))

    def _decode_bytes(self, data):
        if isinstance(data, BaseException):
            return None, f"cannot read the object ({' '.join(str(data).split())[:200] or type(data).__name__})", "", ""
        return decode_image(data, self.channels, self.size, self.options)
