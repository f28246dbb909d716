"""report.html for runs made with --xrai (#25): each tile's XRAI region picture beside its heatmap,
the target's own with several targets, and nothing of XRAI on other runs' pages; in headless
Chromium at 1400 and 800 px (skipped without it)."""

import shutil

import pytest

from tests import test_report
from tests.test_report import page_data
from tests.test_report_views import SAMPLE, WIDTHS, cli_run, load_gallery, open_page, read_csv, screenshot
from tests.test_report_views import panel_run as panel_run  # the fixture: a run without --xrai

browser = test_report.browser  # the fixture: one headless Chromium for this module

XRAI_IMAGES = ("circle_00", "square_01", "triangle_02")


@pytest.fixture(scope="module")
def xrai_runs(tmp_path_factory):
    """Three sample shapes and a flat grey image (XRAI cannot segment it: a heatmap, no regions),
    with --xrai: one target with --panel, and --target top:2."""
    from PIL import Image

    root = tmp_path_factory.mktemp("xrai")
    images = root / "images"
    images.mkdir()
    for name in XRAI_IMAGES:
        shutil.copy(SAMPLE / "shapes" / "images" / f"{name}.png", images)
    Image.new("RGB", (64, 64), (128, 128, 128)).save(images / "flat.png")
    shapes, runs = SAMPLE / "shapes", {}
    for name, extra in (("panel", ["--panel"]), ("targets", ["--target", "top:2"])):
        args = (shapes / "model.keras", images, "--xrai", "--steps", 8, "--class-names", shapes / "class_names.txt", *extra)
        assert cli_run(root / name, *args) == 0
        runs[name] = root / name, read_csv(root / name / "summary.csv")
    return runs


def gallery_tiles(driver) -> list:
    """Each tile's caption id and, per picture in it, [src, natural width, natural height, width, height]."""
    return driver.execute_script("""return Array.from(document.querySelectorAll('#gallery-grid figure')).map(f => [
        f.querySelector('.id').textContent, !!f.querySelector('.placeholder.regions'), Array.from(f.querySelectorAll('img')).map(i => {
            const r = i.getBoundingClientRect(); return [i.getAttribute('src'), i.naturalWidth, i.naturalHeight, r.width, r.height]; })]);""")


@pytest.mark.parametrize("width", WIDTHS)
def test_xrai_regions_beside_each_heatmap(browser, xrai_runs, width):
    from PIL import Image

    out, rows = xrai_runs["panel"]
    assert {r["id"] for r in rows if r["status"] == "ok"} == {*XRAI_IMAGES, "flat"}
    assert sorted(p.name for p in (out / "heatmaps").glob("*.xrai.png")) == sorted(f"{name}.xrai.png" for name in XRAI_IMAGES)
    data = page_data(out)
    assert data["xrai"] == [0 if r["id"] == "flat" else 1 for r in rows] and data["panels"] is True
    driver = open_page(browser, out / "report.html", width)
    load_gallery(driver)
    note = driver.find_element("id", "gallery-xrai-note").text
    assert "XRAI regions" in note and "30% of the image at full brightness" in note
    tiles = gallery_tiles(driver)
    assert sorted(t[0] for t in tiles) == sorted([*XRAI_IMAGES, "flat"])
    for ident, placeholder, pictures in tiles:
        expected = [f"heatmaps/{ident}.png"] + ([] if ident == "flat" else [f"heatmaps/{ident}.xrai.png"])
        assert [p[0] for p in pictures] == expected and placeholder == (ident == "flat")
        for src, natural_w, natural_h, w, h in pictures:
            assert (natural_w, natural_h) == Image.open(out / src).size and natural_w > 0
            assert (w / h) / (natural_w / natural_h) == pytest.approx(1, abs=0.02), (src, w, h)
        assert pictures[0][1] / pictures[0][2] > 2.5 and h >= 100  # the panel, and the regions not a thumbnail
        assert abs(pictures[0][4] - pictures[-1][4]) <= 1.5  # side by side, equally high
    assert driver.execute_script("return document.documentElement.scrollWidth") <= width
    screenshot(driver, f"report-xrai-{width}.png", section="gallery")


def test_xrai_of_each_tiles_target(browser, xrai_runs):
    out, rows = xrai_runs["targets"]
    driver = open_page(browser, out / "report.html", 1400)
    load_gallery(driver)
    assert "of the tile's target" in driver.find_element("id", "gallery-xrai-note").text
    names = (SAMPLE / "shapes" / "class_names.txt").read_text().split()
    tiles = {t[0]: t for t in gallery_tiles(driver)}
    explained = [r for r in rows if r["status"] == "ok" and r["id"] != "flat"]
    assert len(explained) == 2 * len(XRAI_IMAGES)
    for row in explained:
        key = f"{row['id']}/{names[int(row['target'])]}"
        _, placeholder, pictures = tiles[key]
        assert [p[0] for p in pictures] == [f"heatmaps/{key}.png", f"heatmaps/{key}.xrai.png"] and not placeholder
        assert all(p[1] > 0 for p in pictures)
    for ident in XRAI_IMAGES:  # the two targets' regions differ: the tile's own is the one shown
        first, second = sorted((out / "heatmaps" / ident).glob("*.xrai.png"))
        assert first.read_bytes() != second.read_bytes()
    assert tiles["flat/" + names[int(next(r for r in rows if r["id"] == "flat")["target"])]][1]  # no regions: the note


def test_no_xrai_elements_without_xrai(browser, panel_run):
    out, _ = panel_run
    assert page_data(out)["xrai"] == 0
    driver = open_page(browser, out / "report.html", 1400)
    found = "return document.querySelectorAll('#gallery-grid .pair, #gallery-grid .regions, #gallery-xrai-note, .gallery.xrai, img[src$=\".xrai.png\"]').length"
    assert driver.execute_script(found) == 0 and driver.execute_script("return document.querySelectorAll('#gallery-grid img').length") > 0
