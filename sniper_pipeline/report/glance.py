"""What a desk reads first: coins in stress now, the recent alerts, how fresh each series is.

Pure: `ReportData` in, small records out; the page (html.py) only formats them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sniper_pipeline.report.data import ReportData, open_episode, parse_layers_json, threshold_columns
from sniper_pipeline.report.fmt import fmt_value
from sniper_pipeline.settings.layer import Layer
from sniper_pipeline.settings.timeutil import interval_delta

LEVEL_NAMES = ("none", "watch", "action", "extreme")
# A series is flagged once its newest bar is this many of its own intervals behind the data.
STALE_AFTER_INTERVALS = 3
RECENT_ALERTS = 30
# Events of one bar in the order they happen: an episode closes before the next one opens.
_EVENT_ORDER = {"close": 0, "open": 1, "upgrade": 2, "escalate": 3, "anti_flip_suppressed": 4}


@dataclass(frozen=True)
class SeriesSpec:
    key: str  # the <key>_level / <key>_is_stale prefix: the layer's column prefix, or price
    label: str  # column header, with unit
    name: str  # short name, for sentences and legends
    value: str  # the column compared with the thresholds (oi: its absolute value)
    unit: str  # the warehouse's unit name (alert_events.layers_json "unit")
    source_layer: str  # coin_layer_sources.layer
    bands: tuple[tuple[str, str], ...] = ()  # (threshold column prefix, band) pairs
    layer: Layer | None = None  # None for price, a context series


def _layer_spec(layer: Layer, label: str, name: str, bands: tuple[tuple[str, str], ...]) -> SeriesSpec:
    """A scored layer's series: its key, compared column, unit and source layer from `Layer`."""
    return SeriesSpec(layer.prefix, label, name, layer.value_column, layer.unit, layer.value, bands, layer)


LAYER_SPECS = (
    _layer_spec(Layer.FUNDING, "Funding (bps/8h)", "Funding", (("funding", ""),)),
    _layer_spec(Layer.OPEN_INTEREST, "OI change (%)", "OI change", (("oi_roc", ""),)),
    _layer_spec(Layer.LIQUIDATION, "Liquidations (USD)", "Liquidations", (("liq_total", ""),)),
    _layer_spec(Layer.TAKER, "Taker buy/sell", "Taker buy/sell", (("taker_hi", "high"), ("taker_lo", "low"))),
)
PRICE_SPEC = SeriesSpec("price", "Price (USD)", "Price", "close_usd", "usd", "price")
SERIES_SPECS = (*LAYER_SPECS, PRICE_SPEC)


@dataclass(frozen=True)
class Reading:
    """One layer on one bar: its value against the threshold that matters."""

    value: float | None
    level: str = "none"  # none, watch, action, extreme
    threshold: float | None = None  # of the level reached; when none, the watch threshold
    low_threshold: float | None = None  # taker when at no level: the low band's watch threshold
    side: str | None = None  # taker: up (above the high band) or down (below the low band)
    polarity: float | None = None  # liquidations: (long - short) / total
    stale: bool = False

    @property
    def triggered(self) -> bool:
        return self.level in ("watch", "action", "extreme")


@dataclass(frozen=True)
class StressRow:
    coin: str
    ts: pd.Timestamp
    tier: str  # none, watch or action
    direction: str | None
    episode: str | None  # "action since 2025-05-18 12:00" while an episode is open
    readings: dict[str, Reading] = field(default_factory=dict)
    behind: pd.Timedelta | None = None  # how far this coin's latest bar is behind the data clock

    @property
    def in_stress(self) -> bool:
        return self.tier in ("watch", "action")


@dataclass(frozen=True)
class AlertRow:
    ts: pd.Timestamp
    coin: str
    event: str
    tier: str
    direction: str
    readings: dict[str, Reading]


@dataclass(frozen=True)
class Freshness:
    coin: str
    spec: SeriesSpec
    interval: str | None  # the series' own interval
    newest: pd.Timestamp | None  # newest bar with a (not stale) value
    age: pd.Timedelta | None  # behind the data clock
    limit: pd.Timedelta | None  # older than this is flagged

    @property
    def stale(self) -> bool:
        if self.newest is None:
            return True
        return self.limit is not None and self.age is not None and self.age > self.limit


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _level_name(code: Any) -> str:
    number = _float(code)
    index = int(number) if number is not None else 0
    return LEVEL_NAMES[index] if 0 <= index < len(LEVEL_NAMES) else "none"


