"""The demo's HTML report, opened in a real headless Chromium: categories and figures show,
and every listening page opens from the side bar with players Chromium decodes.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (and selenium from the
``dev`` extra); without them the browser test is skipped, unless ``CI=1`` or
``MUSICSTEER_REQUIRE_BROWSER=1``, where it fails. The same check runs on its own against
any report: ``.venv/bin/python tests/helpers/report_check.py results/report.html``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.conftest import DEMO, RESULTS, snakemake
from tests.helpers.report_check import (
    CHROMIUM_MAX_URL_CHARS,
    browser_required,
    check_report,
    find_browser,
    oversized_html_results,
    read_report,
    screenshot_result,
    start_chromium,
)

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    """(chromium, chromedriver); skips, or fails on CI, before the demo DAG runs."""
    found = find_browser()
    if isinstance(found, str):
        if browser_required():
            pytest.fail(f"CI / MUSICSTEER_REQUIRE_BROWSER is set but {found}")
        pytest.skip(f"no headless browser to check the report: {found}")
    return found


@pytest.fixture(scope="module")
def report_html(demo_run):
    """``snakemake --report results/wiring/report.html`` in the demo run's folder."""
    work, _ = demo_run
    start = time.perf_counter()
    # --configfile last: it takes every following positional argument as a config file
    done = snakemake(work, "--report", f"{RESULTS}/report.html", *DEMO)
    assert done.returncode == 0, done.stderr[-4000:]
    report = work / RESULTS / "report.html"
    assert report.is_file(), done.stderr[-4000:]
    print(f"report: {report.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s")
    return report


def test_report_holds_figures_tables_and_listening_pages(report_html):
    categories, results = read_report(report_html)
    listen = sorted(p for subs in categories["Listen"].values() for p in subs)
    root = report_html.parents[len(Path(RESULTS).parts)]  # the run's working directory
    pages = sorted(str(p.relative_to(root)) for p in root.glob(f"{RESULTS}/report/listen/*/*.html"))
    assert pages and listen == pages, (listen, pages)
    assert f"{RESULTS}/report/listen/instruments/page_01.html" in listen
    assert all(results[p]["mime_type"] == "text/html" for p in listen)
    assert any(r["mime_type"] == "image/png" for r in results.values())
    assert any(r["mime_type"] == "text/csv" for r in results.values())
    tables = {p: r for p, r in results.items() if p.startswith(f"{RESULTS}/tables/")}
    assert {
        f"{RESULTS}/tables/genre_fusion.html",
        f"{RESULTS}/tables/instrument_transfer.html",
    } <= set(tables)
    assert all(tables[p]["mime_type"] == "text/html" for p in tables if p.endswith(".html"))


def test_listening_pages_fit_chromiums_url_limit(report_html):
    """The report shows an HTML result in an iframe whose src is its data: URI; Chromium
    blocks URIs over 2 MiB (about 1.5 MB of page), leaving the frame empty."""
    _, results = read_report(report_html)
    oversized = oversized_html_results(results)
    assert not oversized, (
        f"these pages would show as about:blank#blocked in Chromium (data: URI over "
        f"{CHROMIUM_MAX_URL_CHARS:,} characters): {oversized}"
    )


@pytest.fixture
def browser(chromium):
    driver = start_chromium(*chromium)
    yield driver
    driver.quit()


