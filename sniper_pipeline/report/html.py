"""Assemble the report as one self-contained HTML page (plotly.js inline once, no network).

Order is what a desk needs first: coins in stress now, the recent alerts, how fresh each series
is; then the charts and the reference tables. plotly.js (4.8 MB) sits just before the first
chart, so the tables above it show before the browser has parsed it."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from sniper_pipeline.report.data import ReportData, summary_frame
from sniper_pipeline.report.figures import coin_figure, etf_figure
from sniper_pipeline.report.fmt import fmt_age, fmt_number, fmt_time, fmt_value
from sniper_pipeline.report.glance import (
    LAYER_SPECS,
    RECENT_ALERTS,
    SERIES_SPECS,
    STALE_AFTER_INTERVALS,
    AlertRow,
    Freshness,
    Reading,
    SeriesSpec,
    StressRow,
    data_clock,
    freshness,
    polarity_text,
    recent_alerts,
    stress_now,
)
from sniper_pipeline.settings.layer import Layer

NO_DATA = "no data yet"
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "scrollZoom": False}

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px 24px; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 4px; }
h2 { font-size: 1.15em; margin: 26px 0 6px; border-bottom: 1px solid #ddd; padding-bottom: 2px; }
h3 { font-size: 1.05em; margin: 18px 0 2px; }
.meta { color: #555; font-size: 0.9em; margin: 4px 0; }
.meta code { background: #f4f4f4; padding: 0 4px; }
nav.toc { margin: 10px 0 4px; font-size: 0.9em; }
nav.toc ol { list-style: none; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: 4px 18px; }
nav.toc a { color: #1a5fb4; text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
nav.toc .sub a { margin-left: 4px; }
table { border-collapse: collapse; font-size: 0.85em; margin: 6px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; }
td.text { text-align: left; }
td small, .muted { color: #777; }
.empty { color: #888; font-style: italic; }
.scroll { overflow-x: auto; max-width: 100%; }
.tier-watch, td.lvl-watch { background: #fff5cc; }
.tier-action, td.lvl-action { background: #fde0dc; }
td.lvl-extreme { background: #f8b4ab; }
td.tier { font-weight: 600; text-align: left; }
.bad, td.stale { background: #fde0dc; color: #b71c1c; }
td.stale b { color: #b71c1c; }
.calm { margin: 8px 0; }
.calm .coin { font-weight: 600; }
.warn { color: #b71c1c; }
.note { color: #666; font-size: 0.8em; }
"""

# Installed before plotly.js runs, so errors from plotly or a figure are caught too; the result
# lands on <body> as attributes that a headless browser's --dump-dom shows.
PROBE_HEAD = """
window.__reportErrors = [];
window.addEventListener('error', function (e) { window.__reportErrors.push(String(e.message || e)); });
window.addEventListener('unhandledrejection', function (e) {
  var r = e.reason; window.__reportErrors.push('unhandled rejection: ' + String((r && r.message) || r));
});
(function () {
  var original = console.error;
  console.error = function () {
    window.__reportErrors.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
    return original.apply(console, arguments);
  };
})();
"""
PROBE_BODY = """
(function () {
  function rendered() {
    var n = 0;
    document.querySelectorAll('.js-plotly-plot').forEach(function (el) {
      if (el.querySelector('svg.main-svg')) { n += 1; }
    });
    return n;
  }
  function publish(done) {
    var body = document.body;
    body.setAttribute('data-plots-rendered', String(rendered()));
    body.setAttribute('data-js-errors', window.__reportErrors.join(' | '));
    var charts = document.getElementById('charts');
    if (charts) {
      // Where the charts start, in page pixels: a screenshot test looks there for drawn lines.
      var top = charts.getBoundingClientRect().top + window.scrollY;
      body.setAttribute('data-charts-top', String(Math.round(top)));
    }
    if (done) { body.setAttribute('data-report-ready', '1'); }
  }
  window.addEventListener('load', function () {
    var expected = Number(document.body.getAttribute('data-plots-expected') || '0');
    var tries = 0;
    var timer = setInterval(function () {
      tries += 1;
      var done = rendered() >= expected || tries > 50;
      publish(done);
      if (done) { clearInterval(timer); }
    }, 100);
  });
})();
"""


