"""The figures: threshold step lines per band, event markers, price, tier shading, time axis."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from sniper_pipeline.report import figures
from sniper_pipeline.report.figures import coin_figure, etf_figure, event_hover, tier_runs
from sniper_pipeline_tests.report.conftest import confluence, events, layer_signals

THRESHOLD_PREFIXES = ("funding_p", "oi_roc_p", "liq_total_p", "taker_hi_p", "taker_lo_p")
# A threshold column has the percentile right after the prefix (oi_roc_pct is a value).
IS_THRESHOLD = re.compile(r"^(funding|oi_roc|liq_total|taker_hi|taker_lo)_p\d")


def _frames(bars: int = 300, **options: object) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    layers = layer_signals("BTC", bars, **options)  # type: ignore[arg-type]
    conf = confluence(layers)
    return layers, conf, pd.DataFrame(events(conf, layers))


def _by_name(fig: go.Figure) -> dict[str, go.Scatter]:
    return {str(t.name): t for t in fig.data}


def _thresholds(fig: go.Figure) -> list[go.Scatter]:
    return [t for t in fig.data if isinstance(t.meta, str) and IS_THRESHOLD.match(t.meta)]


def test_every_threshold_in_force_is_a_step_line_on_its_layers_panel() -> None:
    layers, conf, evs = _frames()
    fig = coin_figure("BTC", layers, conf, evs)
    lines = _thresholds(fig)
    expected = {c for c in layers.columns if IS_THRESHOLD.match(c)}
    assert {t.meta for t in lines} == expected and len(expected) == 15
    traces = _by_name(fig)
    panel_of = {
        "funding_p": "Funding (abs)",
        "oi_roc_p": "OI change (abs), coin OI",
        "liq_total_p": "Liquidations (total)",
        "taker_hi_p": "Taker buy/sell",
        "taker_lo_p": "Taker buy/sell",
    }
    for line in lines:
        assert line.line.shape == "hv"  # a threshold holds for its whole bar: tightening shows as steps
        value = traces[panel_of[next(p for p in THRESHOLD_PREFIXES if line.meta.startswith(p))]]
        assert line.yaxis == value.yaxis
        # The values in force per bar, not a single config value.
        assert np.allclose(
            np.asarray(line.y, dtype=float), layers[line.meta].to_numpy(), equal_nan=True, rtol=1e-6
        )
    levels = {t.name: t.line.color for t in lines if t.name.startswith("Taker")}
    assert (
        levels["Taker buy/sell watch p85 high"]
        == levels["Taker buy/sell watch p15 low"]
        == figures.LEVEL_COLORS["watch"]
    )
    assert levels["Taker buy/sell extreme p1 low"] == figures.LEVEL_COLORS["extreme"]


def test_configured_percentiles_name_the_lines() -> None:
    layers, conf, evs = _frames(high=(90, 97.5, 99.5), low=(10, 2.5, 0.5))
    names = {t.name for t in _thresholds(coin_figure("BTC", layers, conf, evs))}
    assert {"Funding watch p90", "Funding action p97.5", "Funding extreme p99.5"} <= names
    assert {
        "Taker buy/sell watch p10 low",
        "Taker buy/sell action p2.5 low",
        "Taker buy/sell extreme p0.5 low",
    } <= names


def test_alert_events_are_markers_with_the_triggered_layers_in_the_hover() -> None:
    layers, conf, evs = _frames()
    fig = coin_figure("BTC", layers, conf, evs)
    traces = _by_name(fig)
    for kind in ("open", "close"):
        marker = traces[f"Alert {kind}"]
        assert marker.mode == "markers"
        assert len(marker.x) == (evs["event"] == kind).sum() > 0
        assert marker.marker.symbol == figures.EVENT_SYMBOLS[kind]
    # Each triggered layer by its human name, its value against the threshold of its level.
    reading = re.compile(
        r"(Funding \(bps/8h\)|OI change \(%\)|Liquidations \(USD\)|Taker buy/sell): "
        r"[\d.,]+[MB]? (&gt;|&lt;) [\d.,]+[MB]? (watch|action|extreme)"
    )
    lines = [line for text in traces["Alert open"].hovertext for line in text.split("<br>")[1:]]
    assert lines and all(reading.match(line) for line in lines), lines[:4]
    # A tier needs two layers at a level; liquidations say which side was liquidated.
    assert all(text.count("<br>") >= 2 for text in traces["Alert open"].hovertext)
    liq = [line for line in lines if line.startswith("Liquidations")]
    assert liq and all(re.search(r"[MB]? (watch|action|extreme), \d+% (longs|shorts)$", line) for line in liq)
    assert "Alert escalate" not in traces  # no such events: no empty trace
    assert {"Tier watch", "Tier action"} <= set(traces)


def test_price_goes_on_the_top_panels_second_axis_only_when_present() -> None:
    layers, conf, evs = _frames()
    fig = coin_figure("BTC", layers, conf, evs)
    price = _by_name(fig)["Price (USD)"]
    assert price.yaxis == "y2" and _by_name(fig)["Funding (abs)"].yaxis == "y"
    assert fig.layout.yaxis2.title.text == "Price (USD)"
    layers, conf, evs = _frames(price=False)
    assert "Price (USD)" not in _by_name(coin_figure("BTC", layers, conf, evs))


def test_axis_titles_are_human_names_with_units() -> None:
    layers, conf, evs = _frames()
    fig = coin_figure("BTC", layers, conf, evs)
    titles = [fig.layout[f"yaxis{i if i > 1 else ''}"].title.text for i in (1, 3, 4, 5)]
    assert titles == ["Funding (bps/8h)", "OI change (%)", "Liquidations (USD)", "Taker buy/sell"]
    assert fig.layout.xaxis5.title.text == "Bar open (UTC)"


def test_a_regular_grid_is_sent_as_start_and_step_and_a_gap_as_timestamps() -> None:
    layers, conf, evs = _frames()
    value = _by_name(coin_figure("BTC", layers, conf, evs))["Funding (abs)"]
    assert value.x is None and value.dx == 4 * 3600 * 1000 and value.x0 == "2025-01-01 00:00:00"
    gappy = layers.drop(index=[10, 11]).reset_index(drop=True)
    value = _by_name(coin_figure("BTC", gappy, confluence(gappy), None))["Funding (abs)"]
    assert len(value.x) == len(gappy) and value.x[10] == "2025-01-03 00:00:00"
    # float32 on the wire: half the bytes, still 7 significant digits
    assert json.loads(coin_figure("BTC", layers).to_json())["data"][0]["y"]["dtype"] == "f4"


def test_stale_values_are_drawn_apart_not_as_readings() -> None:
    layers, conf, evs = _frames()
    stale = layers["funding_is_stale"].to_numpy(dtype=bool)
    traces = _by_name(coin_figure("BTC", layers, conf, evs))
    assert np.isnan(np.asarray(traces["Funding (abs)"].y, dtype=float)[stale]).all()
    assert len(traces["Funding (abs): stale, not scored"].y) == stale.sum() == 4


def test_tier_runs_merge_consecutive_bars_and_shade_every_panel() -> None:
    ts = pd.date_range("2025-01-01", periods=7, freq="4h")
    conf = pd.DataFrame({"ts": ts, "tier": ["none", "watch", "watch", "action", "none", "watch", None]})
    runs = tier_runs(conf, 4 * 3600 * 1000.0)
    assert runs == [
        ("watch", ts[1], ts[3]),
        ("action", ts[3], ts[4]),
        ("watch", ts[5], ts[6]),
    ]
    layers, conf, evs = _frames()
    fig = coin_figure("BTC", layers, conf, evs)
    assert len(fig.layout.shapes) == len(tier_runs(conf, 4 * 3600 * 1000.0)) > 0
    assert all(shape.yref == "paper" for shape in fig.layout.shapes)


def test_many_points_switch_to_webgl(monkeypatch: pytest.MonkeyPatch) -> None:
    layers, conf, evs = _frames(bars=150)
    assert isinstance(_by_name(coin_figure("BTC", layers, conf, evs))["Funding (abs)"], go.Scatter)
    monkeypatch.setattr(figures, "GL_MIN_POINTS", 100)
    fig = coin_figure("BTC", layers, conf, evs)
    assert isinstance(_by_name(fig)["Funding (abs)"], go.Scattergl)
    assert all(isinstance(t, go.Scattergl) for t in _thresholds(fig))


def test_figure_without_confluence_events_or_thresholds() -> None:
    layers = layer_signals("BTC", 50)
    layers = layers[[c for c in layers.columns if not IS_THRESHOLD.match(c)]]
    fig = coin_figure("BTC", layers, None, None)
    assert _thresholds(fig) == []
    assert not any(str(t.name).startswith(("Alert", "Tier")) for t in fig.data)
    # An all-NaN layer (e.g. no taker source) is left out rather than drawn as zero.
    layers = layers.assign(taker_ratio=np.nan)
    assert "Taker buy/sell" not in _by_name(coin_figure("BTC", layers))


def test_event_hover_is_escaped_and_survives_bad_json() -> None:
    event = {"event": "open", "tier": "watch", "direction": "up", "bar_ts": pd.Timestamp("2025-01-01")}
    assert event_hover({**event, "layers_json": "not json"}) == "<b>open watch</b> up"
    text = event_hover(
        {**event, "layers_json": json.dumps({"<x>": {"value": 1.5, "threshold": 1, "level_name": "watch"}})}
    )
    assert "&lt;x&gt;: 1.5" in text and "<x>" not in text


def test_etf_flows_show_an_unpublished_day_as_a_gap() -> None:
    etf = pd.DataFrame(
        {
            "ts": pd.date_range("2025-01-01", periods=3, freq="D"),
            "flow_usd": [1e8, None, -5e7],
            "price_usd": [95_000.0, 95_500.0, 96_000.0],
        }
    )
    fig = etf_figure(etf)
    bars = _by_name(fig)["Net flow (USD)"]
    assert np.isnan(np.asarray(bars.y, dtype=float)[1])
    assert list(bars.marker.color) == ["#59a14f", "#59a14f", "#e15759"]
    assert _by_name(fig)["BTC price (USD)"].yaxis == "y2"
