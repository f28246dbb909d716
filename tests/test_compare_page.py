"""compare.html (#24): the page `igcli compare` writes into DIFF, checked against compare.csv and
compare.json read here with the csv and json modules: the data it carries (no browser), then the
page in headless Chromium at 1400 and 800 px (tests/test_report.py's browser fixture; skipped
without Chromium).

The runs are real: the sample shapes explained with the sample model and with a copy whose last
two weighted layers carry seeded noise, and the sample table explained at 16 and at 64 steps.
Run with IGCLI_COMPARE_SCREENSHOTS=docs, the image test also saves docs/compare.png:

    IGCLI_COMPARE_SCREENSHOTS=docs python -m pytest -q tests/test_compare_page.py -k "image_pair_page and 1400"
"""

import base64
import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import numpy as np
import pytest

from igcli.compare_page import MAX_ROWS, write_compare_page
from tests import test_report

browser = test_report.browser  # the fixture: one headless Chromium for this module

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
WIDTHS = (1400, 800)
SHOTS = os.environ.get("IGCLI_COMPARE_SCREENSHOTS")  # a folder for docs/compare.png, when asked
DATA_BLOB = re.compile(r'<script type="application/json" id="igcli-data">(.*?)</script>', re.S)
HOSTILE_IDS = ("<img src=x onerror=alert(1)>", "a & b </script><script>window.__pwned=1</script>", "<!-- %SCRIPT% \u2028")


def invoke(*args) -> int:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from click.testing import CliRunner

    from igcli.cli import cli

    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code


