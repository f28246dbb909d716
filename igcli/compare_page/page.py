"""The compare page itself: page.html with report.css and compare.css, the SCRIPTS and the
comparison's data put in, under a Content-Security-Policy whose hashes are computed from those
files. The look, the column decoding and the histograms are report.html's own (igcli/report_page)."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from igcli.report_page.page import csp_hash, script_json

# (package, file) joined in this order into the page's one <style> and one <script> element;
# compare.js, the main one, calls the functions the others define
STYLES = (("igcli.report_page", "report.css"), ("igcli.compare_page", "compare.css"))
SCRIPTS = (
    ("igcli.report_page", "dom.js"),
    ("igcli.report_page", "histogram.js"),
    ("igcli.report_page", "columns.js"),
    ("igcli.compare_page", "kit.js"),
    ("igcli.compare_page", "runs.js"),
    ("igcli.compare_page", "globals.js"),
    ("igcli.compare_page", "pairs.js"),
    ("igcli.compare_page", "table.js"),
    ("igcli.compare_page", "compare.js"),
)


@cache
def asset(package: str, name: str) -> str:
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def render_page(data: dict) -> str:
    # the elements' text begins with a newline, after <style> and <script>; the hashes cover it
    style = "\n" + "\n".join(asset(package, name) for package, name in STYLES)
    script = "\n" + "\n".join(asset(package, name) for package, name in SCRIPTS)
    policy = (
        f"default-src 'none'; script-src 'sha256-{csp_hash(script)}'; style-src 'sha256-{csp_hash(style)}'; img-src file: 'self'; "
        "base-uri 'none'; form-action 'none'"
    )
    parts = {"POLICY": policy, "STYLE": style, "DATA": script_json(data), "SCRIPT": script}
    # one pass over the template: an id named %SCRIPT% stays text inside the data
    return re.sub(r"%(POLICY|STYLE|DATA|SCRIPT)%", lambda match: parts[match.group(1)], asset("igcli.compare_page", "page.html"))