def _series_newest(layers: pd.DataFrame, spec: SeriesSpec) -> pd.Timestamp | None:
    column = "oi" if spec.layer is Layer.OPEN_INTEREST and "oi" in layers.columns else spec.value
    if column not in layers.columns:
        return None
    valid = pd.to_numeric(layers[column], errors="coerce").notna()
    stale = f"{spec.key}_is_stale"
    if stale in layers.columns:
        # A stale bar carries no current reading (its value is absent or held over).
        valid &= ~layers[stale].fillna(False).astype(bool)
    if not valid.any():
        return None
    return pd.Timestamp(layers.loc[valid, "ts"].max())


def data_clock(data: ReportData) -> pd.Timestamp | None:
    """The newest bar across every coin and series: "now" for data that may be a replayed
    recording, months behind the wall clock."""
    newest = [
        ts for layers in data.layers.values() for spec in SERIES_SPECS if (ts := _series_newest(layers, spec))
    ]
    return max(newest) if newest else None


def _series_interval(data: ReportData, coin: str, spec: SeriesSpec, layers: pd.DataFrame) -> str | None:
    if data.sources is not None and not data.sources.empty:
        match = data.sources[(data.sources["coin"] == coin) & (data.sources["layer"] == spec.source_layer)]
        if not match.empty:
            return str(match["interval"].iloc[-1])
    # Without the scan's record of sources, the coin's scoring grid.
    if "interval" in layers.columns and layers["interval"].notna().any():
        return str(layers["interval"].dropna().iloc[-1])
    return None


def _limit(interval: str | None) -> pd.Timedelta | None:
    if interval is None:
        return None
    try:
        return pd.Timedelta(interval_delta(interval)) * STALE_AFTER_INTERVALS
    except ValueError:
        return None


def freshness(data: ReportData) -> list[Freshness]:
    """Per coin with bars and per series: the newest bar, its age against the data clock, and the
    age beyond which it is flagged (3 intervals of that series)."""
    clock = data_clock(data)
    rows = []
    for coin in data.coins:
        layers = data.layers.get(coin)
        if layers is None or layers.empty:
            continue
        for spec in SERIES_SPECS:
            newest = _series_newest(layers, spec)
            interval = _series_interval(data, coin, spec, layers)
            age = clock - newest if clock is not None and newest is not None else None
            rows.append(Freshness(coin, spec, interval, newest, age, _limit(interval)))
    return rows


def _bar_reading(row: pd.Series, spec: SeriesSpec, columns: list[str]) -> Reading:
    value = _float(row.get(spec.value))
    if spec.layer is Layer.OPEN_INTEREST and value is not None:
        value = abs(value)  # the thresholds apply to |OI ROC|
    flag = row.get(f"{spec.key}_is_stale")
    stale = bool(flag) if isinstance(flag, bool | np.bool_) else False
    level = _level_name(row.get(f"{spec.key}_level"))
    side = row.get("taker_side") if spec.layer is Layer.TAKER else None
    side = side if side in ("up", "down") else None
    polarity = _float(row.get("liq_polarity")) if spec.layer is Layer.LIQUIDATION else None

    def threshold(prefix: str, band_level: str) -> float | None:
        found = [c for c in threshold_columns(columns, prefix) if c.band_level == band_level]
        return _float(row.get(found[0].column)) if found else None

    high, low = spec.bands[0][0], spec.bands[-1][0]
    if level != "none":
        prefix = low if side == "down" else high
        return Reading(value, level, threshold(prefix, level), None, side, polarity, stale)
    low_watch = threshold(low, "watch") if low != high else None
    return Reading(value, "none", threshold(high, "watch"), low_watch, None, polarity, stale)


