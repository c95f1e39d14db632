"""The page as a desk reads it: contents that lead somewhere, stress first, alerts, stale series
in red with their age, human column names, and plotly.js once however many charts."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from plotly.offline import get_plotlyjs

from sniper_pipeline.report import write_report
from sniper_pipeline.report.glance import RECENT_ALERTS
from sniper_pipeline_tests.report.conftest import NOW, build_warehouse

PLOTLY_JS = get_plotlyjs()
BARS = 300
# BTC is at action on its last two bars; ETH's taker source stopped 30 bars (5 days) early.
STRESSED: dict[str, dict[str, Any]] = {"BTC": {"stress_bars": 2}, "ETH": {"stale_bars": {"taker": 30}}}


class _Page(HTMLParser):
    """Element ids in document order, the contents' links, and every table's header cells."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.toc_links: list[str] = []
        self.headers: list[str] = []
        self._in_nav = self._in_th = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.append(str(found["id"]))
        if tag == "nav":
            self._in_nav = True
        elif tag == "a" and self._in_nav and found.get("href"):
            self.toc_links.append(str(found["href"]))
        elif tag == "th":
            self._in_th = True
            self.headers.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav":
            self._in_nav = False
        elif tag == "th":
            self._in_th = False

    def handle_data(self, data: str) -> None:
        if self._in_th:
            self.headers[-1] += data


