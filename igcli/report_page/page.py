"""The report page itself: page.html with report.css and the SCRIPTS (files of this package) and
the run's data put in, under a Content-Security-Policy whose hashes are computed from those files."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from functools import cache
from importlib import resources

import numpy as np

# the page's script: these files of the package joined in this order into one <script> element
# (report.js, the main one, calls the functions the others define)
SCRIPTS = ("dom.js", "histogram.js", "features.js", "columns.js", "overview.js", "failures.js", "gallery.js", "report.js")


@cache
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def csp_hash(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def script_json(data) -> str:
    """JSON safe inside a <script> element: no <, >, & (so no </script> and no <!--), and no
    U+2028/U+2029 (line terminators to older JavaScript)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_page_json_value)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _page_json_value(value):
    if isinstance(value, np.generic):
        value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value
    return str(value)


def clean_json(value):
    """run.json may hold NaN or Infinity (Python's json writes them); JSON has neither."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    return value


def render_page(data: dict) -> str:
    data = dict(data, run=clean_json(data.get("run", {})), histograms=clean_json(data.get("histograms", [])))
    # the elements' text begins with a newline, after <style> and <script>; the hashes cover it
    style, script = "\n" + _asset("report.css"), "\n" + "\n".join(_asset(name) for name in SCRIPTS)
    script_hash, style_hash = csp_hash(script), csp_hash(style)
    policy = (
        f"default-src 'none'; script-src 'sha256-{script_hash}'; style-src 'sha256-{style_hash}'; img-src file: 'self'; base-uri 'none'; form-action 'none'"
    )
    parts = {"POLICY": policy, "STYLE": style, "DATA": script_json(data), "SCRIPT": script}
    # one pass over the template: a file named %SCRIPT%.png stays text inside the data
    return re.sub(r"%(POLICY|STYLE|DATA|SCRIPT)%", lambda match: parts[match.group(1)], _asset("page.html"))