def stress_now(data: ReportData) -> list[StressRow]:
    """Per coin with scored bars: tier and direction of its latest bar, each layer against the
    threshold of the level it is at (or the watch threshold when at none)."""
    clock = data_clock(data)
    rows = []
    for coin in data.coins:
        confluence = data.confluence.get(coin)
        if confluence is None or confluence.empty:
            continue
        last = confluence.iloc[-1]
        ts = pd.Timestamp(last["ts"])
        tier = str(last.get("tier") or "none")
        direction = last.get("direction")
        readings: dict[str, Reading] = {}
        layers = data.layers.get(coin)
        if layers is not None and not layers.empty:
            same_bar = layers[pd.to_datetime(layers["ts"]) == ts]
            if not same_bar.empty:
                bar = same_bar.iloc[-1]
                columns = list(layers.columns)
                readings = {spec.key: _bar_reading(bar, spec, columns) for spec in LAYER_SPECS}
        events = data.events[data.events["coin"] == coin] if data.events is not None else None
        episode = open_episode(events) if events is not None and not events.empty else None
        rows.append(
            StressRow(
                coin=coin,
                ts=ts,
                tier=tier if tier in ("watch", "action") else "none",
                direction=str(direction) if isinstance(direction, str) else None,
                episode=f"{episode['tier']} since {pd.Timestamp(episode['since']):%Y-%m-%d %H:%M}"
                if episode
                else None,
                readings=readings,
                behind=clock - ts if clock is not None else None,
            )
        )
    return rows


def event_reading(entry: Any) -> Reading | None:
    """One layer of an alert event's layers_json; None for an entry that is not a mapping."""
    if not isinstance(entry, dict):
        return None
    side = entry.get("side")
    return Reading(
        value=_float(entry.get("value")),
        level=str(entry.get("level_name") or _level_name(entry.get("level"))),
        threshold=_float(entry.get("threshold")),
        side=side if side in ("up", "down") else None,
        polarity=_float(entry.get("polarity")),
    )


def recent_alerts(data: ReportData, limit: int = RECENT_ALERTS) -> tuple[list[AlertRow], int]:
    """The newest `limit` alert events (newest first) and how many there are in all."""
    events = data.events
    if events is None or events.empty:
        return [], 0
    events = events.assign(
        _ts=pd.to_datetime(events["bar_ts"]),
        _order=events["event"].map(_EVENT_ORDER).fillna(len(_EVENT_ORDER)),
    ).sort_values(["_ts", "_order", "coin"], ascending=[False, False, True])
    rows = []
    for record in events.head(limit).to_dict("records"):
        layers = parse_layers_json(record.get("layers_json"))
        readings = {key: r for key, entry in layers.items() if (r := event_reading(entry)) is not None}
        rows.append(
            AlertRow(
                ts=pd.Timestamp(record["_ts"]),
                coin=str(record["coin"]),
                event=str(record["event"]),
                tier=str(record["tier"]),
                direction=str(record["direction"]),
                readings=readings,
            )
        )
    return rows, len(events)


def polarity_text(polarity: float | None) -> str:
    """Which side was liquidated: polarity -0.9 is 95% shorts."""
    if polarity is None:
        return ""
    side = "longs" if polarity >= 0 else "shorts"
    return f"{(1 + abs(polarity)) / 2:.0%} {side}"


def reading_text(reading: Reading, unit: str) -> str:
    """A reading in words, e.g. "7.77M > 7.45M watch, 95% shorts" or "0.98 within 0.85-1.15"."""
    value = fmt_value(reading.value, unit)
    if reading.stale:
        return "stale, not scored" if reading.value is None else f"{value} stale, not scored"
    if reading.triggered:
        sign = "<" if reading.side == "down" else ">"
        text = f"{value} {sign} {fmt_value(reading.threshold, unit)} {reading.level}"
    elif reading.low_threshold is not None and reading.threshold is not None:
        text = f"{value} within {fmt_value(reading.low_threshold, unit)}-{fmt_value(reading.threshold, unit)}"
    elif reading.threshold is not None:
        text = f"{value} < {fmt_value(reading.threshold, unit)}"
    else:
        text = value
    extra = polarity_text(reading.polarity)
    return f"{text}, {extra}" if extra and reading.triggered else text
