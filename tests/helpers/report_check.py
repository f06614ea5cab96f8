"""Open a Snakemake HTML report in a real headless Chromium and check what a reader sees.

Used by ``tests/report/test_pages.py``; also runs on its own against any report::

    .venv/bin/python tests/helpers/report_check.py results/demo/report.html
    .venv/bin/python tests/helpers/report_check.py results/demo/report.html --screenshot table.png

It drives the report app the way a reader does: click a category (and subcategory) in
the side bar, then the row's eye button. Figures show as an ``<img>``; HTML results
(the listening pages) show in an ``<iframe>`` whose ``src`` is the page's ``data:`` URI.
Chromium refuses to navigate to a URL longer than 2 MiB (the frame stays
``about:blank#blocked``), so a listening page must stay under about 1.5 MB on disk
(base64 adds a third) to be seen from a self-contained report at all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_MAX_URL_CHARS = 2 * 1024 * 1024  # Chromium's url::kMaxURLChars; longer: blocked
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROME_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--window-size=1600,1000",
)


def browser_required() -> bool:
    """CI=1 or MUSICSTEER_REQUIRE_BROWSER=1: a missing browser fails instead of skipping."""
    return any(
        os.environ.get(k, "").strip().lower() not in ("", "0", "false", "no")
        for k in ("CI", "MUSICSTEER_REQUIRE_BROWSER")
    )


def find_browser() -> tuple[str, str] | str:
    """(chromium, chromedriver) paths, or why they cannot be used.

    ``MUSICSTEER_CHROMIUM`` / ``MUSICSTEER_CHROMEDRIVER`` override the search on PATH.
    """
    chrome = os.environ.get("MUSICSTEER_CHROMIUM") or next(
        filter(None, map(shutil.which, BROWSERS)), None
    )
    driver = os.environ.get("MUSICSTEER_CHROMEDRIVER") or shutil.which("chromedriver")
    missing = [
        n
        for n, p in (("chromium", chrome), ("chromedriver", driver))
        if not p or not os.access(p, os.X_OK)
    ]
    if missing:
        return (
            f"{' and '.join(missing)} not found (Debian: apt-get install chromium "
            "chromium-driver; or set MUSICSTEER_CHROMIUM / MUSICSTEER_CHROMEDRIVER)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return chrome, driver


def start_chromium(chrome: str, driver: str):
    """A headless Chromium driven by chromedriver (no Selenium Manager, no network)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chrome
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    browser.set_page_load_timeout(120)
    browser.set_script_timeout(60)
    return browser


def _script_var(html: str, name: str):
    """The JSON value of ``var <name> = ...;`` in the report's ``<script id=name>``."""
    match = re.search(
        rf'<script id="{name}">\s*var {name} = (.*?);\s*</script>', html, flags=re.DOTALL
    )
    if match is None:
        raise AssertionError(f"report has no <script id={name!r}> with `var {name} = ...;`")
    return json.loads(match.group(1))


def read_report(path: str | Path) -> tuple[dict, dict]:
    """The report's ``categories`` ({category: {subcategory: [path]}}) and ``results``."""
    html = Path(path).read_text(encoding="utf-8")
    return _script_var(html, "categories"), _script_var(html, "results")


def oversized_html_results(results: dict) -> dict[str, int]:
    """HTML results whose data: URI is too long for Chromium to show in the report."""
    return {
        path: len(entry["data_uri"])
        for path, entry in results.items()
        if entry["mime_type"] == "text/html" and len(entry["data_uri"]) > CHROMIUM_MAX_URL_CHARS
    }


@dataclass
class Shown:
    """What the report displayed for one result."""

    path: str
    kind: str  # "img" or "html"
    image_size: tuple[int, int] | None = None
    frame_url: str = ""
    players: list[dict] = field(default_factory=list)
    table: dict = field(default_factory=dict)  # caption, header and cells of a shown table


# --- the report app, driven through its side bar --------------------------------------------


def _wait(browser, condition, timeout: float, what: str):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(browser, timeout, poll_frequency=0.1).until(condition)
    except TimeoutException:
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}") from None


def _menu_link(browser, text: str, timeout: float = 10):
    """A side-bar menu entry (``ul > li > a``; breadcrumbs are ``ol > li > a``)."""
    from selenium.webdriver.common.by import By

    xpath = f"//nav//ul/li/a[normalize-space(.)={json.dumps(text)}]"
    return _wait(
        browser, lambda b: b.find_elements(By.XPATH, xpath), timeout, f"the side-bar entry {text!r}"
    )[0]


