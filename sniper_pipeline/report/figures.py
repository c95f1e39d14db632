"""Plotly figures of the signal report. Pure: frames in, figures out (no warehouse, no files).

Size matters: a coin has up to ~9k bars and ~20 traces. Values go out as float32 (plotly.py
ships numpy arrays as base64 typed arrays) and a regular bar grid as `x0` + `dx` instead of one
timestamp string per point and trace; together about a quarter of the naive JSON. The template
is cut down to what scatter and bar traces use (plotly_white carries defaults for ~40 trace
types, 7 kB in every figure)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from sniper_pipeline.report.data import parse_layers_json, threshold_columns
from sniper_pipeline.report.glance import LAYER_SPECS, SeriesSpec, event_reading, reading_text
from sniper_pipeline.settings.layer import Layer

# SVG lines stay smooth to well beyond 9k points; WebGL only pays off later, and a page with
# many coins would run into the browser's limit of ~16 live WebGL contexts.
GL_MIN_POINTS = 20_000
# One shape per run of tier bars; beyond this the tier strip alone marks them (shapes are
# redrawn on every zoom).
MAX_SHADED_RUNS = 600

LEVEL_COLORS = {"watch": "#d4a000", "action": "#f07f09", "extreme": "#c62828"}
LEVEL_DASH = {"watch": "dot", "action": "dash", "extreme": "solid"}
TIER_FILL = {"watch": "rgba(230, 184, 0, 0.45)", "action": "rgba(214, 39, 40, 0.45)"}
TIER_SHADE = {"watch": "rgba(230, 184, 0, 0.10)", "action": "rgba(214, 39, 40, 0.10)"}
EVENT_SYMBOLS = {
    "open": "triangle-up",
    "upgrade": "star",
    "escalate": "diamond",
    "close": "x",
    "anti_flip_suppressed": "circle-open",
}
EVENT_Y = {"open": 2.0, "upgrade": 2.0, "escalate": 2.0, "close": 1.5, "anti_flip_suppressed": 2.5}
TIER_COLORS = {"watch": "#d4a000", "action": "#c62828"}


@dataclass(frozen=True)
class Panel:
    row: int
    spec: SeriesSpec  # names, unit, threshold bands; spec.key prefixes <layer>_is_stale
    value: str  # column plotted (computed for |OI change|)
    trace: str  # legend name of the value
    color: str  # of the value's line

    @property
    def layer(self) -> str:
        return self.spec.key

    @property
    def bands(self) -> tuple[tuple[str, str], ...]:
        return self.spec.bands


_SPEC = {spec.key: spec for spec in LAYER_SPECS}
PANELS = (
    Panel(1, _SPEC[Layer.FUNDING.prefix], "funding_abs_bps_8h", "Funding (abs)", "#1f77b4"),
    Panel(2, _SPEC[Layer.OPEN_INTEREST.prefix], "oi_roc_abs_pct", "OI change (abs)", "#6a3d9a"),
    Panel(3, _SPEC[Layer.LIQUIDATION.prefix], "liq_total_usd", "Liquidations (total)", "#333333"),
    Panel(4, _SPEC[Layer.TAKER.prefix], "taker_ratio", "Taker buy/sell", "#17becf"),
)
STRIP_ROW = 5
PRICE_TITLE = "Price (USD)"


def _slim_template() -> go.layout.Template:
    white = pio.templates["plotly_white"]
    keep = ("scatter", "scattergl", "bar")
    data = {kind: white.data[kind] for kind in keep if white.data[kind]}
    return go.layout.Template(layout=white.layout, data=data)


TEMPLATE = _slim_template()


def _time_axis(ts: pd.Series) -> tuple[dict[str, Any], float | None]:
    """Trace x arguments for a time column, and the bar length in ms when the grid is regular."""
    times = pd.to_datetime(ts)
    if len(times) >= 2:
        steps = np.diff(times.to_numpy().astype("datetime64[ms]").astype(np.int64))
        if steps[0] > 0 and (steps == steps[0]).all():
            return {"x0": times.iloc[0].strftime("%Y-%m-%d %H:%M:%S"), "dx": float(steps[0])}, float(steps[0])
    return {"x": _stamps(times)}, None


def _stamps(ts: pd.Series) -> list[str]:
    return [t.strftime("%Y-%m-%d %H:%M:%S") for t in pd.to_datetime(ts)]


def _f32(values: Any) -> np.ndarray:
    return np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=np.float32)


def _scatter(n: int, **kwargs: Any) -> go.Scatter | go.Scattergl:
    return go.Scattergl(**kwargs) if n >= GL_MIN_POINTS else go.Scatter(**kwargs)


def _stale_mask(layers: pd.DataFrame, layer: str) -> np.ndarray:
    name = f"{layer}_is_stale"
    if name not in layers.columns:
        return np.zeros(len(layers), dtype=bool)
    return np.asarray(layers[name].fillna(False).astype(bool), dtype=bool)


def _add_value_trace(
    fig: go.Figure, layers: pd.DataFrame, panel: Panel, x: dict[str, Any], name: str
) -> None:
    values = _f32(layers[panel.value]) if panel.value in layers.columns else None
    if values is None or np.isnan(values).all():
        return
    stale = _stale_mask(layers, panel.layer)
    n = len(layers)
    # A stale value is not scored (level 0): drawn apart, never as a current reading.
    fig.add_trace(
        _scatter(
            n,
            name=name,
            mode="lines",
            line={"color": panel.color, "width": 1.4},
            y=np.where(stale, np.nan, values),
            **x,
        ),
        row=panel.row,
        col=1,
    )
    if stale.any():
        # Stale bars are few: their own points (explicit x) are smaller than a full-length gap array.
        fig.add_trace(
            go.Scatter(
                name=f"{name}: stale, not scored",
                mode="markers",
                marker={"color": "#9e9e9e", "size": 4, "symbol": "circle-open"},
                x=_stamps(layers["ts"][stale]),
                y=values[stale],
            ),
            row=panel.row,
            col=1,
        )


def _add_thresholds(fig: go.Figure, layers: pd.DataFrame, panel: Panel, x: dict[str, Any]) -> None:
    n = len(layers)
    for prefix, band in panel.bands:
        for column in threshold_columns(list(layers.columns), prefix):
            values = _f32(layers[column.column])
            if np.isnan(values).all():
                continue
            label = f"{column.band_level} p{column.percentile:g}" + (f" {band}" if band else "")
            fig.add_trace(
                _scatter(
                    n,
                    name=f"{panel.spec.name} {label}",
                    legendgroup=f"{panel.layer}-{band}-{column.band_level}",
                    mode="lines",
                    # Step lines: a threshold holds for its whole bar, so tightening shows as steps.
                    line={
                        "color": LEVEL_COLORS[column.band_level],
                        "width": 1,
                        "dash": LEVEL_DASH[column.band_level],
                        "shape": "hv",
                    },
                    y=values,
                    meta=column.column,
                    **x,
                ),
                row=panel.row,
                col=1,
            )


def tier_runs(confluence: pd.DataFrame, bar_ms: float | None) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
    """Consecutive bars at the same tier (watch or action) as (tier, start, end) spans."""
    if confluence.empty or "tier" not in confluence.columns:
        return []
    ts = pd.to_datetime(confluence["ts"]).reset_index(drop=True)
    tiers = confluence["tier"].fillna("none").astype(str).reset_index(drop=True)
    ends = ts.shift(-1)
    if bar_ms is not None:
        ends = ts + pd.Timedelta(milliseconds=bar_ms)
    elif len(ts) >= 2:
        ends.iloc[-1] = ts.iloc[-1] + (ts.iloc[-1] - ts.iloc[-2])
    else:
        ends.iloc[-1] = ts.iloc[-1] + pd.Timedelta(hours=1)
    runs: list[tuple[str, pd.Timestamp, pd.Timestamp]] = []
    for i, tier in enumerate(tiers):
        if tier not in TIER_FILL:
            continue
        if runs and runs[-1][0] == tier and runs[-1][2] == ts.iloc[i]:
            runs[-1] = (tier, runs[-1][1], ends.iloc[i])
        else:
            runs.append((tier, ts.iloc[i], ends.iloc[i]))
    return runs


def event_hover(event: dict[str, Any]) -> str:
    """Hover text of an alert event: what, and each triggered layer against its threshold."""
    # The bar time is in the unified hover header already.
    lines = [
        f"<b>{html.escape(str(event['event']))} {html.escape(str(event['tier']))}</b> "
        f"{html.escape(str(event['direction']))}"
    ]
    for layer, entry in parse_layers_json(event.get("layers_json")).items():
        reading = event_reading(entry)
        if reading is None:
            continue
        spec = _SPEC.get(str(layer))
        name = spec.label if spec else str(layer)
        unit = spec.unit if spec else str(entry.get("unit", ""))
        lines.append(f"{html.escape(name)}: {html.escape(reading_text(reading, unit))}")
    return "<br>".join(lines)


def _add_tier_strip(fig: go.Figure, confluence: pd.DataFrame, events: pd.DataFrame) -> None:
    if not confluence.empty and "tier" in confluence.columns:
        x, _ = _time_axis(confluence["ts"])
        tiers = confluence["tier"].fillna("none").astype(str).to_numpy()
        for tier, fill in TIER_FILL.items():
            on = tiers == tier
            if not on.any():
                continue
            fig.add_trace(
                _scatter(
                    len(confluence),
                    name=f"Tier {tier}",
                    legendgroup=f"tier-{tier}",
                    mode="lines",
                    line={"width": 0, "shape": "hv", "color": TIER_COLORS[tier]},
                    fill="tozeroy",
                    fillcolor=fill,
                    y=on.astype(np.uint8),
                    hoverinfo="skip",
                    **x,
                ),
                row=STRIP_ROW,
                col=1,
            )
    if events.empty:
        return
    for kind, symbol in EVENT_SYMBOLS.items():
        part = events[events["event"] == kind]
        if part.empty:
            continue
        records = part.to_dict("records")
        fig.add_trace(
            go.Scatter(
                name=f"Alert {kind.replace('_', ' ')}",
                mode="markers",
                x=_stamps(part["bar_ts"]),
                y=[EVENT_Y[kind]] * len(records),
                marker={
                    "symbol": symbol,
                    "size": 10,
                    "color": [TIER_COLORS.get(str(r["tier"]), "#555") for r in records],
                    "line": {"width": 1, "color": "#333"},
                },
                hovertext=[event_hover(r) for r in records],
                hoverinfo="text",
                meta=kind,
            ),
            row=STRIP_ROW,
            col=1,
        )


def coin_figure(
    coin: str,
    layers: pd.DataFrame,
    confluence: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
) -> go.Figure:
    """Stacked panels sharing the time axis: the four layers against their thresholds in force,
    price on the funding panel, and a strip with the tier per bar and the alert events."""
    confluence = confluence if confluence is not None else pd.DataFrame()
    events = events if events is not None else pd.DataFrame(columns=["event"])
    layers = layers.copy()
    if "oi_roc_pct" in layers.columns:
        layers["oi_roc_abs_pct"] = pd.to_numeric(layers["oi_roc_pct"], errors="coerce").abs()
    has_price = (
        "close_usd" in layers.columns and pd.to_numeric(layers["close_usd"], errors="coerce").notna().any()
    )
    oi_trace = PANELS[1].trace
    if "oi_unit" in layers.columns and layers["oi_unit"].notna().any():
        # Coin- or USD-denominated OI change differently when the price moves: worth a word.
        oi_trace = f"{oi_trace}, {layers['oi_unit'].dropna().iloc[-1]} OI"
    fig = make_subplots(
        rows=STRIP_ROW,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.025,
        row_heights=[0.24, 0.2, 0.22, 0.24, 0.1],
        specs=[[{"secondary_y": True}], [{}], [{}], [{}], [{}]],
    )
    x, bar_ms = _time_axis(layers["ts"]) if not layers.empty else ({}, None)
    if not layers.empty:
        for panel in PANELS:
            name = oi_trace if panel.spec.layer is Layer.OPEN_INTEREST else panel.trace
            _add_value_trace(fig, layers, panel, x, name)
            if panel.spec.layer is Layer.LIQUIDATION:
                for column, label, color in (
                    ("liq_long_usd", "Longs liquidated", "#e15759"),
                    ("liq_short_usd", "Shorts liquidated", "#59a14f"),
                ):
                    if column in layers.columns:
                        fig.add_trace(
                            _scatter(
                                len(layers),
                                name=label,
                                mode="lines",
                                line={"color": color, "width": 0.8},
                                opacity=0.7,
                                y=np.where(_stale_mask(layers, panel.layer), np.nan, _f32(layers[column])),
                                **x,
                            ),
                            row=panel.row,
                            col=1,
                        )
            _add_thresholds(fig, layers, panel, x)
        if has_price:
            fig.add_trace(
                _scatter(
                    len(layers),
                    name=PRICE_TITLE,
                    mode="lines",
                    line={"color": "#7f7f7f", "width": 1},
                    opacity=0.6,
                    y=_f32(layers["close_usd"]),
                    **x,
                ),
                row=1,
                col=1,
                secondary_y=True,
            )
    _add_tier_strip(fig, confluence, events)
    runs = tier_runs(confluence, bar_ms)
    if len(runs) <= MAX_SHADED_RUNS:
        # One shape per run spanning every panel (all share the x axis), under the traces.
        shapes = [
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": start.strftime("%Y-%m-%d %H:%M:%S"),
                "x1": end.strftime("%Y-%m-%d %H:%M:%S"),
                "y0": 0,
                "y1": 1,
                "fillcolor": TIER_SHADE[tier],
                "line": {"width": 0},
                "layer": "below",
            }
            for tier, start, end in runs
        ]
        fig.update_layout(shapes=shapes)
    for panel in PANELS:
        fig.update_yaxes(title_text=panel.spec.label, row=panel.row, col=1, secondary_y=False)
    # 4 significant digits, thousands separated: readable for 0.9312 and for 12,350,000 USD alike.
    fig.update_yaxes(hoverformat=",.4~r")
    fig.update_yaxes(title_text=PRICE_TITLE, row=1, col=1, secondary_y=True, showgrid=False)
    fig.update_yaxes(
        title_text="Tier / alerts",
        row=STRIP_ROW,
        col=1,
        range=[0, 3],
        showticklabels=False,
        showgrid=False,
        fixedrange=True,
    )
    fig.update_xaxes(type="date", row=STRIP_ROW, col=1, title_text="Bar open (UTC)")
    interval = ""
    if "interval" in layers.columns and layers["interval"].notna().any():
        interval = f" ({layers['interval'].dropna().iloc[0]} bars)"
    fig.update_layout(
        title={"text": f"{html.escape(coin)}{interval}", "x": 0.01},
        template=TEMPLATE,
        height=1000,
        margin={"l": 70, "r": 70, "t": 50, "b": 40},
        hovermode="x unified",
        legend={"orientation": "v", "font": {"size": 10}, "groupclick": "toggleitem"},
    )
    return fig


def etf_figure(etf: pd.DataFrame) -> go.Figure:
    """Daily BTC ETF net flows as bars (an unpublished day shows as a gap), price on the side."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    days = [pd.Timestamp(t).strftime("%Y-%m-%d") for t in etf["ts"]]
    flows = pd.to_numeric(etf["flow_usd"], errors="coerce")
    fig.add_trace(
        go.Bar(
            name="Net flow (USD)",
            x=days,
            y=_f32(flows),
            marker={"color": np.where(flows.fillna(0) >= 0, "#59a14f", "#e15759").tolist()},
        ),
        secondary_y=False,
    )
    if "price_usd" in etf.columns and pd.to_numeric(etf["price_usd"], errors="coerce").notna().any():
        fig.add_trace(
            go.Scatter(
                name="BTC price (USD)",
                x=days,
                y=_f32(etf["price_usd"]),
                mode="lines",
                line={"color": "#7f7f7f", "width": 1},
            ),
            secondary_y=True,
        )
    fig.update_yaxes(hoverformat=",.4~r")
    fig.update_yaxes(title_text="Net flow (USD)", secondary_y=False)
    fig.update_yaxes(title_text="BTC price (USD)", secondary_y=True, showgrid=False)
    fig.update_xaxes(type="date", title_text="Trading day (UTC)")
    fig.update_layout(
        title={"text": "BTC spot ETF net flows (daily)", "x": 0.01},
        template=TEMPLATE,
        height=320,
        margin={"l": 70, "r": 70, "t": 50, "b": 40},
        hovermode="x unified",
        showlegend=True,
    )
    return fig