def read_rows(diff: Path) -> list[dict]:
    with open(diff / "compare.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def most_changed(rows: list[dict]) -> list[dict]:
    """compare.csv's rows by relative_change, largest first (ties in file order)."""
    return sorted(rows, key=lambda r: -float(r["relative_change"]))


def page_data(diff: Path) -> dict:
    blob = DATA_BLOB.search((diff / "compare.html").read_text(encoding="utf-8")).group(1)
    for character in "<>&\u2028\u2029":
        assert character not in blob
    return json.loads(blob)


def column(data: dict, name: str) -> list:
    found = next(c for c in data["columns"] if c["name"] == name)
    if "dictionary" in found:
        return [found["dictionary"][code] for code in found["codes"]]
    return found["values"]


def perturbed_model(path: Path) -> None:
    """The sample model with Gaussian noise of 0.5 x each weight's std added to the weights of its
    last two layers that have weights (seeded)."""
    import keras

    model = keras.models.load_model(SAMPLE / "shapes" / "model.keras")
    rng = np.random.default_rng(0)
    for layer in [layer for layer in model.layers if layer.get_weights()][-2:]:
        layer.set_weights([w + (0.5 * w.std() * rng.normal(size=w.shape)).astype(w.dtype) for w in layer.get_weights()])
    model.save(path)


@pytest.fixture(scope="module")
def image_pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare-images")
    shapes = SAMPLE / "shapes"
    perturbed_model(root / "perturbed.keras")
    here = os.getcwd()
    os.chdir(root)  # the runs named A and B, as on the screenshot
    try:
        for model, out in ((shapes / "model.keras", "A"), ("perturbed.keras", "B")):
            assert invoke("explain", model, shapes / "images", "--steps", 16, "--quiet", "-o", out) == 0
        assert invoke("compare", "A", "B", "-o", "diff", "--quiet") == 3  # some maps changed
    finally:
        os.chdir(here)
    return root / "diff", read_rows(root / "diff"), json.loads((root / "diff" / "compare.json").read_text())


@pytest.fixture(scope="module")
def table_pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare-table")
    table = SAMPLE / "table"
    args = ("--id-column", "id", "--label-column", "label", "--target", "label", "--output", "logits", "--quiet")
    for steps, out in ((16, "T1"), (64, "T2")):
        assert invoke("explain", table / "model.keras", table / "table.csv", *args, "--steps", steps, "-o", root / out) == 0
    invoke("compare", root / "T1", root / "T2", "-o", root / "diff", "--quiet")
    return root / "diff", read_rows(root / "diff"), json.loads((root / "diff" / "compare.json").read_text())


@pytest.fixture(scope="module")
def hostile_diff(table_pair, tmp_path_factory):
    """The table pair's compare.csv and compare.json with hostile ids, and a hostile heatmap path."""
    diff, rows, record = table_pair
    hostile = tmp_path_factory.mktemp("compare-hostile")
    names = {row["id"]: HOSTILE_IDS[k] if k < len(HOSTILE_IDS) else row["id"] for k, row in enumerate(most_changed(rows))}
    with open(hostile / "compare.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, "id": names[row["id"]]} for row in rows)
    record = json.loads(json.dumps(record))
    for pair in record["pairs_shown"]:
        pair["id"] = names[pair["id"]]
        pair["heatmap_a"], pair["heatmap_b"] = "javascript:alert(1)//.png", "../../etc/passwd"
    record["only_in_a"] = [HOSTILE_IDS[0]]
    record["counts"]["only_in_a"] = 1
    (hostile / "compare.json").write_text(json.dumps(record), encoding="utf-8")
    write_compare_page(hostile)
    return hostile


# ---------------------------------------------------------------------------------------------
# Without a browser


def test_compare_writes_the_page_with_the_most_changed_rows_first(image_pair, table_pair):
    for diff, rows, record in (image_pair, table_pair):
        data = page_data(diff)
        expected = most_changed(rows)
        assert data["rows"] == data["total_rows"] == len(rows) == record["counts"]["pairs"]
        assert column(data, "id") == [r["id"] for r in expected]
        assert column(data, "relative_change") == [float(r["relative_change"]) for r in expected]
        assert column(data, "verdict") == [r["verdict"] for r in expected]
        assert [p["id"] for p in data["pairs"]] == [r["id"] for r in expected][: len(data["pairs"])]


def test_policy_hashes_the_page_own_script_and_style(image_pair):
    html = (image_pair[0] / "compare.html").read_text(encoding="utf-8")
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html).group(1)
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.S)
        assert len(bodies) == 1
        digest = base64.b64encode(hashlib.sha256(bodies[0].encode("utf-8")).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy and "connect-src" not in policy


def test_hostile_ids_stay_data(hostile_diff):
    data = page_data(hostile_diff)  # no < > & U+2028 in the blob
    ids = column(data, "id")
    assert ids[: len(HOSTILE_IDS)] == list(HOSTILE_IDS)
    assert [p["id"] for p in data["pairs"]][: len(HOSTILE_IDS)] == list(HOSTILE_IDS)
    assert all(p["heatmap_a"] is None and p["heatmap_b"] is None for p in data["pairs"])  # not PNG files on disk
    html = (hostile_diff / "compare.html").read_text(encoding="utf-8")
    assert html.count("<script") == 2 and "<img" not in html


def test_rows_bounded_to_the_most_changed(image_pair, tmp_path):
    """25,000 rows (the image pair's, repeated under new ids): the page holds the MAX_ROWS most
    changed, compare.csv all; the histograms count every row."""
    diff, rows, _ = image_pair
    shutil.copy(diff / "compare.json", tmp_path / "compare.json")
    many = [{**row, "id": f"{row['id']}-{k}", "relative_change": str(float(row["relative_change"]) * (1 + k / 1000))} for k in range(1042) for row in rows]
    many = many[:25_000]
    with open(tmp_path / "compare.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(many)
    write_compare_page(tmp_path)
    data = page_data(tmp_path)
    assert MAX_ROWS == 20_000 and data["rows"] == MAX_ROWS and data["total_rows"] == 25_000
    assert column(data, "id") == [r["id"] for r in most_changed(many)[:MAX_ROWS]]
    histogram = next(h for h in data["histograms"] if h["column"] == "spearman_abs")
    assert histogram["count"] == sum(histogram["counts"]) == 25_000


# ---------------------------------------------------------------------------------------------
# In headless Chromium


def open_page(driver, page: Path, width: int):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")  # drop what earlier pages logged
    driver.set_window_size(width, 1000)
    driver.get(page.as_uri())
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.documentElement.dataset.ready"))
    assert driver.execute_script("return window.innerWidth") == width
    return driver


def assert_clean(driver, width: int) -> None:
    severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not severe, severe  # no script error, no blocked load
    assert driver.execute_script("return document.querySelectorAll('#problems .problem').length") == 0
    assert driver.execute_script("return document.documentElement.scrollWidth") <= width  # nothing sticks out sideways


def table_rows(driver) -> list[list]:
    """The table's drawn rows: [id, verdict, row marked changed]."""
    return driver.execute_script("""
        const names = Array.from(document.querySelectorAll('#rows thead th')).map(th => th.dataset.column);
        const id = names.indexOf('id'), verdict = names.indexOf('verdict');
        return Array.from(document.querySelectorAll('#rows tbody tr[data-row]')).map(tr =>
            [tr.cells[id].textContent, tr.cells[verdict].textContent, tr.classList.contains('changed')]);""")


def tiles(driver) -> list[list]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#pair-grid figure')).map(f => [f.querySelector('.id').title, f.querySelector('.verdict').textContent, f.classList.contains('changed')]);"
    )


def screenshot(driver) -> None:
    if SHOTS:
        driver.set_window_size(1400, 2300)
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(Path(SHOTS) / "compare.png"))