def _section(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert match, f"no section {anchor}"
    return match.group(1)


def _first(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not found"
    return match.group(1)


def _rows(html_table: str) -> list[str]:
    body = html_table.split("<tbody>", 1)[1]
    return re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("layout")
    engine = build_warehouse(root / "w.duckdb", coins=("BTC", "ETH", "SOL"), bars=BARS, per_coin=STRESSED)
    try:
        return write_report(engine, root / "signals.html", now=NOW).read_text(encoding="utf-8")
    finally:
        engine.dispose()


def test_every_contents_link_resolves_to_a_section(page: str) -> None:
    parsed = _Page()
    parsed.feed(page)
    assert parsed.toc_links, "no table of contents"
    anchors = [link.removeprefix("#") for link in parsed.toc_links]
    assert all(link.startswith("#") for link in parsed.toc_links)  # in-page only
    missing = [a for a in anchors if a not in parsed.ids]
    assert not missing, f"contents link to nothing: {missing}"
    assert len(set(parsed.ids)) == len(parsed.ids), "duplicate ids"
    # Listed in the order they appear on the page.
    assert anchors == sorted(anchors, key=parsed.ids.index)
    expected = ["stress", "alerts", "freshness", "charts", "coin-BTC", "coin-ETH", "coin-SOL", "etf"]
    assert anchors[: len(expected)] == expected


def test_the_desk_summary_comes_before_the_charts_and_plotly_js(page: str) -> None:
    nav = page.index('<nav class="toc"')
    stress = page.index('<section id="stress">')
    alerts = page.index('<section id="alerts">')
    fresh = page.index('<section id="freshness">')
    plotly_js = page.index(PLOTLY_JS[:200])
    first_chart = page.index('class="plotly-graph-div"')
    assert page.index("<header>") < nav < stress < alerts < fresh < plotly_js < first_chart
    assert page.index('<section id="charts">') < first_chart


def test_plotly_js_is_inline_exactly_once(page: str) -> None:
    assert page.count(PLOTLY_JS) == 1
    assert page.count(PLOTLY_JS[:60]) == 1  # no second, different copy either
    assert page.count('class="plotly-graph-div"') == 4  # three coins and the ETF panel
    # The figures only call the shared plotly.js; their data is small next to it.
    figures = len(page) - len(PLOTLY_JS)
    assert figures < 4 * 90_000, f"{figures:,} bytes besides plotly.js"


def test_header_says_when_and_up_to_which_bar(page: str) -> None:
    header = page.split("</header>")[0]
    # The newest bar of the warehouse, and how far that is behind the generation time.
    assert f"generated at {NOW:%Y-%m-%d %H:%M:%S} UTC" in header
    assert "data through 2025-02-19 20:00 UTC (newest bar open, 40d 16h before generation)" in header


def test_stress_now_shows_the_coin_at_a_tier_with_each_layer_against_its_threshold(page: str) -> None:
    stress = _section(page, "stress")
    rows = _rows(stress)
    assert len(rows) == 1 and '<a href="#coin-BTC">BTC</a>' in rows[0]
    btc = rows[0]
    assert '<td class="tier tier-action">action</td>' in btc
    assert '<td class="text">up</td>' in btc
    assert "action since 2025-02-19 08:00" in btc  # the open episode: opened at watch, upgraded
    # Each layer at the level the fixture put it, value &gt; threshold, USD with a suffix.
    assert re.search(r'<td class="lvl-action"><b>[\d.]+</b> &gt; [\d.]+ <small>action</small>', btc)
    assert re.search(r'<td class="lvl-watch"><b>[\d.]+</b> &gt; [\d.]+ <small>watch</small>', btc)
    assert re.search(
        r'<td class="lvl-extreme"><b>[\d.]+M</b> &gt; [\d.]+M <small>extreme, 90% longs</small>', btc
    )
    # The others are calm, listed in one line, with what is off about them.
    calm = stress.split('<p class="calm"><b>Calm</b>')[1].split("</p>")[0]
    assert '<span class="coin">ETH</span>' in calm and '<span class="coin">SOL</span>' in calm
    assert "(Taker buy/sell stale)" in calm
    assert "ETH Taker buy/sell (5d 0h old)" in stress  # and the stale series, linked
    assert 'href="#freshness"' in stress


def test_recent_alerts_are_newest_first_with_layer_values(page: str) -> None:
    alerts = _section(page, "alerts")
    rows = _rows(alerts)
    assert len(rows) == RECENT_ALERTS
    times = [_first(r"<td>(\d{4}-\d\d-\d\d \d\d:\d\d)</td>", row) for row in rows]
    assert times == sorted(times, reverse=True)
    total = int(_first(r"of ([\d,]+) events", alerts).replace(",", ""))
    assert total > RECENT_ALERTS
    # An episode opens at a tier: two or more layers at a level, each against its threshold.
    opens = [row for row in rows if '<td class="text">open</td>' in row]
    assert opens and all(row.count('<td class="lvl-') >= 2 for row in opens)
    cells = re.findall(
        r'<td class="lvl-(\w+)"><b>([^<]+)</b> (&gt;|&lt;) ([^ ]+) <small>([^<]+)</small>', alerts
    )
    assert all(level == small.split(",")[0] for level, _, _, _, small in cells)
    assert any(re.fullmatch(r"[\d.]+M", value) and "% " in small for _, value, _, _, small in cells)


def test_stale_series_are_red_with_their_age(page: str) -> None:
    fresh = _section(page, "freshness")
    rows = {_first(r'<td class="text">(\w+)</td>', row): row for row in _rows(fresh)}
    assert set(rows) == {"BTC", "ETH", "SOL"}
    stale = re.findall(r'<td class="stale"[^>]*>(.*?)</td>', fresh)
    # 30 bars of 4h: the taker series ends 5 days before the data clock, over 3 intervals (12h).
    assert stale == ["2025-02-14 20:00 <b>5d 0h old</b>"]
    assert 'class="stale"' in rows["ETH"] and 'class="stale"' not in rows["BTC"] + rows["SOL"]
    assert "flagged when older than 3 intervals (12h 0m)" in rows["ETH"]
    assert rows["BTC"].count("<small>current</small>") == 5  # four layers and the price


def test_column_headers_are_human_names(page: str) -> None:
    parsed = _Page()
    parsed.feed(page)
    assert parsed.headers
    raw = [h for h in parsed.headers if "_" in h]
    assert not raw, f"column names from the warehouse: {raw}"
    for name in (
        "Funding (bps/8h)",
        "OI change (%)",
        "Liquidations (USD)",
        "Taker buy/sell",
        "Bar open (UTC)",
    ):
        assert name in parsed.headers


def test_configs_show_usd_thresholds_with_suffixes(tmp_path: Path) -> None:
    engine = build_warehouse(tmp_path / "w.duckdb", coins=["BTC"], bars=60, etf=False)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "update percentile_configs set p_watch = 12345678.9, p_action = 2.5e9"
            " where metric = 'liq_total_usd'"
        )
    page = write_report(engine, tmp_path / "r.html", now=NOW).read_text()
    configs = _section(page, "configs")
    row = next(r for r in _rows(configs) if "Liquidations (USD)" in r)
    assert "<td>12.35M</td>" in row and "<td>2.50B</td>" in row
    assert "<td>Funding (bps/8h), abs</td>" not in configs  # text cells are left-aligned
    assert '<td class="text">Funding (bps/8h), abs</td>' in configs