def open_report(browser, report: str | Path, categories: dict, timeout: float = 60) -> list[str]:
    """Load the report; return the category entries its side bar shows."""
    from selenium.webdriver.common.by import By

    browser.get(Path(report).resolve().as_uri())
    _menu_link(browser, sorted(categories)[0], timeout)
    shown = [a.text.strip() for a in browser.find_elements(By.XPATH, "//nav//ul/li/a")]
    return [name for name in shown if name in categories]


def _go_home(browser) -> None:
    """Back to the main menu via the breadcrumbs' first (home) link."""
    from selenium.webdriver.common.by import By

    links = browser.find_elements(By.XPATH, "//nav//ol/li[1]/a")
    if links:
        links[0].click()


def _click_result(browser, categories: dict, results: dict, path: str) -> None:
    """Category → (subcategory) → the result's row → its eye (view) button."""
    from selenium.webdriver.common.by import By

    category, subcategory = next(
        (c, s) for c, subs in categories.items() for s, paths in subs.items() if path in paths
    )
    _go_home(browser)
    _menu_link(browser, category).click()
    if len(categories[category]) > 1:  # one subcategory: the app skips this level
        _menu_link(browser, subcategory).click()
    rows = _wait(
        browser,
        lambda b: b.find_elements(By.CSS_SELECTOR, "nav table tbody tr"),
        10,
        f"the result table of {category} / {subcategory}",
    )
    labels = results[path]["labels"]
    want = list(labels.values()) if labels else [path]
    ordered = sorted(
        rows,
        key=lambda r: [td.text.strip() for td in r.find_elements(By.TAG_NAME, "td")[:-1]] != want,
    )
    for row in ordered:  # the row with the result's labels first; then the others (toggles)
        row.find_element(By.CSS_SELECTOR, "td:last-child a").click()
        if browser.execute_script("return app.state.resultPath") == path:
            return
    raise AssertionError(f"no row of {category} / {subcategory} shows {path}")


def show_image(browser, categories: dict, results: dict, path: str, timeout: float = 20) -> Shown:
    """Open a figure from the side bar; wait until the <img> has decoded."""
    _click_result(browser, categories, results, path)
    size = _wait(
        browser,
        lambda b: b.execute_script(
            """
        if (app.state.resultPath !== arguments[0] || app.state.content !== 'img') return null;
        const img = [...document.querySelectorAll('img')].find(i => i.getAttribute('src') === app.state.contentPath);
        return img && img.complete && img.naturalWidth > 0 ? [img.naturalWidth, img.naturalHeight] : null;
    """,
            path,
        ),
        timeout,
        f"the figure {path} to render",
    )
    return Shown(path, "img", image_size=tuple(size))


def undecodable_images(browser) -> dict[str, str]:
    """Every image result of the report decoded by the browser: {path: why not}."""
    browser.set_script_timeout(60)
    return browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const images = Object.entries(results).filter(([p, r]) => r.mime_type.startsWith('image/'));
        Promise.all(images.map(async ([path, r]) => {
            const img = new Image();
            img.src = r.data_uri;
            try { await img.decode(); } catch (e) { return [path, String(e)]; }
            return img.naturalWidth > 0 ? null : [path, 'naturalWidth 0'];
        })).then(bad => done(Object.fromEntries(bad.filter(Boolean))));
    """)


# Metadata through the <audio> element itself, then a full decode with Web Audio
# (OfflineAudioContext: no sound device needed): duration, sample rate, peak.
_AUDIO_JS = """
const done = arguments[arguments.length - 1];
const perPlayer = arguments[0];
const withTimeout = (p, what) => Promise.race([p, new Promise(r => setTimeout(() => r({timeout: what}), perPlayer))]);
const metadata = el => new Promise(resolve => {
  const finish = () => resolve({readyState: el.readyState, duration: el.duration,
                                error: el.error ? el.error.code + ' ' + el.error.message : null});
  if (el.readyState >= 1 && isFinite(el.duration)) return finish();
  el.addEventListener('loadedmetadata', finish, {once: true});
  el.addEventListener('error', finish, {once: true});
  el.preload = 'metadata';
  el.load();
});
const decode = async el => {
  const bytes = await (await fetch(el.currentSrc || el.src)).arrayBuffer();
  const buffer = await new OfflineAudioContext(1, 1, 44100).decodeAudioData(bytes);
  let peak = 0;
  for (let c = 0; c < buffer.numberOfChannels; c++)
    for (const x of buffer.getChannelData(c)) peak = Math.max(peak, Math.abs(x));
  return {decodedSeconds: buffer.duration, sampleRate: buffer.sampleRate, peak};
};
(async () => {
  const players = [...document.querySelectorAll('audio')];
  const out = [];
  for (const el of players) {
    const src = el.currentSrc || el.src || '';
    const row = {src: src.slice(0, 40), srcChars: src.length,
                 canPlay: el.canPlayType(src.slice(5, src.indexOf(';')) || 'audio/ogg')};
    Object.assign(row, await withTimeout(metadata(el), 'metadata'));
    try { Object.assign(row, await withTimeout(decode(el), 'decode')); }
    catch (e) { row.decodeError = String(e); }
    out.push(row);
  }
  done(out);
})().catch(e => done([{scriptError: String(e)}]));
"""


def _open_html_result(browser, categories: dict, results: dict, path: str, timeout: float):
    """Open an HTML result from the side bar and switch into its iframe; returns the
    frame's URL (``about:...`` when Chromium blocked it). The caller switches back."""
    _click_result(browser, categories, results, path)
    frame = _wait(
        browser,
        lambda b: b.execute_script(
            """
        const f = document.querySelector('iframe');
        return app.state.resultPath === arguments[0] && app.state.content === 'html' && f
            && f.getAttribute('src') === app.state.contentPath ? f : null;
    """,
            path,
        ),
        timeout,
        f"the report to put {path} in an iframe",
    )
    browser.switch_to.frame(frame)
    return _wait(
        browser,
        lambda b: b.execute_script("""
        const u = document.URL;  // the initial about:blank until the page commits
        return document.readyState === 'complete' && u !== 'about:blank' ? u.slice(0, 60) : null;
    """),
        timeout,
        f"{path} to load in the iframe",
    )