@pytest.mark.parametrize("width", WIDTHS)
def test_image_pair_page(browser, image_pair, width):
    from PIL import Image
    from selenium.webdriver.support.ui import WebDriverWait

    diff, rows, record = image_pair
    verdicts = [r["verdict"] for r in rows]
    assert "changed" in verdicts and "same" in verdicts  # both kinds to tell apart
    driver = open_page(browser, diff / "compare.html", width)
    assert_clean(driver, width)
    expected = most_changed(rows)
    shown = tiles(driver)
    assert len(shown) == min(24, len(rows)) and [t[0] for t in shown] == [r["id"] for r in expected[: len(shown)]]
    assert [t[1:] for t in shown] == [[r["verdict"], r["verdict"] == "changed"] for r in expected[: len(shown)]]
    assert table_rows(driver) == [[r["id"], r["verdict"], r["verdict"] == "changed"] for r in expected]
    looks = driver.execute_script("""const style = f => getComputedStyle(f).backgroundColor;
        return [style(document.querySelector('#pair-grid figure.changed')), style(document.querySelector('#pair-grid figure.same'))];""")
    assert looks[0] != looks[1]
    cards = dict(
        driver.execute_script(
            "return Array.from(document.querySelectorAll('#cards .card')).map(c => [c.querySelector('.label').textContent, [c.querySelector('.value').textContent, c.classList.contains('bad')]]);"
        )
    )
    assert cards["changed"] == [str(verdicts.count("changed")), True] and cards["same"] == [str(verdicts.count("same")), False]
    assert cards["exit code"] == ["3", True] and record["exit_code"] == 3
    # the first tile's heatmaps: A's and B's files, loaded, drawn at their own aspect ratio, side by side
    first = driver.find_element("css selector", "#pair-grid figure")
    driver.execute_script("arguments[0].scrollIntoView()", first)
    loaded = "return Array.from(arguments[0].querySelectorAll('img')).map(i => i.complete && i.naturalWidth > 0)"
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(loaded, first) == [True, True])
    boxes = driver.execute_script(
        "return Array.from(arguments[0].querySelectorAll('img')).map(i => { const b = i.getBoundingClientRect(); return [i.src, b.left, b.top, b.width, b.height]; })",
        first,
    )
    pair = record["pairs_shown"][0]
    for (src, _, _, w, h), path in zip(boxes, (pair["heatmap_a"], pair["heatmap_b"])):
        assert src == (diff / path).resolve().as_uri()
        natural = Image.open(diff / path).size
        assert w / h == pytest.approx(natural[0] / natural[1], rel=0.02) and w >= 100
    assert boxes[0][1] + boxes[0][3] <= boxes[1][1] and boxes[0][2] == pytest.approx(boxes[1][2], abs=1)  # A left of B, level
    if width == 1400:
        screenshot(driver)