@dataclass(frozen=True)
class Col:
    """A table column: the frame's column, its human header, and how to write a value."""

    key: str
    label: str
    fmt: Callable[[Any, dict[str, Any]], str] | None = None  # (value, whole row) -> text


def _cell(value: Any) -> str:
    if value is None or value is pd.NaT:
        return "-"
    if isinstance(value, pd.Timestamp | datetime):
        return fmt_time(value)
    if isinstance(value, float) and pd.isna(value):
        return "-"
    return fmt_number(value)


def _humanize(name: str) -> str:
    return name.replace("_", " ").strip().capitalize()


def table_html(
    frame: pd.DataFrame | None, columns: Sequence[str | Col] | None = None, *, tier_column: str | None = None
) -> str:
    """A plain, escaped HTML table; "no data yet" for a missing or empty frame. A column given by
    name only gets a header made from its name (hit_rate: "Hit rate")."""
    if frame is None or frame.empty:
        return f'<p class="empty">{NO_DATA}</p>'
    specs = [c if isinstance(c, Col) else Col(c, _humanize(c)) for c in (columns or list(frame.columns))]
    specs = [c for c in specs if c.key in frame.columns]
    head = "".join(f"<th>{html.escape(c.label)}</th>" for c in specs)
    body = []
    for record in frame.to_dict("records"):
        css = ""
        if tier_column and record.get(tier_column) in ("watch", "action"):
            css = f' class="tier-{record[tier_column]}"'
        if record.get("ok") is False:
            css = ' class="bad"'
        cells = []
        for c in specs:
            value = record.get(c.key)
            text = c.fmt(value, record) if c.fmt is not None else _cell(value)
            kind = ' class="text"' if isinstance(value, str) else ""
            cells.append(f"<td{kind}>{html.escape(text)}</td>")
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
    return _table(head, body)


def _table(head: str, rows: Sequence[str]) -> str:
    """A table of rows already rendered (and escaped) by the caller."""
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def _figure_div(fig: go.Figure, div_id: str) -> str:
    return pio.to_html(
        fig, full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG, validate=False
    )


def _th(*labels: str) -> str:
    return "".join(f"<th>{html.escape(label)}</th>" for label in labels)


def _reading_cell(reading: Reading | None, spec: SeriesSpec, *, missing: str = "-") -> str:
    """A layer's value against its threshold; the cell's colour is the level reached."""
    if reading is None:
        return f'<td class="muted">{html.escape(missing)}</td>'
    value = html.escape(fmt_value(reading.value, spec.unit))
    if reading.stale:
        return '<td class="stale"><b>stale</b> <small>not scored</small></td>'
    if not reading.triggered:
        if reading.low_threshold is not None and reading.threshold is not None:
            bound = (
                f"{fmt_value(reading.low_threshold, spec.unit)} to {fmt_value(reading.threshold, spec.unit)}"
            )
            return f'<td class="muted">{value} <small>within {html.escape(bound)}</small></td>'
        if reading.threshold is not None:
            threshold = html.escape(fmt_value(reading.threshold, spec.unit))
            return f'<td class="muted">{value} <small>&lt; {threshold}</small></td>'
        return f'<td class="muted">{value}</td>'
    sign = "&lt;" if reading.side == "down" else "&gt;"
    threshold = html.escape(fmt_value(reading.threshold, spec.unit))
    detail = reading.level
    if spec.layer is Layer.LIQUIDATION and reading.polarity is not None:
        detail += f", {polarity_text(reading.polarity)}"
    level = html.escape(reading.level)
    return (
        f'<td class="lvl-{level}"><b>{value}</b> {sign} {threshold} <small>{html.escape(detail)}</small></td>'
    )


