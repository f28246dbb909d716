"""report.html: the data it carries (fast, no browser) and the page itself in headless Chromium.

The browser tests need Debian's chromium and chromium-driver and the selenium package; without
them they are skipped, saying what is missing."""

import csv
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from igcli.report_page import OWNS, write_report
from tests.conftest import assert_one_line_error

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
DATA_BLOB = re.compile(r'<script type="application/json" id="igcli-data">(.*?)</script>', re.S)


def page_data(out: Path) -> dict:
    html = (out / "report.html").read_text(encoding="utf-8")
    blob = DATA_BLOB.search(html).group(1)
    for character in "<>&\u2028\u2029":
        assert character not in blob
    return json.loads(blob)


def column(data: dict, name: str) -> list:
    found = next(c for c in data["columns"] if c["name"] == name)
    if "dictionary" in found:
        return [found["dictionary"][code] for code in found["codes"]]
    return found["values"]


SUMMARY_HEADER = [
    "id",
    "source",
    "original_size",
    "predicted",
    "predicted_name",
    "target",
    "target_name",
    "score",
    "baseline_score",
    "attribution_sum",
    "delta",
    "relative_delta",
    "status",
    "error",
]


def write_summary(out: Path, rows: list[dict], header=SUMMARY_HEADER, run: dict | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "summary.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, header, restval="")
        writer.writeheader()
        writer.writerows(rows)
    (out / "run.json").write_text(json.dumps(run if run is not None else {"resolved": {"steps": 4}, "counts": {"instances": len(rows)}}))


# ---------------------------------------------------------------------------------------------
# Without a browser


def test_owns_the_page():
    assert OWNS == ("report.html",)


def test_table_run(igcli):
    run = igcli("explain", SAMPLE / "table" / "model.keras", SAMPLE / "table" / "table.csv", "--id-column", "id", "--label-column", "label", "--steps", "auto")
    assert run.exit_code == 0, run.stderr
    if not (run.out / "report.html").exists():
        write_report(run.out)
    data = page_data(run.out)
    assert not data["image_run"] and data["heatmap"] == 0
    assert data["rows"] == 400
    kinds = {c["name"]: c["kind"] for c in data["columns"]}
    assert kinds["score"] == kinds["steps"] == kinds["error_estimate"] == "number"
    assert kinds["id"] == kinds["source"] == kinds["status"] == "text"
    with open(run.out / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert column(data, "id") == [r["id"] for r in rows]
    assert column(data, "score") == [float(r["score"]) for r in rows]
    assert [h["column"] for h in data["histograms"]] == ["relative_delta", "error_estimate"]
    assert sum(data["histograms"][0]["counts"]) + data["histograms"][0]["zeros"] == 400
    assert data["histograms"][1]["threshold"] == 0.05  # no --max-error: ESTIMATE_WARNING, the limit the page marks (not --tolerance)
    assert data["run"]["resolved"]["steps"] == "auto"
    assert not list(run.out.glob(".*.partial"))


def test_hostile_text_stays_data(tmp_path):
    """Values that would end the script element, open a comment, or end a JavaScript line, and
    the template's own placeholders, travel as data and come back unchanged."""
    nasty = ["</script><script>window.__pwned=1</script>", "<!-- <script>", "a & b \"c\" 'd'", "line\u2028break\u2029", "%SCRIPT% %DATA%", "\\u003c"]
    rows = [{"id": f"i{k}", "source": text, "status": "error", "error": text, "target_name": text} for k, text in enumerate(nasty)]
    write_summary(tmp_path, rows, run={"errors": [{"id": "i0", "source": nasty[0], "error": nasty[1]}], "resolved": {"model": nasty[0]}, "counts": {}})
    path = write_report(tmp_path)
    html = path.read_text(encoding="utf-8")
    assert html.count("</script>") == 2 and html.count("<script") == 2
    assert "window.__pwned" not in html.split('id="igcli-data">')[0]
    data = page_data(tmp_path)
    assert column(data, "source") == nasty and column(data, "error") == nasty and column(data, "target_name") == nasty
    assert data["run"]["resolved"]["model"] == nasty[0]
    # the policy lets exactly this page's script run
    script = html.rsplit("<script>", 1)[1].split("</script>", 1)[0]
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in html


def test_any_extra_column(tmp_path):
    """Numeric when every non-empty cell parses as a float; metrics named in run.json get a histogram."""
    header = [*SUMMARY_HEADER, "deletion", "insertion", "uninformative_baseline", "note"]
    rows = [
        {
            "id": f"x{k}",
            "status": "ok",
            "score": str(k / 10),
            "relative_delta": str(10.0**-k),
            "deletion": str(k / 7),
            "insertion": "",
            "uninformative_baseline": str(k % 2),
            "note": "n/a" if k == 3 else str(k),
        }
        for k in range(8)
    ]
    rows[5]["insertion"] = "inf"
    run = {"metrics": {"deletion": 0.5, "insertion": 0.4, "absent": 1.0}, "resolved": {}, "configuration": {"max_delta": 0.01}, "max_relative_delta": math.nan}
    write_summary(tmp_path, rows, header, run=run)  # Python's json writes NaN, which JSON has not
    (tmp_path / "tokens").mkdir()
    (tmp_path / "tokens" / "x1.html").write_text("<p>x1</p>")
    write_report(tmp_path)
    data = page_data(tmp_path)
    assert data["run"]["max_relative_delta"] is None
    assert data["tokens"] == [0, 1, 0, 0, 0, 0, 0, 0] and data["heatmap"] == 0 and not data["image_run"]
    kinds = {c["name"]: c["kind"] for c in data["columns"]}
    assert kinds["deletion"] == kinds["insertion"] == kinds["uninformative_baseline"] == "number" and kinds["note"] == "text"
    assert column(data, "insertion")[5] == "Infinity" and column(data, "insertion")[0] is None
    assert data["metrics"] == ["deletion", "insertion"]
    histograms = {h["column"]: h for h in data["histograms"]}
    assert set(histograms) == {"relative_delta", "deletion", "insertion"}
    assert histograms["relative_delta"]["log"] and histograms["relative_delta"]["threshold"] == 0.01
    assert sum(histograms["relative_delta"]["counts"]) == 8
    assert histograms["insertion"]["infinite"] == 1 and histograms["insertion"]["count"] == 0
    assert not histograms["deletion"]["log"] and sum(histograms["deletion"]["counts"]) + histograms["deletion"]["zeros"] == 8


def test_missing_files_still_make_a_page(tmp_path):
    page = write_report(tmp_path)
    data = page_data(tmp_path)
    assert page.name == "report.html" and data["rows"] == 0
    assert any("run.json" in note for note in data["notes"]) and any("summary.csv" in note for note in data["notes"])


def synthetic_summary(out: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    scores, deltas = rng.random(rows).tolist(), (rng.random(rows) * 1e-2).tolist()
    with open(out / "summary.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*SUMMARY_HEADER[:12], "steps", "error_estimate", "status", "error", "deletion"])
        for i in range(rows):
            if i % 100 == 3:
                writer.writerow([f"b{i // 1000}/img{i:06d}", f"/data/b{i // 1000}/img{i:06d}.png", *[""] * 12, "error", "cannot identify image file", ""])
            else:
                writer.writerow(
                    [
                        f"b{i // 1000}/img{i:06d}",
                        f"/data/b{i // 1000}/img{i:06d}.png",
                        "224x224",
                        i % 5,
                        f"class{i % 5}",
                        i % 5,
                        f"class{i % 5}",
                        repr(scores[i]),
                        "0.1",
                        repr(scores[i] - 0.1),
                        repr(deltas[i]),
                        repr(deltas[i] / scores[i]),
                        32,
                        repr(deltas[i] / 3),
                        "ok",
                        "",
                        repr(scores[i] / 2),
                    ]
                )
    (out / "run.json").write_text(json.dumps({"resolved": {"steps": "auto"}, "counts": {"instances": rows}, "metrics": {"deletion": 0.25}}))


@pytest.mark.slow
def test_hundred_thousand_rows(tmp_path):
    synthetic_summary(tmp_path, 100_000)
    (tmp_path / "heatmaps" / "b0").mkdir(parents=True)
    (tmp_path / "heatmaps" / "b0" / "img000000.png").write_bytes(b"")
    page = write_report(tmp_path)  # its speed is measured by benchmarks/report_speed.py, not here
    data = page_data(tmp_path)
    assert data["rows"] == 100_000 and data["image_run"] and data["heatmap"][:2] == [1, 0]
    assert column(data, "status").count("error") == 1000
    assert {c["name"]: c["kind"] for c in data["columns"]}["deletion"] == "number"
    assert page.stat().st_size < 40_000_000


# ---------------------------------------------------------------------------------------------
# In headless Chromium

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium)")
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).is_file():
            pytest.skip(f"{path} is missing (apt-get install {package})")
    profile = tempfile.mkdtemp(prefix="igcli-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,1600",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})  # performance: the DevTools network events
    # a driver path given to Service: Selenium Manager is not run, nothing is downloaded
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    # before any script of the page: record dialogs instead of opening them
    driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {
            "source": "window.__dialogs = []; for (const name of ['alert', 'confirm', 'prompt']) window[name] = function (m) { window.__dialogs.push(name + ':' + m); };"
        },
    )
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