def show_listening_page(
    browser, categories: dict, results: dict, path: str, timeout: float = 30
) -> Shown:
    """Open an HTML result from the side bar, enter its iframe, load and decode every player."""
    from selenium.webdriver.common.by import By

    try:
        shown = Shown(
            path, "html", frame_url=_open_html_result(browser, categories, results, path, timeout)
        )
        if shown.frame_url.startswith("about:"):  # about:blank#blocked: the caller says why
            return shown
        n_players = len(browser.find_elements(By.TAG_NAME, "audio"))
        per_player_ms = 10_000
        browser.set_script_timeout(30 + n_players * 2 * per_player_ms / 1000)
        shown.players = browser.execute_async_script(_AUDIO_JS, per_player_ms)
        return shown
    finally:
        browser.switch_to.default_content()


_TABLE_JS = """
const t = document.querySelector('table');
if (!t) return null;
const visible = t.getBoundingClientRect().height > 0 && getComputedStyle(t).display !== 'none';
return {caption: t.caption ? t.caption.innerText : '', visible: visible,
        head: [...t.querySelectorAll('th')].map(c => c.innerText),
        rows: [...t.querySelectorAll('tbody tr')].map(r => [...r.cells].map(c => c.innerText))};
"""


def show_table(browser, categories: dict, results: dict, path: str, timeout: float = 30) -> Shown:
    """Open a table's HTML result from the side bar and read the table as displayed."""
    try:
        shown = Shown(
            path, "html", frame_url=_open_html_result(browser, categories, results, path, timeout)
        )
        if not shown.frame_url.startswith("about:"):
            shown.table = browser.execute_script(_TABLE_JS) or {}
        return shown
    finally:
        browser.switch_to.default_content()


def table_problems(shown: Shown) -> list[str]:
    """Why a table result does not show a table of numbers (empty: it does)."""
    table = shown.table
    if shown.frame_url.startswith("about:"):
        return [f"the iframe shows {shown.frame_url!r}, not the table"]
    if not table:
        return ["no <table> in the page"]
    cells = [cell for row in table.get("rows", []) for cell in row]
    if not table.get("visible"):
        return ["the table is not displayed"]
    if not cells or not any(re.search(r"\d\.\d{3}", c) for c in cells):
        return [f"no scores among the cells: {cells[:6]}"]
    return []


def player_problems(players: list[dict]) -> list[str]:
    """Why players are not playable (empty: every player loads and decodes, and the page
    is not all silence; one silent sample on its own may be a legitimate output)."""
    problems = []
    for i, p in enumerate(players):
        errors = {k: p[k] for k in ("scriptError", "timeout", "decodeError", "error") if p.get(k)}
        duration, decoded = p.get("duration"), p.get("decodedSeconds")
        if errors:
            bad = [str(errors)]
        elif not p.get("canPlay"):
            bad = [f"canPlayType of {p.get('src', '')[:20]!r} is empty"]
        elif (p.get("readyState") or 0) < 1:
            bad = [f"readyState {p.get('readyState')} < 1 (HAVE_METADATA)"]
        elif not isinstance(duration, int | float) or not 0 < duration < float("inf"):
            bad = [f"duration {duration!r}"]  # NaN and Infinity arrive as None
        elif not isinstance(decoded, int | float) or decoded <= 0:
            bad = [f"decoded {decoded!r} s"]
        elif abs(decoded - duration) > 0.1:
            bad = [f"decodes to {decoded:.3f} s but the player says {duration:.3f} s"]
        else:
            bad = []
        if bad:
            problems.append(f"player {i} ({p.get('src', '')}...): " + "; ".join(bad))
    if players and not problems and not any((p.get("peak") or 0) > 0 for p in players):
        problems.append(f"all {len(players)} players decode to silence")
    return problems


