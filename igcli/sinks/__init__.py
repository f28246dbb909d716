"""Sinks: everything a run writes (files appear only when complete: igcli/atomic.py). Each receives every group of results in input order.

The contract every sink keeps:
    OWNS       the names (or glob patterns) in OUT it writes; --overwrite removes exactly these
    append(r)  take one group of Results
    close()    the run completed: its files take their final names
    abort()    the run failed or was interrupted: what is partial is removed; complete files
               that --resume reuses (journal chunks, heatmaps) stay

arrays.py     attributions.h5 / .npz / arrays/*.npy
zarr_arrays.py  attributions.zarr (--format zarr), and its writing API for processes that share no disk
tables.py     summary.csv, attributions.csv
heatmaps.py   heatmaps/<id>.png, overview.png
tokens.py     tokens.csv, tokens/<id>.html
run_json.py   run.json
shards.py     a cluster run's shards/*.h5 and the virtual attributions.h5 over them (--ray)
outdir.py     the output directory, --overwrite and --resume
selection.py  which sinks a plan writes to; every name in OUT a sink owns

report.html is written last, from the finished files (igcli/report_page).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from igcli.results import Results

FORMATS = ("h5", "npz", "npy", "zarr")  # --format of the attribution arrays (arrays.py, zarr_arrays.py)


class Sink(Protocol):
    OWNS: tuple[str, ...]

    def append(self, results: Results) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...