HOSTILE = {
    "plain_a.png": (0, 8),
    "plain_b.png": (60, 8),
    "<img src=x onerror=alert(1)>.png": (120, 8),
    'a & b "c".png': (180, 12),
    "<script>window.__pwned=1</script>.png": (240, 6),  # a folder "<script>window.__pwned=1<" holding "script>.png"
}
BROKEN = "<svg onload=window.__pwned=2>.png"


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A real igcli run over a few PNGs with hostile names and one broken file; then report.html."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    from click.testing import CliRunner
    from PIL import Image

    from igcli.cli import cli

    root = tmp_path_factory.mktemp("report")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(), keras.layers.Dense(2)])
    model.save(root / "tiny.keras")
    images = root / "images"
    rng = np.random.default_rng(0)
    for name, (shade, size) in HOSTILE.items():
        path = images / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = (rng.random((size, size, 3)) * 255 * (shade + 15) / 255).astype(np.uint8)
        Image.fromarray(pixels).save(path)
    (images / BROKEN).write_bytes(b"\x89PNG\r\n\x1a\n not really a PNG")
    out = root / "out"
    result = CliRunner().invoke(cli, ["explain", str(root / "tiny.keras"), str(images), "--steps", "4", "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 1, result.output  # the broken file fails; the rest are explained
    if not (out / "report.html").exists():
        write_report(out)
    with open(out / "summary.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return out, rows


@pytest.fixture
def page(browser, image_run):
    from selenium.webdriver.support.ui import WebDriverWait

    out, rows = image_run
    browser.get_log("performance")  # drop what earlier pages requested
    browser.get((out / "report.html").as_uri())
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.documentElement.dataset.ready"))
    return browser, out, rows


def table_ids(driver) -> list[str]:
    return driver.execute_script("return Array.from(document.querySelectorAll('#rows tbody tr[data-row]')).map(tr => tr.cells[0].textContent);")


def click_header(driver, name: str) -> None:
    driver.find_element("css selector", f'th[data-column="{name}"] button').click()


def test_page_runs_nothing_from_names(page):
    driver, out, rows = page
    assert driver.execute_script("return window.__dialogs") == []
    assert driver.execute_script("return window.__pwned") is None
    # the page's own elements only: two scripts, images only heatmaps
    assert driver.execute_script("return document.scripts.length") == 2
    assert driver.execute_script("return Array.from(document.images).every(i => i.getAttribute('src').startsWith('heatmaps/'))")
    assert driver.execute_script("return document.querySelectorAll('svg[onload], [onerror], [onload]').length") == 0
    text = driver.execute_script("return document.body.textContent")
    for name in HOSTILE:
        assert name in text, name  # in the table's source column, as text
    assert BROKEN in text  # the failure's source and message
    severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not severe, severe  # no script error, no blocked load


def test_sort_by_clicking_headers(page):
    driver, out, rows = page
    assert table_ids(driver) == [r["id"] for r in rows]
    ok = [r for r in rows if r["score"]]
    by_score = [r["id"] for r in sorted(ok, key=lambda r: float(r["score"]))] + [r["id"] for r in rows if not r["score"]]
    click_header(driver, "score")
    assert table_ids(driver) == by_score
    assert driver.find_element("css selector", 'th[data-column="score"]').get_attribute("aria-sort") == "ascending"
    click_header(driver, "score")
    assert table_ids(driver) == by_score[:-1][::-1] + by_score[-1:]  # reversed; the empty score stays last
    click_header(driver, "relative_delta")
    deltas = [float(r["relative_delta"]) for r in rows if r["relative_delta"]]
    shown = driver.execute_script("return Array.from(document.querySelectorAll('#rows tbody tr[data-row]')).map(tr => +tr.dataset.row);")
    assert [float(rows[i]["relative_delta"]) for i in shown if rows[i]["relative_delta"]] == sorted(deltas)
    click_header(driver, "id")
    ascending = table_ids(driver)
    assert sorted(ascending) == sorted(r["id"] for r in rows) and ascending.index("plain_a") + 1 == ascending.index("plain_b")
    assert ascending.index("a___b__c_") < ascending.index("plain_a")
    click_header(driver, "id")
    assert table_ids(driver) == ascending[::-1]


def test_filters_narrow_the_rows(page):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    driver, out, rows = page
    box = driver.find_element("id", "filter-id")
    box.send_keys("PLAIN")
    assert table_ids(driver) == [r["id"] for r in rows if "plain" in r["id"]]
    assert driver.find_element("id", "row-count").text == f"2 of {len(rows)} rows"
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    assert len(table_ids(driver)) == len(rows)
    status = Select(driver.find_element("id", "filter-status"))
    status.select_by_value("error")
    assert table_ids(driver) == [r["id"] for r in rows if r["status"] == "error"] and len(table_ids(driver)) == 1
    status.select_by_value("ok")
    assert table_ids(driver) == [r["id"] for r in rows if r["status"] == "ok"]
    box.send_keys("img")
    assert table_ids(driver) == [r["id"] for r in rows if r["status"] == "ok" and "img" in r["id"].lower()]


def test_gallery_worst_first_and_loaded(page):
    from selenium.webdriver.support.ui import WebDriverWait

    driver, out, rows = page
    tiles = driver.execute_script(
        "return Array.from(document.querySelectorAll('#gallery-grid figure')).map(f => [f.className, f.querySelector('.id').textContent]);"
    )
    failed = [r["id"] for r in rows if r["status"] == "error"]
    ok = sorted((r for r in rows if r["status"] == "ok"), key=lambda r: -float(r["relative_delta"]))
    assert tiles[0] == ["tile failed", failed[0]]
    assert [t[1] for t in tiles[1:]] == [r["id"] for r in ok]
    driver.execute_script("document.getElementById('gallery').scrollIntoView()")
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script(
            "const images = document.querySelectorAll('#gallery-grid img'); return images.length > 0 && Array.from(images).every(i => i.complete && i.naturalWidth > 0);"
        )
    )
    assert driver.execute_script("return document.querySelectorAll('#gallery-grid img').length") == len(ok)
    # each tile opens its full PNG, a file under OUT/heatmaps
    links = driver.execute_script("return Array.from(document.querySelectorAll('#gallery-grid a')).map(a => a.href);")
    expected = [(out / "heatmaps" / f"{r['id']}.png").as_uri() for r in ok]
    assert links == expected and all((out / "heatmaps" / f"{r['id']}.png").is_file() for r in ok)
    caption = driver.execute_script("return document.querySelector('#gallery-grid figure:nth-child(2) figcaption').textContent")
    assert ok[0]["id"] in caption and (ok[0]["target_name"] or "class " + ok[0]["target"]) in caption and "score" in caption


def test_loads_nothing_outside_out(page):
    """Every request the page made, as DevTools saw it (Resource Timing lists no file: URLs)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver, out, rows = page
    driver.execute_script("document.getElementById('gallery').scrollIntoView()")
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return Array.from(document.querySelectorAll('#gallery-grid img')).every(i => i.complete)"))
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    base = out.as_uri() + "/"
    assert urls[0] == base + "report.html"
    images = [url for url in urls[1:]]
    assert len(images) == sum(r["status"] == "ok" for r in rows)
    assert all(url.startswith(base + "heatmaps/") for url in images), urls


@pytest.mark.slow
def test_hundred_thousand_rows_in_the_browser(browser, tmp_path):
    """The table draws only the rows in view; sorting and filtering stay interactive."""
    from PIL import Image
    from selenium.webdriver.support.ui import WebDriverWait

    synthetic_summary(tmp_path, 100_000)
    (tmp_path / "heatmaps" / "b0").mkdir(parents=True)
    for i in range(200):
        Image.new("RGB", (16, 16), (i, 80, 160)).save(tmp_path / "heatmaps" / f"b0/img{i:06d}.png")
    write_report(tmp_path)
    browser.get((tmp_path / "report.html").as_uri())
    WebDriverWait(browser, 60).until(lambda d: d.execute_script("return document.documentElement.dataset.ready"))
    drawn = browser.execute_script("return document.querySelectorAll('#rows tbody tr[data-row]').length")
    assert 10 < drawn < 200
    assert browser.execute_script("return document.querySelectorAll('#gallery-grid figure').length") == 96  # 12 failures, a summary tile, 83 heatmaps
    click_header(browser, "score")
    scores = browser.execute_script("return Array.from(document.querySelectorAll('#rows tbody tr[data-row]')).map(tr => +tr.cells[7].textContent);")
    assert scores == sorted(scores) and scores[0] < 0.001
    # scrolled half way, the rows in view are the middle of the order (scores are uniform on 0..1)
    middle = browser.execute_async_script("""
        const done = arguments[arguments.length - 1], box = document.getElementById('table-scroller');
        box.scrollTop = 49500 * 26;
        setTimeout(function () { requestAnimationFrame(function () { setTimeout(function () {
            const top = box.getBoundingClientRect().top + 40;
            const row = Array.from(box.querySelectorAll('tbody tr[data-row]')).find(tr => tr.getBoundingClientRect().top >= top);
            done([+row.cells[7].textContent, box.querySelectorAll('tbody tr[data-row]').length]);
        }, 0); }); }, 50);""")
    assert abs(middle[0] - 0.5) < 0.02 and middle[1] < 200, middle
    browser.find_element("id", "filter-id").send_keys("img00001")
    assert browser.find_element("id", "row-count").text == "10 of 100,000 rows"
    timings = browser.execute_script("return window.__igcliReport.timings")  # how long: benchmarks/report_speed.py
    assert timings["last_sort_ms"] is not None and timings["last_filter_ms"] is not None, timings


def test_igcli_report_writes_the_page_again_from_the_files(igcli):
    run = igcli(
        "explain", SAMPLE / "table" / "model.keras", SAMPLE / "table" / "table.csv", "--id-column", "id", "--label-column", "label", "--steps", 4, "--no-report"
    )
    assert run.exit_code == 0, run.stderr
    assert not (run.out / "report.html").exists()
    again = igcli("report", run.out, "--gallery", 7)
    assert again.exit_code == 0, again.stderr
    assert again.stdout.strip() == str(run.out / "report.html")
    data = page_data(run.out)
    assert data["rows"] == 400 and data["max_gallery"] == 7 and data["run"]["counts"]["instances"] == 400


def test_igcli_report_refuses_a_folder_that_is_not_a_run(igcli, tmp_path):
    result = igcli("report", tmp_path)
    assert_one_line_error(result, 2, f"{tmp_path}: not an igcli output directory (no summary.csv or run.json)")
