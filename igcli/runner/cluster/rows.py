"""Array and table inputs (.npy, .npz, .csv) on a cluster, split by rows: the driver reads them
once (an input in an object store is copied to it first) and hands each group of rows to Ray's
object store, from which the workers take them; no worker needs the driver's disk.

A row travels as an image file does through the pipeline (pipeline.py): a `path` (here its key,
the row's index zero-padded, so that the listing's order is the input order) and its `bytes`
(the row's float32 values), with the values the reader found for it (id, source, content hash,
label, and why it cannot be used)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from igcli.data.batch import Batch


def row_key(index: int) -> str:
    return f"{index:012d}"


@dataclass
class Rows:
    """Every row of an array or table input, read by the driver."""

    ids: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    tables: list = field(default_factory=list)  # pyarrow tables, a group of rows each

    @property
    def count(self) -> int:
        return len(self.ids)

    @property
    def files(self) -> list[str]:
        return self.sources


def read_rows(inputs, size: int) -> Rows:
    """The input's rows, `size` to a table (a block of Ray Data, a worker's group)."""
    import pyarrow as pa

    rows = Rows()
    for batch in inputs.batches(size):
        rows.ids += batch.ids
        rows.sources += batch.sources
        columns = {
            "path": [row_key(int(i)) for i in batch.indices],
            "bytes": [np.ascontiguousarray(row, np.float32).tobytes() for row in batch.arrays],
            "hash": [extra.get("hash", "") for extra in batch.extras],
            "label": [str(extra.get("label") or "") for extra in batch.extras],
            "source": batch.sources,
            "error": [error or "" for error in batch.errors],
        }
        rows.tables.append(pa.table({name: pa.array(values, pa.binary() if name == "bytes" else pa.string()) for name, values in columns.items()}))
    return rows


def row_batch(batch: dict, positions: list[int], indices, ids: list[str], shape: tuple) -> Batch:
    """A worker's group of rows (its positions in the block, in input order) as the reader made it."""
    arrays = np.stack([np.frombuffer(bytes(batch["bytes"][p]), np.float32).reshape(shape) for p in positions]) if positions else np.zeros((0, *shape))
    errors = [str(batch["error"][p]) or None for p in positions]
    extras: list[dict] = []
    for p in positions:
        extra = {"hash": str(batch["hash"][p])}
        if str(batch["label"][p]):
            extra["label"] = str(batch["label"][p])
        extras.append(extra)
    sources = [str(batch["source"][p]) for p in positions]
    return Batch(np.asarray(indices), list(ids), sources, arrays.astype(np.float32), errors, extras)
