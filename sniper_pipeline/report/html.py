"""Assemble the report as one self-contained HTML page (plotly.js inline once, no network)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from sniper_pipeline.report.data import ReportData, summary_frame
from sniper_pipeline.report.figures import coin_figure, etf_figure, fmt_number

NO_DATA = "no data yet"
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "scrollZoom": False}

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px 24px; color: #222; }
h1 { font-size: 1.4em; margin-bottom: 4px; }
h2 { font-size: 1.15em; margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 2px; }
.meta { color: #555; font-size: 0.9em; }
.meta code { background: #f4f4f4; padding: 0 4px; }
table { border-collapse: collapse; font-size: 0.85em; margin: 6px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; }
td.text { text-align: left; }
.empty { color: #888; font-style: italic; }
.scroll { overflow-x: auto; max-width: 100%; }
.tier-watch { background: #fff5cc; }
.tier-action { background: #fde0dc; }
.bad { background: #fde0dc; }
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


def _cell(value: Any) -> str:
    if value is None or value is pd.NaT:
        return "-"
    if isinstance(value, pd.Timestamp | datetime):
        return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float) and pd.isna(value):
        return "-"
    return fmt_number(value)


def table_html(
    frame: pd.DataFrame | None, columns: Sequence[str] | None = None, *, tier_column: str | None = None
) -> str:
    """A plain, escaped HTML table; "no data yet" for a missing or empty frame."""
    if frame is None or frame.empty:
        return f'<p class="empty">{NO_DATA}</p>'
    columns = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = []
    for record in frame.to_dict("records"):
        css = ""
        if tier_column and record.get(tier_column) in ("watch", "action"):
            css = f' class="tier-{record[tier_column]}"'
        if record.get("ok") is False:
            css = ' class="bad"'
        cells = []
        for c in columns:
            value = record.get(c)
            kind = ' class="text"' if isinstance(value, str) else ""
            cells.append(f"<td{kind}>{html.escape(_cell(value))}</td>")
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def _figure_div(fig: go.Figure, div_id: str) -> str:
    return pio.to_html(
        fig, full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG, validate=False
    )


def render_page(data: ReportData, now: datetime) -> str:
    """The whole page as a string."""
    figures: list[str] = []
    sections: list[str] = []

    summary = summary_frame(data, now)
    sections.append("<h2>Summary</h2>")
    sections.append(
        table_html(
            summary,
            [
                "coin",
                "interval",
                "bars",
                "first_bar",
                "last_bar",
                "last_bar_age",
                "alerts_watch",
                "alerts_action",
                "tier_now",
                "direction_now",
                "open_episode",
            ],
            tier_column="tier_now",
        )
        if data.coins
        else f'<p class="empty">{NO_DATA}: no coin has signals, alerts or configs in this warehouse</p>'
    )

    events = data.events
    for coin in data.coins:
        sections.append(f'<h2 id="coin-{html.escape(coin)}">{html.escape(coin)}</h2>')
        layers = data.layers.get(coin)
        if layers is None or layers.empty:
            sections.append(f'<p class="empty">{NO_DATA}: no scored bars for {html.escape(coin)}</p>')
            continue
        coin_events = events[events["coin"] == coin] if events is not None else None
        fig = coin_figure(coin, layers, data.confluence.get(coin), coin_events)
        div = _figure_div(fig, f"fig-{len(figures)}")
        figures.append(div)
        sections.append(div)

    sections.append("<h2>BTC ETF flows (macro context)</h2>")
    if data.etf is None or data.etf.empty:
        sections.append(f'<p class="empty">{NO_DATA}</p>')
    else:
        div = _figure_div(etf_figure(data.etf), f"fig-{len(figures)}")
        figures.append(div)
        sections.append(div)

    sections.append("<h2>Percentile configs in force (latest data_through per coin)</h2>")
    sections.append(
        table_html(
            data.configs,
            [
                "coin",
                "interval",
                "metric",
                "band",
                "unit",
                "percentiles",
                "p_watch",
                "p_action",
                "p_extreme",
                "lookback_bars",
                "n_bars",
                "oi_unit",
                "data_from",
                "data_through",
                "generated_at",
            ],
        )
    )

    checked = ""
    if data.health is not None and not data.health.empty:
        checked = f" ({pd.Timestamp(data.health['checked_at'].max()):%Y-%m-%d %H:%M:%S} UTC)"
    sections.append(f"<h2>API health, latest check{checked}</h2>")
    sections.append(
        table_html(
            data.health,
            [
                "endpoint",
                "ok",
                "http_status",
                "code",
                "latency_ms",
                "rate_limit_used",
                "rate_limit_max",
                "detail",
            ],
        )
    )

    if data.evaluation is not None:
        sections.append("<h2>Signal evaluation</h2>")
        sections.append(table_html(data.evaluation))

    if data.missing_tables:
        sections.append(
            '<p class="meta">tables not in the warehouse yet: '
            + ", ".join(f"<code>{html.escape(t)}</code>" for t in data.missing_tables)
            + "</p>"
        )

    generated = pd.Timestamp(now).strftime("%Y-%m-%d %H:%M:%S")
    coins = html.escape(", ".join(data.coins)) or "none"
    header = (
        "<h1>sniper-pipeline signal report</h1>"
        f'<p class="meta">generated at {generated} UTC &middot; coins: {coins} &middot; '
        f"warehouse: <code>{html.escape(data.warehouse)}</code></p>"
    )
    plotly_js = f'<script type="text/javascript">{get_plotlyjs()}</script>' if figures else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>sniper-pipeline signals</title>"
        f"<style>{CSS}</style>"
        f"<script>{PROBE_HEAD}</script>"
        f"{plotly_js}"
        "</head>"
        f'<body data-plots-expected="{len(figures)}">'
        f"{header}{''.join(sections)}"
        f"<script>{PROBE_BODY}</script>"
        "</body></html>\n"
    )
