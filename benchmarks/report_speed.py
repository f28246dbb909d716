"""How quickly report.html opens, sorts and filters with many instances, in headless Chromium.

Builds a synthetic OUT (summary.csv with --rows rows, 2% of them failed with hostile-looking
messages, the extra columns of --steps auto and of metrics; run.json; --heatmaps copies of one
small PNG under heatmaps/), writes report.html with igcli.report_page.write_report, opens it from
disk and reads the page's own clock (performance.now(), from navigation start):

    python benchmarks/report_speed.py                 # 100,000 rows, 2,000 heatmaps
    python benchmarks/report_speed.py --rows 10000 --keep /tmp/synthetic

Needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver) and
selenium. Times are the median of --repeat page loads; sort and filter are timed from the click
or keystroke to the next frame after the table is redrawn.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from igcli.report_page import write_report  # noqa: E402

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
HEADER = [
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
    "steps",
    "error_estimate",
    "status",
    "error",
    "deletion",
    "insertion",
    "uninformative_baseline",
]


def synthetic_out(out: Path, rows: int, heatmaps: int, seed: int = 0) -> None:
    """An OUT as an image run with --steps auto and metrics would leave it."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    ids = []
    with open(out / "summary.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        failures = 0
        for i in range(rows):
            folder = f"batch{i // 1000:03d}"
            ident = f"{folder}/img{i:06d}"
            ids.append(ident)
            source = f"/data/night run/{folder}/img{i:06d}.png"
            failed = i % 50 == 7
            failures += failed
            writer.writerow(_failed_row(ident, source, i) if failed else _explained_row(ident, source, rng))
    run = {
        "resolved": {"model": "model.keras", "method": "riemann_trapezoid", "steps": "auto", "tolerance": 0.01, "baseline": "zero", "batch_size": 64},
        "configuration": {"max_delta": 0.05},
        "counts": {"instances": rows, "explained": rows - failures, "reused": 0, "computed": rows - failures, "failed": failures, "skipped_files": 0},
        "errors": [],
        "max_relative_delta": None,
        "exit_code": 1,
        "timings": {"total_seconds": 1234.5},
        "metrics": {"deletion": 0.5, "insertion": 0.5},
        "command": ["igcli", "explain", "model.keras", "/data/night run", "-o", str(out)],
    }
    with open(out / "summary.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["status"] == "error":
                run["errors"].append({"id": row["id"], "source": row["source"], "error": row["error"]})
    (out / "run.json").write_text(json.dumps(run, indent=2))
    png = out / "heatmaps" / ".one.png"
    png.parent.mkdir(exist_ok=True)
    from PIL import Image

    Image.effect_mandelbrot((64, 64), (-2, -1.5, 1, 1.5), 64).convert("RGB").save(png)
    for ident in ids[:heatmaps]:
        target = out / "heatmaps" / f"{ident}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, target)
    png.unlink()


def _failed_row(ident: str, source: str, number: int) -> list:
    """A summary row of an image that failed; its error carries markup the page must not run."""
    row = [ident, source] + [""] * (len(HEADER) - 2)
    row[HEADER.index("status")] = "error"
    row[HEADER.index("error")] = f"{source}: cannot identify image file <img src=x onerror=alert({number})>"
    return row


def _explained_row(ident: str, source: str, rng: random.Random) -> list:
    names = ["circle", "square", "triangle", "star", "hexagon"]
    predicted = rng.randrange(len(names))
    score, baseline, delta = rng.random(), rng.random() * 0.3, rng.gauss(0, 0.01)
    relative = abs(delta) / max(abs(score - baseline), 1e-6) * (10 ** rng.uniform(-2, 1))
    values = [ident, source, "224x224", predicted, names[predicted], predicted, names[predicted], repr(score), repr(baseline)]
    values += [repr(score - baseline + delta), repr(delta), repr(relative), rng.choice([16, 32, 64, 128]), repr(rng.random() * 0.02)]
    return values + ["ok", "", repr(rng.random()), repr(rng.random()), rng.choice([0, 0, 0, 1])]


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

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
        f"--user-data-dir={tempfile.mkdtemp(prefix='igcli-chromium-')}",
        "--window-size=1280,1600",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


NEXT_FRAME = "requestAnimationFrame(function () { setTimeout(function () { done(performance.now() - t0); }, 0); });"


def measure(driver, url: str) -> dict:
    driver.get(url)
    deadline = time.time() + 60
    while not driver.execute_script("return window.__igcliReport && window.__igcliReport.timings.first_paint_ms"):
        if time.time() > deadline:
            raise RuntimeError("the page did not draw within 60 s")
        time.sleep(0.05)
    page = driver.execute_script("return window.__igcliReport.timings")
    navigation = driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0]; return {response_end: n.responseEnd, dom_interactive: n.domInteractive, load_event_end: n.loadEventEnd};"
    )
    click = (
        "const done = arguments[arguments.length - 1]; const t0 = performance.now(); document.querySelector('th[data-column=\"%s\"] button').click(); "
        + NEXT_FRAME
    )
    sort_score = driver.execute_async_script(click % "score")
    sort_score_again = driver.execute_async_script(click % "score")
    sort_id = driver.execute_async_script(click % "id")
    sort_source = driver.execute_async_script(click % "source")
    typed = (
        "const done = arguments[arguments.length - 1]; const box = document.getElementById('filter-id'); const t0 = performance.now(); "
        "box.value = arguments[0]; box.dispatchEvent(new Event('input')); " + NEXT_FRAME
    )
    filter_id = driver.execute_async_script(typed, "img0012")
    shown = driver.execute_script("return document.getElementById('row-count').textContent")
    driver.execute_async_script(typed, "")
    status = (
        "const done = arguments[arguments.length - 1]; const select = document.getElementById('filter-status'); const t0 = performance.now(); "
        "select.value = 'error'; select.dispatchEvent(new Event('change')); " + NEXT_FRAME
    )
    filter_status = driver.execute_async_script(status)
    shown_status = driver.execute_script("return document.getElementById('row-count').textContent")
    return {
        "parse_ms": page["parse_ms"],
        "first_render_ms": page["first_render_ms"],
        "first_paint_ms": page["first_paint_ms"],
        "html_read_ms": navigation["response_end"],
        "sort_score_ms": sort_score,
        "sort_score_reverse_ms": sort_score_again,
        "sort_id_ms": sort_id,
        "sort_source_ms": sort_source,
        "filter_id_ms": filter_id,
        "filter_id_rows": shown,
        "filter_status_ms": filter_status,
        "filter_status_rows": shown_status,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--heatmaps", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build OUT here and leave it")
    args = parser.parse_args()
    out = args.keep or Path(tempfile.mkdtemp(prefix="igcli-report-")) / "out"
    synthetic_out(out, args.rows, args.heatmaps)
    started = time.perf_counter()
    page = write_report(out)
    print(f"write_report: {time.perf_counter() - started:.2f} s for {args.rows:,} rows; report.html {page.stat().st_size:,} bytes")
    driver = browser()
    try:
        runs = [measure(driver, page.resolve().as_uri()) for _ in range(args.repeat)]
    finally:
        driver.quit()
    for key in runs[0]:
        values = [run[key] for run in runs]
        print(
            f"{key:>22}: "
            + (f"{statistics.median(values):8.1f} ms  (runs: {', '.join(f'{v:.0f}' for v in values)})" if isinstance(values[0], (int, float)) else values[0])
        )
    if not args.keep:
        shutil.rmtree(out.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