def _tier_cell(tier: str) -> str:
    css = f"tier tier-{tier}" if tier in ("watch", "action") else "tier"
    return f'<td class="{css}">{html.escape(tier)}</td>'


def _stress_section(rows: list[StressRow], fresh: list[Freshness], coins: Sequence[str]) -> str:
    out = ['<section id="stress"><h2>Stress now</h2>']
    if not rows:
        out.append(f'<p class="empty">{NO_DATA}: no coin has scored bars</p></section>')
        return "".join(out)
    stressed = [r for r in rows if r.in_stress]
    calm = [r for r in rows if not r.in_stress]
    latest = max(r.ts for r in rows)
    out.append(
        f'<p class="meta">{len(stressed)} of {len(rows)} coins at a tier on their latest bar '
        f"(newest {fmt_time(latest)} UTC); each layer against the threshold of the level it is at, "
        "or against its watch threshold when at none.</p>"
    )
    if stressed:
        head = _th("Coin", "Tier", "Direction", "Bar open (UTC)", "Open episode") + _th(
            *(s.label for s in LAYER_SPECS)
        )
        body = []
        for row in stressed:
            cells = [
                f'<td class="text"><a href="#coin-{html.escape(row.coin)}">{html.escape(row.coin)}</a></td>',
                _tier_cell(row.tier),
                f'<td class="text">{html.escape(row.direction or "-")}</td>',
                _bar_time_cell(row),
                f'<td class="text">{html.escape(row.episode or "-")}</td>',
            ]
            cells += [_reading_cell(row.readings.get(s.key), s) for s in LAYER_SPECS]
            body.append(f"<tr>{''.join(cells)}</tr>")
        out.append(_table(head, body))
    else:
        out.append('<p class="calm"><b>No coin is at a tier on its latest bar.</b></p>')
    if calm:
        parts = []
        for row in calm:
            notes = [
                f"{spec.name} {row.readings[spec.key].level}"
                for spec in LAYER_SPECS
                if spec.key in row.readings and row.readings[spec.key].triggered
            ]
            stale = [
                spec.name for spec in LAYER_SPECS if spec.key in row.readings and row.readings[spec.key].stale
            ]
            text = f'<span class="coin">{html.escape(row.coin)}</span>'
            if notes:
                text += f" ({html.escape(', '.join(notes))})"
            if stale:
                text += f' <span class="warn">({html.escape(", ".join(stale))} stale)</span>'
            if row.behind is not None and row.behind > pd.Timedelta(0):
                text += f' <span class="warn">(latest bar {html.escape(fmt_age(row.behind))} behind)</span>'
            parts.append(text)
        out.append(f'<p class="calm"><b>Calm</b> (no tier on the latest bar): {", ".join(parts)}</p>')
    without = [c for c in coins if c not in {r.coin for r in rows}]
    if without:
        out.append(f'<p class="meta">no scored bars yet: {html.escape(", ".join(without))}</p>')
    stale_series = [f for f in fresh if f.stale]
    if stale_series:
        listed = ", ".join(
            f"{f.coin} {f.spec.name} ({fmt_age(f.age) + ' old' if f.age is not None else 'no data'})"
            for f in stale_series
        )
        out.append(
            f'<p class="warn">{len(stale_series)} stale series: {html.escape(listed)}; '
            'see <a href="#freshness">Data freshness</a>.</p>'
        )
    out.append("</section>")
    return "".join(out)


def _bar_time_cell(row: StressRow) -> str:
    if row.behind is not None and row.behind > pd.Timedelta(0):
        return (
            f'<td class="stale">{html.escape(fmt_time(row.ts))} '
            f"<b>{html.escape(fmt_age(row.behind))} behind</b></td>"
        )
    return f"<td>{html.escape(fmt_time(row.ts))}</td>"


