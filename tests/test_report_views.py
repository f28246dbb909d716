"""report.html's views (#23): the layouts at 1400 and 800 px wide, out-of-range figures marked in
the cards, the table and the gallery, the normalised metrics, and the per-feature view of table
and token runs; the data the page carries for them, checked against numpy.

The browser tests reuse tests/test_report.py's headless Chromium (skipped without it). Run with
IGCLI_REPORT_SCREENSHOTS=docs, the layout tests also save the screenshots docs/outputs.md shows:

    IGCLI_REPORT_SCREENSHOTS=docs python -m pytest -q tests/test_report_views.py -k "panels or feature_view"
"""

import csv
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import numpy as np
import pytest

from igcli.report_page import features, write_report
from igcli.report_page.page import SCRIPTS
from tests import test_report
from tests.test_report import SUMMARY_HEADER, page_data, write_summary

browser = test_report.browser  # the fixture: one headless Chromium for this module

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
WIDTHS = (1400, 800)
SHOTS = os.environ.get("IGCLI_REPORT_SCREENSHOTS")  # a folder for the screenshots, when asked
# on either side of --max-delta 0.02 and of the default 0.05 for the error estimate (--steps 16)
PANEL_IMAGES = ("square_00", "triangle_07", "square_01", "circle_07", "square_05", "circle_02")


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def cli_run(out: Path, *args) -> int:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from click.testing import CliRunner

    from igcli.cli import cli

    result = CliRunner().invoke(cli, ["explain", *(str(a) for a in args), "-o", str(out)], catch_exceptions=False)
    if not (out / "report.html").exists():
        write_report(out)
    return result.exit_code


@pytest.fixture(scope="module")
def panel_run(tmp_path_factory):
    """Six sample shapes and two broken files, --panel, --metrics and --max-delta 0.02: failures of
    one kind, wide PNGs, figures on both sides of the limits."""
    root = tmp_path_factory.mktemp("panels")
    images = root / "images"
    images.mkdir()
    for name in PANEL_IMAGES:
        shutil.copy(SAMPLE / "shapes" / "images" / f"{name}.png", images)
    for name in ("broken_a.png", "broken_b.png"):
        (images / name).write_bytes(b"not a png")
    shapes = SAMPLE / "shapes"
    code = cli_run(
        root / "out",
        shapes / "model.keras",
        images,
        "--panel",
        "--class-names",
        shapes / "class_names.txt",
        "--steps",
        16,
        "--metrics",
        "deletion,insertion",
        "--max-delta",
        0.02,
    )
    assert code == 1  # the broken files failed
    return root / "out", read_csv(root / "out" / "summary.csv")


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("table") / "out"
    table = SAMPLE / "table"
    args = ("--id-column", "id", "--label-column", "label", "--target", "label", "--output", "logits", "--class-names", table / "class_names.txt")
    assert cli_run(out, table / "model.keras", table / "table.csv", *args) == 0
    with open(out / "attributions.csv", newline="") as handle:
        header = next(csv.reader(handle))
    values = np.genfromtxt(out / "attributions.csv", delimiter=",", skip_header=1, dtype=np.float64)[:, 1:]
    return out, header[1:], values


def open_page(driver, page: Path, width: int):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.set_window_size(width, 1000)
    driver.get(page.as_uri())
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.documentElement.dataset.ready"))
    assert driver.execute_script("return window.innerWidth") == width
    return driver


def screenshot(driver, name: str, section: str | None = None) -> None:
    """With IGCLI_REPORT_SCREENSHOTS: the whole page (or the viewport from a section down) as a PNG."""
    if not SHOTS:
        return
    if section:
        driver.execute_script(f"window.scrollTo(0, document.getElementById('{section}').offsetTop - 10)")
        driver.save_screenshot(str(Path(SHOTS) / name))
        return
    width, height = driver.execute_script("return [window.innerWidth, Math.min(document.documentElement.scrollHeight, 5000)]")
    driver.set_window_size(width, height + 1000 - driver.execute_script("return window.innerHeight"))  # the window's frame included
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(Path(SHOTS) / name))


