"""report.html: one page to open after a run, from disk, offline.

It shows the run's settings and counts, the failures, histograms of the relative deltas (and of
error_estimate and of the metric columns run.json names), a sortable, filterable table of every
instance, and, for image runs, a gallery of heatmaps with the worst instances first.

How it stays quick with 100,000 instances: the rows travel as one JSON blob inside the page,
column by column (repeated text as a dictionary and codes), parsed once with JSON.parse; the table
draws only the rows in view (a virtual scroller); sorting and filtering work on index arrays; the
gallery shows the first `max_gallery` tiles of the chosen order (more on request) and loads its
images lazily; histograms are binned here with numpy.

Hostile names: every value reaches the page as JSON inside <script type="application/json"> with
<, >, &, U+2028 and U+2029 escaped, and is put into the DOM with textContent / createElement only.
A Content-Security-Policy allows just the page's own script (by hash) and its own style, images
only from file: URLs, and no connections, so nothing is loaded from outside the machine even if
that escaping failed. Links and images point only at heatmaps/ and tokens/ files found on disk
by walking those folders, addressed by URL-encoded path segments.
"""

from __future__ import annotations

from pathlib import Path

from igcli.atomic import write_text
from igcli.report_page.data import MAX_GALLERY, report_data
from igcli.report_page.page import render_page

OWNS = ("report.html",)


def write_report(out: Path, max_gallery: int = MAX_GALLERY) -> Path:
    """Write OUT/report.html from OUT/summary.csv, OUT/run.json and the heatmaps found in OUT."""
    out = Path(out)
    page = render_page(report_data(out, max_gallery))
    path = out / "report.html"
    write_text(path, page)
    return path