@contextmanager
def _browser(browser=None):
    """``browser``, or a headless Chromium started here and quit on leaving."""
    if browser is not None:
        yield browser
        return
    found = find_browser()
    if isinstance(found, str):
        raise AssertionError(found)
    own = start_chromium(*found)
    try:
        yield own
    finally:
        own.quit()


def check_report(report: str | Path, browser=None, log=print) -> dict:
    """Every category shown, one figure per category and every listening page opened from
    the side bar; returns a summary. Raises AssertionError with what went wrong."""
    categories, results = read_report(report)
    with _browser(browser) as browser:
        t0 = time.perf_counter()
        shown = open_report(browser, report, categories)
        log(f"opened in {time.perf_counter() - t0:.1f} s; side bar: {shown}")
        assert sorted(shown) == sorted(categories), (shown, sorted(categories))
        figures = [
            next(
                p
                for ps in subs.values()
                for p in ps
                if results[p]["mime_type"].startswith("image/")
            )
            for subs in categories.values()
            if any(results[p]["mime_type"].startswith("image/") for ps in subs.values() for p in ps)
        ]
        listen = {p for ps in categories.get("Listen", {}).values() for p in ps}
        html_results = [p for p, r in results.items() if r["mime_type"] == "text/html"]
        pages = [p for p in html_results if p in listen]
        tables = [p for p in html_results if p not in listen]
        summary = {"categories": shown, "figures": {}, "pages": {}, "tables": {}}
        for path in figures:
            summary["figures"][path] = show_image(browser, categories, results, path).image_size
            log(f"figure {path}: {summary['figures'][path]}")
        bad_images = undecodable_images(browser)
        n_images = sum(r["mime_type"].startswith("image/") for r in results.values())
        log(f"{n_images - len(bad_images)} of {n_images} figures decode")
        assert not bad_images, bad_images
        summary["images_decoded"] = n_images
        failures = []
        for path in tables:
            table = show_table(browser, categories, results, path)
            problems = table_problems(table)
            summary["tables"][path] = {**table.table, "problems": problems}
            log(f"table {path}: {len(table.table.get('rows', []))} rows, {len(problems)} problems")
            failures += [f"{path}: {p}" for p in problems]
        for path in pages:
            page = show_listening_page(browser, categories, results, path)
            problems = player_problems(page.players)
            if page.frame_url.startswith("about:"):
                chars = len(results[path]["data_uri"])
                why = (
                    f": its data: URI has {chars:,} characters, over Chromium's "
                    f"{CHROMIUM_MAX_URL_CHARS:,} (keep the page under ~1.5 MB)"
                    if chars > CHROMIUM_MAX_URL_CHARS
                    else ""
                )
                problems = [f"the iframe shows {page.frame_url!r}, not the page{why}"]
            elif not page.players:
                problems = ["no <audio> players in the page"]
            summary["pages"][path] = {"players": len(page.players), "problems": problems}
            log(f"page {path}: {len(page.players)} players, {len(problems)} problems")
            failures += [f"{path}: {p}" for p in problems]
        assert not failures, "\n".join(failures[:20])
        summary["seconds"] = round(time.perf_counter() - t0, 1)
        return summary


def screenshot_result(report: str | Path, result: str, out: str | Path, browser=None) -> Path:
    """Save a PNG of the report as a reader sees it with ``result`` (a figure or an HTML
    result such as a table) opened from the side bar."""
    categories, results = read_report(report)
    if result not in results:
        raise AssertionError(f"{result!r} is not in the report; results: {sorted(results)}")
    with _browser(browser) as browser:
        open_report(browser, report, categories)
        if results[result]["mime_type"] == "text/html":
            _open_html_result(browser, categories, results, result, timeout=30)
            browser.switch_to.default_content()
        else:
            show_image(browser, categories, results, result)
        browser.save_screenshot(str(out))
        return Path(out)


def main(argv: list[str]) -> None:
    """``report_check.py REPORT``: check it; ``--screenshot OUT.png [RESULT]``: save a
    picture of RESULT (default: the genre-fusion table) as displayed."""
    report = argv[0] if argv else "results/report.html"
    if "--screenshot" in argv:
        i = argv.index("--screenshot")
        out, rest = argv[i + 1], argv[i + 2 :]
        _, results = read_report(report)
        default = next(p for p in results if p.endswith("tables/genre_fusion.html"))
        print(screenshot_result(report, rest[0] if rest else default, out))
        return
    print(json.dumps(check_report(report), indent=1, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