def _alerts_section(data: ReportData) -> str:
    out = ['<section id="alerts"><h2>Recent alerts</h2>']
    if data.events is None or data.events.empty:
        out.append(f'<p class="empty">{NO_DATA}: no alert events</p></section>')
        return "".join(out)
    rows, total = recent_alerts(data, RECENT_ALERTS)
    out.append(
        f'<p class="meta">newest first, {len(rows)} of {total:,} events; each triggered layer against '
        "the threshold in force when the event was decided.</p>"
    )
    head = _th("Bar open (UTC)", "Coin", "Event", "Tier", "Direction") + _th(*(s.label for s in LAYER_SPECS))
    out.append(_table(head, [_alert_row(row) for row in rows]))
    out.append("</section>")
    return "".join(out)


def _alert_row(row: AlertRow) -> str:
    cells = [
        f"<td>{html.escape(fmt_time(row.ts))}</td>",
        f'<td class="text"><a href="#coin-{html.escape(row.coin)}">{html.escape(row.coin)}</a></td>',
        f'<td class="text">{html.escape(row.event.replace("_", " "))}</td>',
        _tier_cell(row.tier),
        f'<td class="text">{html.escape(row.direction)}</td>',
    ]
    cells += [_reading_cell(row.readings.get(s.key), s, missing="") for s in LAYER_SPECS]
    return f"<tr>{''.join(cells)}</tr>"


def _fresh_cell(item: Freshness | None) -> str:
    if item is None:
        return '<td class="muted">-</td>'
    limit = fmt_age(item.limit) if item.limit is not None else "-"
    title = html.escape(
        f"{item.coin} {item.spec.name}: {item.interval or 'unknown'} series, flagged when older than "
        f"{STALE_AFTER_INTERVALS} intervals ({limit})",
        quote=True,
    )
    if item.newest is None:
        return f'<td class="stale" title="{title}"><b>no data</b></td>'
    when = html.escape(fmt_time(item.newest))
    age = "current" if item.age is not None and item.age <= pd.Timedelta(0) else f"{fmt_age(item.age)} old"
    if item.stale:
        return f'<td class="stale" title="{title}">{when} <b>{html.escape(age)}</b></td>'
    return f'<td title="{title}">{when} <small>{html.escape(age)}</small></td>'


def _freshness_section(data: ReportData, fresh: list[Freshness], clock: pd.Timestamp | None) -> str:
    out = ['<section id="freshness"><h2>Data freshness</h2>']
    if not fresh or clock is None:
        out.append(f'<p class="empty">{NO_DATA}: no scored bars</p></section>')
        return "".join(out)
    out.append(
        f'<p class="meta">newest bar of each series and its age against the newest bar in the warehouse '
        f"({fmt_time(clock)} UTC), not the wall clock (a replayed recording is old); "
        f'<span class="warn">red</span>: older than {STALE_AFTER_INTERVALS} intervals of that series.</p>'
    )
    summary = summary_frame(data, clock.to_pydatetime()).set_index("coin")
    head = _th("Coin", "Grid", "Bars", "First bar (UTC)") + _th(*(s.label for s in SERIES_SPECS))
    by_key = {(f.coin, f.spec.key): f for f in fresh}
    body = []
    for coin in dict.fromkeys(f.coin for f in fresh):
        info = summary.loc[coin] if coin in summary.index else None
        cells = [
            f'<td class="text">{html.escape(coin)}</td>',
            f'<td class="text">{html.escape(str(info["interval"]) if info is not None else "-")}</td>',
            f"<td>{html.escape(fmt_number(int(info['bars'])) if info is not None else '-')}</td>",
            f"<td>{html.escape(fmt_time(info['first_bar']) if info is not None else '-')}</td>",
        ]
        cells += [_fresh_cell(by_key.get((coin, s.key))) for s in SERIES_SPECS]
        body.append(f"<tr>{''.join(cells)}</tr>")
    out.append(_table(head, body))
    out.append("</section>")
    return "".join(out)


