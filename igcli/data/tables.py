"""CSV tables: a header row, one instance per data row, streamed; feature columns chosen by
--columns or by their first value being a number."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from igcli.data.batch import Batch, content_hash
from igcli.data.ids import UniqueIds, safe_id
from igcli.errors import UsageProblem
from igcli.optiontype import Given, ParsedOption


@dataclass(frozen=True)
class Columns(Given):
    """--columns A,B,C: the feature columns, in order."""

    names: tuple[str, ...]


COLUMNS = ParsedOption("A,B,C", lambda text: Columns(tuple(c.strip() for c in text.split(",")), text=text), Columns)  # --columns


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
            self.features = [
                name for i, name in enumerate(self.header) if name not in excluded and first is not None and i < len(first) and _is_number(first[i])
            ]
        if not self.features:
            raise UsageProblem(f"{path}: no numeric feature columns found (choose them with --columns)")
        self.positions = [self.header.index(name) for name in self.features]
        self.count = None  # not known without reading the whole table
        self.instance_shape = (len(self.features),)

    def width_hint(self, wanted: int | None) -> str:
        """Why the table's feature count may differ from the model's, and which option mends it."""
        if wanted is None or len(self.features) == wanted:
            return ""
        shown = ", ".join(self.features[:8]) + (", ..." if len(self.features) > 8 else "")
        if len(self.features) > wanted:
            unused = [o for o, given in (("--label-column", self.options.label_column), ("--id-column", self.options.id_column)) if not given]
            extra = f"; a label or id column? exclude it with {' or '.join(unused)}" if unused else ""
            return f" (feature columns: {shown}{extra}; or choose the {wanted} features with --columns)"
        return f" (feature columns: {shown}; a column whose first value is not a number is not a feature: choose the {wanted} features with --columns)"

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
            extras.append({"label": label, "hash": content_hash("\x1f".join(row).encode())})
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


def _is_number(text: str) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True