def load_gallery(driver) -> None:
    """Every lazy gallery image scrolled into view and loaded."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("for (const img of document.querySelectorAll('#gallery-grid img')) img.scrollIntoView();")
    done = "const images = document.querySelectorAll('#gallery-grid img'); return images.length > 0 && Array.from(images).every(i => i.complete && i.naturalWidth > 0);"
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(done))


# ---------------------------------------------------------------------------------------------
# In headless Chromium, at both widths


@pytest.mark.parametrize("width", WIDTHS)
def test_panels_keep_their_shape_and_failures_head_on_one_line(browser, panel_run, width):
    from PIL import Image

    out, rows = panel_run
    driver = open_page(browser, out / "report.html", width)
    # the failures grouped by message: "instances" is one line, as high as its neighbour "message"
    head = driver.execute_script("""
        const cells = Array.from(document.querySelectorAll('#failures table.kinds th'));
        return cells.map(th => { const range = document.createRange(); range.selectNodeContents(th);
            return [th.textContent, range.getClientRects().length, th.getBoundingClientRect().height, parseFloat(getComputedStyle(th).fontSize)]; });""")
    assert [cell[0] for cell in head] == ["instances", "message"]
    _, lines, height, font = head[0]
    assert lines == 1 and height < 2 * font, head  # one line box, under two lines' height
    load_gallery(driver)
    shown = driver.execute_script("""return Array.from(document.querySelectorAll('#gallery-grid figure:not(.failed)')).map(f => {
        const img = f.querySelector('img'), box = img.getBoundingClientRect(), link = img.parentElement.getBoundingClientRect();
        return [f.querySelector('.id').textContent, box.width, box.height, link.height]; });""")
    assert sorted(s[0] for s in shown) == sorted(PANEL_IMAGES)
    for ident, w, h, box in shown:
        natural = Image.open(out / "heatmaps" / f"{ident}.png").size
        assert natural[0] / natural[1] > 2.5  # input | heatmap | overlay
        assert (w / h) / (natural[0] / natural[1]) == pytest.approx(1, abs=0.02), (ident, w, h, natural)
        assert h >= 130 and abs(box - h) <= 1  # no band around the image, and not a thumbnail
    assert driver.execute_script("return document.documentElement.scrollWidth") <= width  # nothing sticks out sideways
    screenshot(driver, f"report-{width}.png")


@pytest.mark.parametrize("width", WIDTHS)
def test_out_of_range_figures_are_marked(browser, panel_run, width):
    out, rows = panel_run
    driver = open_page(browser, out / "report.html", width)
    limits = {"relative_delta": 0.02, "error_estimate": 0.05}  # --max-delta 0.02; no --max-error: 0.05

    def over(row, name):
        return row["status"] == "ok" and (row[name] == "1" if name == "incomplete" else float(row[name]) > limits[name])

    expected = {r["id"]: {name: over(r, name) for name in ("relative_delta", "error_estimate", "incomplete")} for r in rows}
    assert any(v["relative_delta"] for v in expected.values()) and not all(v["relative_delta"] for v in expected.values())
    assert any(v["error_estimate"] for v in expected.values()) and not all(v["error_estimate"] for v in expected.values())
    assert any(0.02 < float(r["relative_delta"] or 0) <= 0.05 for r in rows)  # marked by --max-delta, not by the default
    cells = driver.execute_script("""
        const names = Array.from(document.querySelectorAll('#rows thead th')).map(th => th.dataset.column);
        return Array.from(document.querySelectorAll('#rows tbody tr[data-row]')).map(tr => {
            const found = {}; names.forEach((name, k) => { found[name] = tr.cells[k].classList.contains('over'); }); return found; });""")
    assert len(cells) == len(rows)
    assert [{name: c[name] for name in ("relative_delta", "error_estimate", "incomplete")} for c in cells] == [expected[r["id"]] for r in rows]
    assert not any(c["score"] or c["id"] for c in cells)
    # a marked cell looks different from an unmarked one of the same column
    looks = driver.execute_script("""
        const k = Array.from(document.querySelectorAll('#rows thead th')).findIndex(th => th.dataset.column === 'relative_delta');
        const style = td => { const s = getComputedStyle(td); return [s.color, s.backgroundColor, s.fontWeight]; };
        const cells = Array.from(document.querySelectorAll('#rows tbody tr[data-row]')).map(tr => tr.cells[k]);
        return [style(cells.find(td => td.classList.contains('over'))), style(cells.find(td => !td.classList.contains('over') && td.textContent))];""")
    assert all(a != b for a, b in zip(*looks)), looks
    tiles = driver.execute_script(
        "return Array.from(document.querySelectorAll('#gallery-grid figure')).map(f => [f.querySelector('.id').textContent, f.classList.contains('over')]);"
    )
    assert dict(tiles) == {ident: any(flags.values()) for ident, flags in expected.items()}
    cards = dict(
        driver.execute_script(
            "return Array.from(document.querySelectorAll('.card')).map(c => [c.querySelector('.label').textContent, [c.querySelector('.value').textContent, c.classList.contains('over')]]);"
        )
    )
    ok = [r for r in rows if r["status"] == "ok"]
    assert cards["max relative delta (limit --max-delta 0.02)"][1] and cards["relative delta over --max-delta 0.02"] == [
        str(sum(v["relative_delta"] for v in expected.values())),
        True,
    ]
    worst = max(float(r["error_estimate"]) for r in ok)
    median = next(label for label in cards if label.startswith("max error estimate"))
    assert median.endswith("(limit 0.05)") and cards[median] == [f"{worst:.4g}", True]
    assert cards["error estimate over 0.05"] == [str(sum(v["error_estimate"] for v in expected.values())), True]
    assert not cards["instances"][1] and not cards["explained"][1]


@pytest.mark.parametrize("width", WIDTHS)
def test_feature_view_of_a_table_run(browser, table_run, width):
    out, names, values = table_run
    driver = open_page(browser, out / "report.html", width)
    mean_abs = np.abs(values).mean(axis=0)  # every instance explained
    means = "return Array.from(document.querySelectorAll('#feature-means tbody tr')).map(tr => [tr.dataset.feature, +tr.querySelector('td[data-key=mean_abs]').dataset.value]);"
    shown = driver.execute_script(means)
    assert [name for name, _ in shown] == [names[i] for i in np.argsort(-mean_abs)]  # the largest first
    assert {shown[0][0], shown[1][0]} == {"f1", "f4"}  # the columns that drive the label
    assert dict(shown) == pytest.approx(dict(zip(names, mean_abs)), rel=1e-12)
    driver.find_element("css selector", "#feature-means th[data-key=mean_abs] button").click()
    assert [name for name, _ in driver.execute_script(means)] == [names[i] for i in np.argsort(mean_abs)]
    driver.find_element("css selector", "#feature-means th[data-key=name] button").click()
    assert [name for name, _ in driver.execute_script(means)] == sorted(names)
    # each instance's five largest |A|, signed, the largest first
    top = driver.execute_script(
        "return Array.from(document.querySelectorAll('#feature-top tbody tr')).slice(0, 20).map(tr => Array.from(tr.querySelectorAll('td.top')).map(td => [td.dataset.name, +td.dataset.value]));"
    )
    for row, cells in enumerate(top):
        order = np.argsort(-np.abs(values[row]))[:5]
        assert cells == [[names[j], values[row, j]] for j in order]
    driver.find_element("id", "feature-filter").send_keys("row01")
    visible = driver.execute_script("return Array.from(document.querySelectorAll('#feature-top tbody tr')).filter(tr => !tr.hidden).map(tr => tr.dataset.id);")
    assert visible == [f"row01{k}" for k in range(10)]
    boxes = driver.execute_script(
        "return Array.from(document.querySelectorAll('#features .features-box')).map(b => { const r = b.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; });"
    )
    (left, top_edge, right, bottom), (left2, top2, right2, _) = boxes
    if width >= 1400:
        assert left2 > right and abs(top2 - top_edge) < 60  # side by side
    else:
        assert top2 > bottom  # one under the other
    assert max(right, right2) <= width and driver.execute_script("return document.documentElement.scrollWidth") <= width
    screenshot(driver, f"report-table-{width}.png", section="features")


def test_limits_when_given_and_when_not(browser, tmp_path):
    header = [*SUMMARY_HEADER[:12], "error_estimate", "incomplete", "status", "error"]
    figures = [(0.01, 0.01, 0), (0.07, 0.01, 0), (0.03, 0.03, 1), (0.04, 0.015, 0)]
    rows = [{"id": f"r{k}", "score": "1", "relative_delta": d, "error_estimate": e, "incomplete": i, "status": "ok"} for k, (d, e, i) in enumerate(figures)]
    run = {"configuration": {"max_delta": None, "max_error": 0.02}, "counts": {"instances": 4}, "max_relative_delta": 0.07}
    run["error_estimate"] = {"estimated": True, "max": 0.03, "median": 0.0125, "over_max_error": ["r2"], "incomplete": {"ids": ["r2"]}}
    write_summary(tmp_path / "given", rows, header, run=run)
    write_report(tmp_path / "given")
    assert page_data(tmp_path / "given")["limits"] == {
        "relative_delta": {"value": 0.05, "option": None},
        "error_estimate": {"value": 0.02, "option": "--max-error"},
    }
    driver = open_page(browser, tmp_path / "given" / "report.html", 1400)
    marked = driver.execute_script("""
        const names = Array.from(document.querySelectorAll('#rows thead th')).map(th => th.dataset.column);
        return Array.from(document.querySelectorAll('#rows tbody tr[data-row]')).map(tr =>
            ['relative_delta', 'error_estimate', 'incomplete'].map(name => tr.cells[names.indexOf(name)].classList.contains('over')));""")
    # 0.07 > 0.05 (no --max-delta); 0.03 > --max-error 0.02; incomplete 1
    assert marked == [[False, False, False], [True, False, False], [False, True, True], [False, False, False]]
    cards = dict(
        driver.execute_script(
            "return Array.from(document.querySelectorAll('.card')).map(c => [c.querySelector('.label').textContent, c.classList.contains('over')]);"
        )
    )
    assert cards["max relative delta (limit 0.05)"] and cards["relative delta over 0.05"] and cards["error estimate over --max-error 0.02"]
    assert cards["incomplete: more steps will not fix"] and not cards["instances"]
    # nothing out of range: nothing marked, though the same cards are there
    calm = [dict(r, relative_delta=0.01, error_estimate=0.01, incomplete=0) for r in rows]
    write_summary(tmp_path / "calm", calm, header, run=dict(run, max_relative_delta=0.01, error_estimate={"estimated": True, "max": 0.01, "median": 0.01}))
    write_report(tmp_path / "calm")
    driver = open_page(browser, tmp_path / "calm" / "report.html", 1400)
    assert driver.execute_script("return document.querySelectorAll('.over').length") == 0
    assert driver.execute_script("return Array.from(document.querySelectorAll('.card .label')).map(l => l.textContent)")[-2:] == [
        "max relative delta (limit 0.05)",
        "max error estimate (median 0.01) (limit --max-error 0.02)",
    ]


# ---------------------------------------------------------------------------------------------
# The data, without a browser


def test_feature_data_of_the_table_run(table_run):
    out, names, values = table_run
    view = page_data(out)["features"]
    assert view["kind"] == "columns" and view["names"] == names and view["rows"] == view["top_total"] == 400 == len(values)
    assert view["mean_abs"] == pytest.approx(np.abs(values).mean(axis=0).tolist(), rel=1e-12)
    assert view["mean"] == pytest.approx(values.mean(axis=0).tolist(), rel=1e-12, abs=1e-15)
    ids = [r["id"] for r in read_csv(out / "attributions.csv")]
    assert view["top"]["ids"] == ids and view["top"]["targets"] is None
    order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :5]
    assert view["top"]["names"] == [[names[j] for j in row] for row in order]
    assert view["top"]["values"] == np.take_along_axis(values, order, axis=1).tolist()


def test_feature_data_stays_bounded(tmp_path, monkeypatch):
    """Few features and rows travel to the page however many the run has: the largest mean |A|
    (in the file's order), and the first explained rows; the means are over every row."""
    monkeypatch.setattr(features, "MAX_FEATURES", 10)
    monkeypatch.setattr(features, "MAX_FEATURE_ROWS", 50)
    monkeypatch.setattr(features, "CHUNK", 64)  # several chunks
    rng = np.random.default_rng(3)
    values = rng.normal(size=(300, 30)) * rng.uniform(0.1, 5, size=30)
    failed = np.arange(300) % 7 == 3
    with open(tmp_path / "attributions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "rank", "target", *(f"c{j}" for j in range(30))])
        for i, row in enumerate(values):
            writer.writerow(
                [f"i{i // 2}", "" if failed[i] else i % 2 + 1, "" if failed[i] else i % 2 * 3, *([""] * 30 if failed[i] else [repr(float(v)) for v in row])]
            )
    view = features.feature_data(tmp_path, [])
    kept = values[~failed]
    mean_abs = np.abs(kept).mean(axis=0)
    largest = np.sort(np.argsort(-mean_abs)[:10])
    assert view["features"] == 30 and view["names"] == [f"c{j}" for j in largest] and view["rows"] == view["top_total"] == len(kept)
    assert view["mean_abs"] == pytest.approx(mean_abs[largest].tolist(), rel=1e-12)
    assert view["mean"] is None  # several targets: the signs of different classes would cancel
    first = np.flatnonzero(~failed)[:50]
    assert view["top"]["ids"] == [f"i{i // 2}" for i in first] and view["top"]["targets"] == [str(i % 2 * 3) for i in first]
    assert view["top"]["values"] == [values[i, np.argsort(-np.abs(values[i]), kind="stable")[:5]].tolist() for i in first]


def test_feature_data_of_a_token_run(igcli):
    text = SAMPLE / "text"
    run = igcli(
        "explain", text / "model.keras", text / "reviews.npz", "--layer", "embedding", "--output", "logits", "--vocab", text / "vocab.txt", "--target", "top:2",
        "--class-names", text / "class_names.txt", "--steps", 8,
    )  # fmt: skip
    assert run.exit_code == 0, run.stderr
    tokens = read_csv(run.out / "tokens.csv")
    view = page_data(run.out)["features"]
    assert view["kind"] == "tokens" and view["rows"] == 60  # 30 texts, 2 targets
    by_token: dict = {}
    for t in tokens:
        by_token.setdefault(t["token"], []).append(float(t["attribution"]))
    assert view["names"] == list(by_token)  # first seen first
    assert view["mean_abs"] == pytest.approx([np.mean(np.abs(v)) for v in by_token.values()], rel=1e-12)
    assert view["count"] == [len(v) for v in by_token.values()]
    first = [t for t in tokens if t["id"] == "0" and t["target"] == tokens[0]["target"]]
    strongest = sorted(first, key=lambda t: -abs(float(t["attribution"])))[:5]
    assert view["top"]["names"][0] == [t["token"] for t in strongest]
    assert view["top"]["positions"][0] == [int(t["position"]) for t in strongest]
    names = (text / "class_names.txt").read_text().split()
    assert view["top"]["target_names"][:2] == [names[int(t)] for t in view["top"]["targets"][:2]]
    assert {name for name, _ in zip(view["names"], view["mean_abs"]) if _ > 1} == {
        "great",
        "excellent",
        "loved",
        "wonderful",
        "superb",
        "awful",
        "terrible",
        "hated",
        "boring",
        "dreadful",
    }


def test_normalised_metrics_and_limits_in_the_data(panel_run):
    out, rows = panel_run
    data = page_data(out)
    assert data["metrics"] == ["deletion_normalised", "insertion_normalised"] and data["panels"] is True
    for name in data["metrics"]:
        assert data["metric_means"][name] == pytest.approx(np.mean([float(r[name]) for r in rows if r[name]]), rel=1e-12)
    assert [h["column"] for h in data["histograms"]] == ["relative_delta", "error_estimate", "deletion_normalised", "insertion_normalised"]
    assert data["limits"] == {"relative_delta": {"value": 0.02, "option": "--max-delta"}, "error_estimate": {"value": 0.05, "option": None}}
    assert [h["threshold"] for h in data["histograms"][:2]] == [0.02, 0.05]


def test_every_page_file_ships_and_parses():
    folder = ROOT / "igcli" / "report_page"
    shipped = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["igcli.report_page"]
    assets = sorted(p.name for p in folder.iterdir() if p.suffix in (".js", ".css", ".html"))
    assert sorted(shipped) == assets and sorted(SCRIPTS) == sorted(p for p in assets if p.endswith(".js"))
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the scripts' syntax is not checked")
    for name in SCRIPTS:
        subprocess.run([node, "--check", str(folder / name)], check=True)


def test_a_histogram_of_values_equal_but_for_rounding_has_one_filled_bin():
    # found by igcli compare: a run compared with itself has correlations of 1 +- 2e-16
    from igcli.report_page.data import histogram

    values = np.array([1.0, 1.0 - 2.2e-16, 1.0, 1.0 - 1.1e-16] * 3)
    result = histogram("spearman", values, None)
    assert sum(result["counts"]) == 12 and max(result["counts"]) == 12