METRIC_LABELS = {
    "funding_abs_bps_8h": "Funding (bps/8h), abs",
    "oi_roc_abs_pct": "OI change (%), abs",
    "liq_total_usd": "Liquidations (USD)",
    "taker_ratio_high": "Taker buy/sell, high",
    "taker_ratio_low": "Taker buy/sell, low",
}


def _threshold_fmt(value: Any, row: dict[str, Any]) -> str:
    return fmt_value(value, row.get("unit")) if value is not None and not pd.isna(value) else "-"


CONFIG_COLUMNS = (
    Col("coin", "Coin"),
    Col("interval", "Interval"),
    Col("metric", "Metric", lambda v, _: METRIC_LABELS.get(str(v), str(v))),
    Col("band", "Band"),
    Col("percentiles", "Percentiles"),
    Col("p_watch", "Watch", _threshold_fmt),
    Col("p_action", "Action", _threshold_fmt),
    Col("p_extreme", "Extreme", _threshold_fmt),
    Col("lookback_bars", "Lookback (bars)"),
    Col("n_bars", "Bars used"),
    Col("oi_unit", "OI unit"),
    Col("data_from", "Data from (UTC)"),
    Col("data_through", "Data through (UTC)"),
    Col("generated_at", "Generated (UTC)"),
)
HEALTH_COLUMNS = (
    Col("endpoint", "Endpoint"),
    Col("ok", "OK", lambda v, _: "yes" if v is True else "no" if v is False else "-"),
    Col("http_status", "HTTP status"),
    Col("code", "API code"),
    Col("latency_ms", "Latency (ms)", lambda v, _: _cell(v)),
    Col("rate_limit_used", "Rate limit used"),
    Col("rate_limit_max", "Rate limit (per min)"),
    Col("detail", "Detail"),
)
EVALUATION_LABELS = {
    "n": "Events",
    "per_week": "Per week",
    "rv_lift": "RV lift",
    "rv_lift_lo": "RV lift low",
    "rv_lift_hi": "RV lift high",
    "hit_n": "Hits",
    "baseline_absret": "Baseline |return|",
    "period_start": "Period start (UTC)",
    "period_end": "Period end (UTC)",
}


def _header(data: ReportData, now: datetime, clock: pd.Timestamp | None) -> str:
    generated = pd.Timestamp(now).strftime("%Y-%m-%d %H:%M:%S")
    if clock is None:
        through = "data through: no bars yet"
    else:
        lag = pd.Timestamp(now) - clock
        behind = f", {fmt_age(lag)} before generation" if lag > pd.Timedelta(0) else ""
        through = f"data through {fmt_time(clock)} UTC (newest bar open{behind})"
    coins = html.escape(", ".join(data.coins)) or "none"
    return (
        "<header><h1>sniper-pipeline signal report</h1>"
        f'<p class="meta">generated at {generated} UTC &middot; {html.escape(through)} &middot; '
        f"coins: {coins} &middot; warehouse: <code>{html.escape(data.warehouse)}</code></p></header>"
    )


def _toc(entries: Sequence[tuple[str, str, Sequence[tuple[str, str]]]]) -> str:
    items = []
    for anchor, label, subs in entries:
        item = f'<a href="#{html.escape(anchor)}">{html.escape(label)}</a>'
        if subs:
            links = " ".join(f'<a href="#{html.escape(a)}">{html.escape(lbl)}</a>' for a, lbl in subs)
            item += f' <span class="sub">({links})</span>'
        items.append(f"<li>{item}</li>")
    return f'<nav class="toc" id="contents" aria-label="Contents"><ol>{"".join(items)}</ol></nav>'


