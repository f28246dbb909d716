"""compare.html: one page to open after `igcli compare`, from disk, offline.

It shows the two runs side by side and the settings that differ, the verdict counts and the exit
code, the global nDCG figures (pooled and per class), for table runs the mean |A| of every column
in both runs, the distributions of the per-instance figures, the instances found in one run only
or failed, the most changed instances first (for image runs both heatmaps, A | B), and a sortable,
filterable table of the compared rows: the MAX_ROWS most changed of compare.csv (which keeps all).

Hostile ids: every value reaches the page as JSON inside <script type="application/json"> with
<, >, &, U+2028 and U+2029 escaped, and is put into the DOM with textContent / createElement only.
A Content-Security-Policy allows just the page's own script and style (by hash), images only from
file: URLs, and no connections. Images point only at the heatmaps compare.json names that are PNG
files on disk, by relative paths of URL-encoded segments.
"""

from __future__ import annotations

from pathlib import Path

from igcli.atomic import write_text
from igcli.compare_page.data import MAX_ROWS, compare_data
from igcli.compare_page.page import render_page

__all__ = ["MAX_ROWS", "write_compare_page"]


def write_compare_page(out: Path, max_rows: int = MAX_ROWS) -> Path:
    """Write DIFF/compare.html from DIFF/compare.json and DIFF/compare.csv."""
    out = Path(out)
    path = out / "compare.html"
    write_text(path, render_page(compare_data(out, max_rows)))
    return path
