"""The report in a real browser: every figure renders without a JavaScript error, a screenshot of
the top of the page shows the desk summary (styled tables, a coin at action, a stale series in
red), and one further down shows the charts, not a blank page.

The page's own probe script (report/html.py) writes the number of rendered plots, any errors and
where the charts start onto <body>; headless Chromium's --dump-dom gives back that DOM after the
virtual-time budget.

`SNIPER_UPDATE_DOCS_SCREENSHOT=1 pytest sniper_pipeline_tests/report/test_browser.py` also copies
the summary screenshot to docs/images/report.png."""

from __future__ import annotations

import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sniper_pipeline.report.data import load_report_data
from sniper_pipeline.report.html import render_page
from sniper_pipeline_tests.browser import chromium, needs_chromium, png_summary
from sniper_pipeline_tests.report.conftest import NOW, build_warehouse

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "report.png"

pytestmark = [pytest.mark.browser, needs_chromium]
WINDOW = (1400, 1800)
# Colours the page's CSS gives a bar at action (and a stale series), and one at watch.
ACTION_BACKGROUND = b"\xfd\xe0\xdc"  # #fde0dc
WATCH_BACKGROUND = b"\xff\xf5\xcc"  # #fff5cc


class _BodyAttributes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.attrs: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.attrs = {k: v or "" for k, v in attrs}


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    # BTC at action on its last bars and ETH's taker source 5 days behind: the page a desk
    # should notice something on.
    engine = build_warehouse(
        root / "w.duckdb",
        coins=("BTC", "ETH"),
        bars=400,
        per_coin={"BTC": {"stress_bars": 2}, "ETH": {"stale_bars": {"taker": 30}}},
    )
    try:
        data = load_report_data(engine)
    finally:
        engine.dispose()
    # The default warehouse's URL rather than a pytest temporary path: the summary screenshot
    # goes into the docs.
    data.warehouse = "duckdb:///data/sniper.duckdb"
    page = root / "signals.html"
    page.write_text(render_page(data, NOW), encoding="utf-8")
    return page


@pytest.fixture(scope="module")
def rendered(report_page: Path) -> dict[str, str]:
    """The <body> attributes the page's probe wrote, in a window as wide as the screenshots."""
    done = chromium(
        report_page.as_uri(),
        report_page.parent / "profile-dom",
        "--dump-dom",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    parser = _BodyAttributes()
    parser.feed(done.stdout)
    return parser.attrs


def _screenshot(page: Path, name: str, height: int) -> Path:
    shot = page.parent / f"{name}.png"
    profile = page.parent / f"profile-{name}"
    done = chromium(page.as_uri(), profile, f"--screenshot={shot}", f"--window-size={WINDOW[0]},{height}")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    return shot


def test_every_figure_renders_without_javascript_errors(rendered: dict[str, str]) -> None:
    body = rendered
    assert body.get("data-report-ready") == "1", f"the page's probe never finished: {body}"
    assert body["data-js-errors"] == ""
    assert body["data-plots-expected"] == "3"  # two coins and the ETF panel
    assert body["data-plots-rendered"] == body["data-plots-expected"]


def test_screenshot_shows_the_desk_summary(report_page: Path) -> None:
    shot = _screenshot(report_page, "summary", WINDOW[1])
    assert shot.stat().st_size > 20_000
    width, height, colours = png_summary(shot, max_rows=WINDOW[1])
    assert (width, height) == WINDOW
    # Not one colour (a blank page) but text and tables; the tier and stale cells are styled.
    assert len(colours) > 100, f"only {len(colours)} distinct colours"
    assert ACTION_BACKGROUND in colours, "no cell at action (or stale) is shaded"
    assert WATCH_BACKGROUND in colours, "no cell at watch is shaded"
    if os.environ.get("SNIPER_UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)


def test_screenshot_shows_the_charts(report_page: Path, rendered: dict[str, str]) -> None:
    top = int(rendered["data-charts-top"])
    assert 300 < top < 5000  # below the summary tables
    rows = 1300  # the first coin's figure (1000 px) and its heading
    shot = _screenshot(report_page, "charts", top + rows)
    # A blank or text-only stretch has a few dozen colours, anti-aliased lines in a dozen hues
    # give thousands.
    width, height, colours = png_summary(shot, max_rows=top + rows, first_row=top)
    assert (width, height) == (WINDOW[0], top + rows)
    assert len(colours) > 500, f"only {len(colours)} distinct colours: the charts did not draw"