def render_page(data: ReportData, now: datetime) -> str:
    """The whole page as a string."""
    clock = data_clock(data)
    fresh = freshness(data)
    figures: list[str] = []
    sections: list[str] = [
        _stress_section(stress_now(data), fresh, data.coins),
        _alerts_section(data),
        _freshness_section(data, fresh, clock),
    ]

    def add_figure(fig: go.Figure) -> None:
        if not figures:
            # Once for the page, just before the first chart.
            sections.append(f'<script type="text/javascript">{get_plotlyjs()}</script>')
        div = _figure_div(fig, f"fig-{len(figures)}")
        figures.append(div)
        sections.append(div)

    sections.append(
        '<section id="charts"><h2>Charts</h2><p class="meta">per coin: each layer against its watch, '
        "action and extreme thresholds in force per bar (dotted, dashed, solid), bars at a tier shaded, "
        "alert events on the bottom strip; click a legend entry to hide it, drag to zoom.</p>"
    )
    if not data.coins:
        sections.append(
            f'<p class="empty">{NO_DATA}: no coin has signals, alerts or configs in this warehouse</p>'
        )
    events = data.events
    for coin in data.coins:
        sections.append(f'<h3 id="coin-{html.escape(coin)}">{html.escape(coin)}</h3>')
        layers = data.layers.get(coin)
        if layers is None or layers.empty:
            sections.append(f'<p class="empty">{NO_DATA}: no scored bars for {html.escape(coin)}</p>')
            continue
        coin_events = events[events["coin"] == coin] if events is not None else None
        add_figure(coin_figure(coin, layers, data.confluence.get(coin), coin_events))
    sections.append("</section>")

    sections.append('<section id="etf"><h2>BTC ETF flows (macro context)</h2>')
    if data.etf is None or data.etf.empty:
        sections.append(f'<p class="empty">{NO_DATA}</p>')
    else:
        add_figure(etf_figure(data.etf))
    sections.append("</section>")

    sections.append(
        '<section id="configs"><h2>Percentile configs in force (latest data_through per coin)</h2>'
    )
    sections.append(table_html(data.configs, CONFIG_COLUMNS))
    sections.append("</section>")

    checked = ""
    if data.health is not None and not data.health.empty:
        checked = f" ({pd.Timestamp(data.health['checked_at'].max()):%Y-%m-%d %H:%M:%S} UTC)"
    sections.append(f'<section id="health"><h2>API health, latest check{checked}</h2>')
    sections.append(table_html(data.health, HEALTH_COLUMNS))
    sections.append("</section>")

    toc: list[tuple[str, str, Sequence[tuple[str, str]]]] = [
        ("stress", "Stress now", ()),
        ("alerts", "Recent alerts", ()),
        ("freshness", "Data freshness", ()),
        ("charts", "Charts", [(f"coin-{c}", c) for c in data.coins]),
        ("etf", "BTC ETF flows", ()),
        ("configs", "Percentile configs", ()),
        ("health", "API health", ()),
    ]
    if data.evaluation is not None:
        evaluation = data.evaluation
        columns = [Col(c, EVALUATION_LABELS.get(c, _humanize(c))) for c in evaluation.columns]
        sections.append('<section id="evaluation"><h2>Signal evaluation</h2>')
        sections.append(table_html(evaluation, columns, tier_column="tier"))
        sections.append("</section>")
        toc.append(("evaluation", "Signal evaluation", ()))

    if data.missing_tables:
        sections.append(
            '<p class="meta">tables not in the warehouse yet: '
            + ", ".join(f"<code>{html.escape(t)}</code>" for t in data.missing_tables)
            + "</p>"
        )

    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>sniper-pipeline signals</title>"
        f"<style>{CSS}</style>"
        f"<script>{PROBE_HEAD}</script>"
        "</head>"
        f'<body data-plots-expected="{len(figures)}">'
        f"{_header(data, now, clock)}{_toc(toc)}{''.join(sections)}"
        f"<script>{PROBE_BODY}</script>"
        "</body></html>\n"
    )
