"""Instance ids: taken from the input, made safe as relative file paths inside OUT."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")
# Names Windows reserves whatever the extension: never used as a path component.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def safe_component(text: str) -> str:
    text = _UNSAFE.sub("_", text)[:120]
    if not text or set(text) <= {"."}:
        return "_"
    if text.startswith("."):
        text = "_" + text[1:]
    if text.split(".")[0].lower() in _RESERVED:
        text = "_" + text
    return text


def target_label(name: str, target) -> str:
    """A target as a file name part (heatmaps/<id>/<label>.png): its class name, else its index."""
    return safe_component(name) if name else str(target)


def safe_id(raw: str) -> str:
    """A relative POSIX path of safe components: no '..', no absolute path, no odd characters."""
    parts = [p for p in re.split(r"[\\/]+", raw) if p not in ("", ".")]
    return "/".join(safe_component(p) for p in parts) or "_"


class UniqueIds:
    """Makes ids unique in the order they are seen: a second 'a' becomes 'a~2'."""

    def __init__(self):
        self.seen: dict[str, int] = {}

    def __call__(self, wanted: str) -> str:
        key = wanted.lower()  # case-insensitive file systems would merge 'A' and 'a'
        count = self.seen.get(key, 0) + 1
        self.seen[key] = count
        if count == 1:
            return wanted
        candidate = f"{wanted}~{count}"
        self.seen[candidate.lower()] = 1
        return candidate


def image_ids(relative_paths: list[str]) -> list[str]:
    """Relative path without extension; where two files differ only by extension (a.png, a.jpg),
    both keep their extension, so neither id depends on the other's presence order."""
    stems = [str(PurePosixPath(p).with_suffix("")) for p in relative_paths]
    counts: dict[str, int] = {}
    for stem in stems:
        counts[stem.lower()] = counts.get(stem.lower(), 0) + 1
    unique = UniqueIds()
    return [unique(safe_id(path if counts[stem.lower()] > 1 else stem)) for path, stem in zip(relative_paths, stems)]
