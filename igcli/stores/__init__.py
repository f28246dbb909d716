"""Paths that are URIs: s3://, gs://, az:// (abfs://), file:// or any protocol an installed
fsspec implementation provides. Credentials and endpoints come from each store's own environment
and config files (for S3: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_PROFILE, ~/.aws/config),
never from igcli's flags.

A local path, or file://PATH, is exactly a local path: nothing here touches it. A file or folder
that must be read whole (a model, a baseline, labels, a vocabulary, a config, an .npz/.npy/.csv
input) is copied once per process into a temporary folder (local_copy); image folders are read
a group at a time (data/store_images.py); OUT in a store is written through a local working copy
whose finished files are put as whole objects (stores/out.py)."""

from __future__ import annotations

import atexit
import posixpath
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from igcli.errors import UsageProblem

SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
# The extra that installs each store's fsspec driver (pyproject.toml)
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure", "abfss": "azure", "adl": "azure"}
PAGE = 1000  # objects per page of a listing (S3's own page size)


def is_remote(text: str | Path | None) -> bool:
    """Whether a path names an object store (any scheme but file://)."""
    if text is None or isinstance(text, Path):
        return False
    match = SCHEME.match(str(text))
    return match is not None and match.group(1).lower() not in ("file", "local")


def plain(text: str) -> str:
    """A local path as given, file:// taken off."""
    match = SCHEME.match(text)
    return text[len(match.group(0)) :] if match and match.group(1).lower() in ("file", "local") else text


def join(base: str, *names: str) -> str:
    """A key (or URI) and relative names below it; '..' steps up, as in a local path."""
    match = SCHEME.match(base)
    scheme = match.group(0) if match else ""
    joined = "/".join([base[len(scheme) :].rstrip("/"), *(name.strip("/") for name in names)])
    return scheme + posixpath.normpath(joined)


def parent(uri: str) -> str:
    head, _, _ = uri.rstrip("/").rpartition("/")
    return head


def filesystem(uri: str) -> tuple[Any, str]:
    """-> (the fsspec file system of the URI's protocol, the path inside it)."""
    import fsspec

    protocol = SCHEME.match(uri).group(1).lower()  # type: ignore[union-attr]
    try:
        return fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as error:
        if protocol in EXTRAS:
            raise UsageProblem(f"{uri}: reading {protocol}:// needs its driver: pip install 'igcli[{EXTRAS[protocol]}]'") from None
        raise UsageProblem(f"{uri}: no installed fsspec implementation reads {protocol}:// ({_said(error)})") from None


def store_problem(uri: str, error: BaseException, doing: str = "") -> UsageProblem:
    """One line naming the URI and what the store said: a missing bucket or object, a denied
    credential, a network error."""
    said = _said(error)
    what = f"cannot {doing}: " if doing else ""
    if isinstance(error, FileNotFoundError):
        return UsageProblem(f"{uri}: {what}not found ({said})")
    if isinstance(error, PermissionError):
        return UsageProblem(f"{uri}: {what}access denied ({said}); check the store's credentials (for S3: AWS_PROFILE or AWS_ACCESS_KEY_ID)")
    if type(error).__name__ in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionError", "ClientConnectorError"):
        return UsageProblem(f"{uri}: {what}cannot reach the store ({said}); check the endpoint (for S3: AWS_ENDPOINT_URL) and the network")
    return UsageProblem(f"{uri}: {what}{type(error).__name__}: {said}")


def _said(error: BaseException) -> str:
    return " ".join(str(error).split())[:300] or type(error).__name__


_copies: dict[tuple[str, str], Path] = {}
_folder: list[Path] = []


def _scratch() -> Path:
    """This process's folder of copies, removed when it exits."""
    if not _folder:
        folder = Path(tempfile.mkdtemp(prefix="igcli-store-"))
        atexit.register(shutil.rmtree, folder, True)
        _folder.append(folder)
    return _folder[0]


def local_copy(text: str | Path, what: str = "file") -> Path:
    """A local path for a path or a URI: the path itself, or the object (or every object under
    the prefix, a SavedModel folder) copied once per process."""
    if not is_remote(text):
        return Path(plain(str(text)))
    uri = str(text).rstrip("/")
    fs, path = filesystem(uri)
    try:
        folder = fs.isdir(path)
        key = (uri, _version(fs, path, folder))  # a changed object is copied again
        if key in _copies:
            return _copies[key]
        target = _scratch() / str(len(_copies)) / (path.rsplit("/", 1)[-1] or "object")
        target.parent.mkdir(parents=True)
        if folder:
            fs.get(path.rstrip("/") + "/", str(target), recursive=True)
        else:
            fs.get_file(path, str(target))
    except Exception as error:
        raise store_problem(uri, error, f"read the {what}") from None
    _copies[key] = target
    return target


def _version(fs, path: str, folder: bool) -> str:
    """What tells one version of an object (or of every object under a prefix) from another."""
    infos = fs.find(path, detail=True) if folder else {path: fs.info(path)}
    return repr(
        sorted((name, info.get("ETag") or info.get("etag"), info.get("size"), str(info.get("LastModified", info.get("mtime")))) for name, info in infos.items())
    )


def exists(text: str) -> bool:
    if not is_remote(text):
        return Path(plain(text)).exists()
    fs, path = filesystem(text)
    try:
        return bool(fs.exists(path))
    except Exception as error:
        raise store_problem(text, error, "look it up") from None


def listed_with_bar(uri: str, progress, description: str) -> list[tuple[str, int]]:
    """list_objects with a bar of the objects listed; progress: the CLI's bar maker
    (progress(total, description, unit)), or None."""
    bar = progress(None, description, "obj") if progress else None
    try:
        return list_objects(uri, (lambda count: bar.update(count - bar.n)) if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()


def list_objects(uri: str, progress=None) -> list[tuple[str, int]]:
    """Every object under a prefix (path inside the store, size), sorted, a page at a time:
    progress(objects so far) after each page of a large listing."""
    fs, path = filesystem(uri)
    try:
        if hasattr(fs, "_iterdir") and hasattr(fs, "split_path"):  # s3fs: its own pages, counted as they come
            found = _s3_pages(fs, path, progress)
        else:
            found = [(name, int(info.get("size") or 0)) for name, info in fs.find(path, detail=True).items()]
    except Exception as error:
        raise store_problem(uri, error, "list the objects") from None
    return sorted(found)


def _s3_pages(fs, path: str, progress) -> list[tuple[str, int]]:
    from fsspec.asyn import sync

    bucket, key, _ = fs.split_path(path)
    prefix = key.rstrip("/") + "/" if key else ""

    async def collect() -> list[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        async for info in fs._iterdir(bucket, delimiter="", prefix=prefix):
            if info.get("type") == "file":
                found.append((info["name"], int(info.get("size") or 0)))
                if progress is not None and len(found) % PAGE == 0:
                    progress(len(found))
        return found

    found = sync(fs.loop, collect)
    if not found and key and fs.isfile(path):  # a single object, not a prefix
        found = [(path, int(fs.size(path)))]
    return found


def read_objects(fs, paths: list[str]) -> dict[str, bytes | Exception]:
    """Several objects' bytes at once (concurrent where the driver is asynchronous); an object
    that cannot be read gives its error."""
    if not paths:
        return {}
    try:
        return fs.cat(paths, on_error="return")
    except Exception as error:  # the whole call failed (the network): every object fails the same way
        return {path: error for path in paths}


def uri_of(fs, path: str) -> str:
    """A path inside a store as the URI a user types."""
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return f"{protocol}://{path}"