def test_table_sorts_and_filters(browser, image_pair):
    diff, rows, _ = image_pair
    driver = open_page(browser, diff / "compare.html", 1400)
    header = "#rows th[data-column='{}'] button"
    driver.find_element("css selector", header.format("relative_change")).click()
    ascending = sorted(rows, key=lambda r: float(r["relative_change"]))
    assert [r[0] for r in table_rows(driver)] == [r["id"] for r in ascending]
    driver.find_element("css selector", header.format("relative_change")).click()
    assert [r[0] for r in table_rows(driver)] == [r["id"] for r in ascending[::-1]]
    driver.find_element("css selector", header.format("spearman_abs")).click()
    assert [r[0] for r in table_rows(driver)] == [r["id"] for r in sorted(rows, key=lambda r: float(r["spearman_abs"]))]
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", "filter-verdict")).select_by_value("changed")
    changed = [r for r in sorted(rows, key=lambda r: float(r["spearman_abs"])) if r["verdict"] == "changed"]
    assert table_rows(driver) == [[r["id"], "changed", True] for r in changed] and changed
    driver.find_element("id", "filter-id").send_keys("TRI")
    assert [r[0] for r in table_rows(driver)] == [r["id"] for r in changed if "tri" in r["id"].lower()]
    assert driver.find_element("id", "row-count").text == f"{sum('tri' in r['id'] for r in changed)} of {len(rows)} rows"
    Select(driver.find_element("id", "filter-verdict")).select_by_value("all")
    assert len(table_rows(driver)) == sum("tri" in r["id"] for r in rows)


@pytest.mark.parametrize("width", WIDTHS)
def test_table_pair_columns(browser, table_pair, width):
    diff, rows, record = table_pair
    driver = open_page(browser, diff / "compare.html", width)
    assert_clean(driver, width)
    with open(SAMPLE / "table" / "table.csv", newline="") as handle:
        features = [name for name in next(csv.reader(handle)) if name not in ("id", "label")]
    listed = "return Array.from(document.querySelectorAll('#column-table tbody tr')).map(tr => [tr.cells[0].textContent].concat(Array.from(tr.cells).slice(1).map(td => Number(td.dataset.value))))"
    shown = driver.execute_script(listed)
    assert [s[0] for s in shown] == features == [c["name"] for c in record["columns"]]
    assert shown == [[c["name"], c["mean_abs_a"], c["mean_abs_b"], c["change"]] for c in record["columns"]]
    driver.find_element("css selector", "#column-table th[data-field='change'] button").click()  # largest change first
    assert [s[0] for s in driver.execute_script(listed)] == [c["name"] for c in sorted(record["columns"], key=lambda c: -abs(c["change"]))]
    driver.find_element("css selector", "#column-table th[data-field='mean_abs_a'] button").click()
    assert [s[0] for s in driver.execute_script(listed)] == [c["name"] for c in sorted(record["columns"], key=lambda c: -c["mean_abs_a"])]
    # the settings that differ: steps 16 and 64, as a warning; the runs' facts side by side
    assert driver.execute_script("return Array.from(document.querySelectorAll('#settings-differ tbody tr')).map(tr => tr.textContent)") == ["steps1664"]
    facts = driver.execute_script("return Array.from(document.querySelectorAll('#run-facts tbody tr.differs th')).map(th => th.textContent)")
    assert facts == ["steps"]
    # no heatmaps: tiles with the figures and the most changed feature, in the order of compare.csv
    assert driver.execute_script("return document.images.length") == 0
    assert [t[0] for t in tiles(driver)] == [r["id"] for r in most_changed(rows)][: len(tiles(driver))]
    ndcg = driver.execute_script("return Array.from(document.querySelectorAll('#ndcg tbody tr')).map(tr => [tr.dataset.class, tr.classList.contains('below')])")
    assert ndcg == [["all" if g["class"] is None else str(g["class"]), g["below"]] for g in record["global"]]