def test_report_in_chromium(chromium, report_html, browser):
    start = time.perf_counter()
    summary = check_report(report_html, browser)  # raises with every problem it saw
    print(f"browser check: {time.perf_counter() - start:.1f} s")
    categories, results = read_report(report_html)
    assert sorted(summary["categories"]) == sorted(categories)
    assert summary["figures"], "no figure was opened"
    assert all(w > 0 and h > 0 for w, h in summary["figures"].values()), summary["figures"]
    listen = {p for subs in categories["Listen"].values() for p in subs}
    assert set(summary["pages"]) == listen
    assert all(page["players"] > 0 for page in summary["pages"].values()), summary["pages"]
    # both paper tables are shown inline, with numbers, the chosen α and its setting
    tables = summary["tables"]
    assert set(tables) == {
        f"{RESULTS}/tables/genre_fusion.html",
        f"{RESULTS}/tables/instrument_transfer.html",
    }, set(tables)
    fusion = tables[f"{RESULTS}/tables/genre_fusion.html"]
    assert fusion["caption"].startswith("Genre fusion") and fusion["head"][0] == "Pair"
    assert len(fusion["rows"]) == 2 * 5  # original and steered row of the 5 demo pairs
    steered = [row for row in fusion["rows"] if row[4] != "–"]
    assert steered and all(re.match(r"[\d.]+ \((resid|attn), ", row[4]) for row in steered)
    assert any(re.search(r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", row[2]) for row in fusion["rows"])


def test_a_screenshot_shows_the_table_as_a_reader_sees_it(chromium, report_html, browser, tmp_path):
    from PIL import Image

    table = f"{RESULTS}/tables/genre_fusion.html"
    png = screenshot_result(report_html, table, tmp_path / "table.png", browser)
    with Image.open(png) as image:
        assert image.size[0] >= 1000 and image.size[1] >= 600
        # a table on a white page, not a blank frame: many distinct shades
        assert len(image.convert("L").getcolors() or []) > 20


def test_listening_pages_split_under_the_budget_and_keep_every_player(tmp_path):
    """Unit check of the packing (no browser): every sample appears once per setting row,
    pages stay under the budget, and a setting's header repeats on a continued page."""
    import numpy as np
    import pandas as pd

    from musicsteer import audio
    from musicsteer.report.pages import listening_pages

    rows = []
    tone = (0.2 * np.sin(np.arange(16_000) / 32_000 * 2 * np.pi * 330)).astype(np.float32)
    for prompt_id in range(3):
        path = audio.write_wav(tmp_path / f"o{prompt_id}.wav", tone, 32_000)
        rows.append(
            {
                "path": str(path),
                "kind": "original",
                "prompt_id": prompt_id,
                "seed": 0,
                "prompt": f"prompt {prompt_id}",
            }
        )
        for alpha in (2.0, 8.0):
            path = audio.write_wav(tmp_path / f"s{prompt_id}_{alpha:g}.wav", tone, 32_000)
            rows.append(
                {
                    "path": str(path),
                    "kind": "steered",
                    "prompt_id": prompt_id,
                    "seed": 0,
                    "prompt": f"prompt {prompt_id}",
                    "target": "pop",
                    "site": "resid",
                    "method": "mse",
                    "layers": "best",
                    "layer": "2",
                    "alpha": alpha,
                }
            )
    samples = pd.DataFrame(rows)
    scores = pd.DataFrame(
        {"path": samples.path, "label_set": "pair", "label": "pop", "probability": 0.25}
    )
    one = listening_pages(samples, scores, "rock → pop", "intro")
    assert len(one) == 1 and one[0].count("<audio") == 9 and "pop 0.250" in one[0]
    row_size = len(one[0]) // 3
    split = listening_pages(samples, scores, "rock → pop", "intro", budget=int(row_size * 1.2))
    assert len(split) == 3 and all(len(page) < 1.5 * row_size for page in split)
    assert sum(page.count("<audio") for page in split) == 9
    assert all("resid · mse · layers best" in page and "(2/3)" in split[1] for page in split)
    only = listening_pages(
        samples, scores, "t", "i", settings=[{"site": "attn", "method": "mse", "layers": "best"}]
    )
    assert "<audio" not in only[0]
    # the α the table chose for this setting (from its *_alpha.tsv) is marked, once
    from musicsteer.report.pages import chosen_alphas

    selection = pd.DataFrame(
        [
            {
                "source": "rock",
                "target": "pop",
                "site": "resid",
                "method": "mse",
                "layers": "best",
                "alpha": 8.0,
            },
            {
                "source": "folk",
                "target": "pop",
                "site": "resid",
                "method": "mse",
                "layers": "best",
                "alpha": 2.0,
            },
        ]
    )
    chosen = chosen_alphas(selection, "rock")
    assert chosen == {("pop", "resid", "mse", "best"): 8.0}
    marked = listening_pages(samples, scores, "rock → pop", "intro", chosen=chosen)[0]
    assert marked.count("★ chosen") == 1 and "α = 8 ★ chosen" in marked
    assert "★" not in one[0]