def test_hostile_ids_cannot_inject_markup(browser, hostile_diff):
    driver = open_page(browser, hostile_diff / "compare.html", 1400)
    assert driver.execute_script("return window.__dialogs") == []
    assert driver.execute_script("return window.__pwned") is None
    assert driver.execute_script("return document.scripts.length") == 2 and driver.execute_script("return document.images.length") == 0
    assert driver.execute_script("return document.querySelectorAll('[onerror], [onload]').length") == 0
    text = driver.execute_script("return document.body.textContent")
    for ident in HOSTILE_IDS:
        assert ident in text
    assert [t[0] for t in tiles(driver)][: len(HOSTILE_IDS)] == list(HOSTILE_IDS)
    assert driver.execute_script("return document.querySelector('#list-only-in-a li').textContent") == HOSTILE_IDS[0]


def test_bounded_page_says_so(browser, image_pair, tmp_path):
    diff, rows, _ = image_pair
    shutil.copy(diff / "compare.json", tmp_path / "compare.json")
    with open(tmp_path / "compare.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_compare_page(tmp_path, max_rows=10)
    driver = open_page(browser, tmp_path / "compare.html", 800)
    assert driver.find_element("id", "bounded").text == f"This page holds the 10 most changed of the {len(rows)} rows (at most 10); compare.csv has every row."
    assert [r[0] for r in table_rows(driver)] == [r["id"] for r in most_changed(rows)[:10]]


def test_heatmaps_keep_their_own_shapes(browser, image_pair, tmp_path):
    """A wide heatmap in A and a tall one in B: each drawn at its own aspect ratio, A left of B."""
    from PIL import Image
    from selenium.webdriver.support.ui import WebDriverWait

    diff, rows, record = image_pair
    record = json.loads(json.dumps(record))
    first = record["pairs_shown"][0]
    for run, size in (("A", (300, 100)), ("B", (90, 270))):
        (tmp_path / run / "heatmaps").mkdir(parents=True)
        Image.new("RGB", size, (200, 40, 40)).save(tmp_path / run / "heatmaps" / "shape.png")
    first["heatmap_a"], first["heatmap_b"] = "../A/heatmaps/shape.png", "../B/heatmaps/shape.png"
    (tmp_path / "diff").mkdir()
    shutil.copy(diff / "compare.csv", tmp_path / "diff" / "compare.csv")
    (tmp_path / "diff" / "compare.json").write_text(json.dumps(record), encoding="utf-8")
    write_compare_page(tmp_path / "diff")
    for width in WIDTHS:
        driver = open_page(browser, tmp_path / "diff" / "compare.html", width)
        tile = driver.find_element("css selector", "#pair-grid figure")
        WebDriverWait(driver, 20).until(
            lambda d, tile=tile: d.execute_script("return Array.from(arguments[0].querySelectorAll('img')).map(i => i.naturalWidth)", tile) == [300, 90]
        )
        boxes = driver.execute_script(
            "return Array.from(arguments[0].querySelectorAll('img')).map(i => { const b = i.getBoundingClientRect(); return [b.left, b.width, b.height]; })",
            tile,
        )
        assert boxes[0][1] / boxes[0][2] == pytest.approx(3, rel=0.02) and boxes[1][1] / boxes[1][2] == pytest.approx(1 / 3, rel=0.02)
        assert boxes[0][0] + boxes[0][1] <= boxes[1][0]
        assert_clean(driver, width)


def test_package_data_lists_every_page_file():
    """A wheel carries the page's files: pyproject.toml lists each file of igcli/compare_page the
    page uses, and those of igcli/report_page it borrows are listed there; each script parses."""
    from igcli.compare_page.page import SCRIPTS, STYLES

    shipped = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    folder = ROOT / "igcli" / "compare_page"
    assets = sorted(path.name for path in folder.iterdir() if path.suffix in (".html", ".css", ".js"))
    used = [(package, name) for package, name in (*STYLES, *SCRIPTS, ("igcli.compare_page", "page.html"))]
    assert sorted(shipped["igcli.compare_page"]) == assets == sorted(name for package, name in used if package == "igcli.compare_page")
    assert all(name in shipped["igcli.report_page"] for package, name in used if package == "igcli.report_page")
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the scripts' syntax is not checked")
    for name in assets:
        if name.endswith(".js"):
            subprocess.run([node, "--check", str(folder / name)], check=True)
