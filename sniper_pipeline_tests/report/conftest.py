"""Synthetic warehouse content for the report tests: the shapes the engine writes, made up."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, insert

from sniper_pipeline.report.data import threshold_columns
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.tables import alert_events, api_health, percentile_configs, raw_etf_flows
from sniper_pipeline.warehouse.url import warehouse_location

START = datetime(2025, 1, 1)
NOW = datetime(2025, 4, 1, 12)
LAYERS = ("funding", "oi", "liq", "taker")
# The columns a layer's source fills: absent (NaN) once the source stops delivering.
LAYER_VALUES = {
    "funding": ("funding_bps_8h", "funding_abs_bps_8h"),
    "oi": ("oi", "oi_roc_pct"),
    "liq": ("liq_long_usd", "liq_short_usd", "liq_total_usd", "liq_polarity"),
    "taker": ("taker_ratio",),
}


def _label(p: float) -> str:
    return f"{p:g}".replace(".", "_")


def layer_signals(
    coin: str,
    bars: int,
    *,
    seed: int = 0,
    high: Sequence[float] = (85, 95, 99),
    low: Sequence[float] = (15, 5, 1),
    price: bool = True,
    interval_hours: int = 4,
    stress_bars: int = 0,
    stale_bars: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """`stress_bars`: the last bars spike on every layer (a coin at action now); `stale_bars`:
    layer -> how many of the last bars its source has not delivered (values absent, is_stale)."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(START, periods=bars, freq=f"{interval_hours}h")
    funding = rng.normal(1.0, 0.8, bars)
    oi = 1e9 * np.exp(np.cumsum(rng.normal(0, 0.01, bars)))
    roc = np.concatenate([[np.nan], 100 * (oi[1:] / oi[:-1] - 1)])
    long_usd = rng.lognormal(13, 1.2, bars)
    short_usd = rng.lognormal(13, 1.2, bars)
    total = long_usd + short_usd
    taker = rng.normal(1.0, 0.05, bars)
    frame = pd.DataFrame(
        {
            "coin": coin,
            "interval": f"{interval_hours}h",
            "ts": ts,
            "funding_bps_8h": funding,
            "funding_abs_bps_8h": np.abs(funding),
            "oi": oi,
            "oi_unit": "coin",
            "oi_roc_pct": roc,
            "liq_long_usd": long_usd,
            "liq_short_usd": short_usd,
            "liq_total_usd": total,
            "liq_polarity": (long_usd - short_usd) / total,
            "taker_ratio": taker,
            "close_usd": 100 * np.exp(np.cumsum(rng.normal(0, 0.01, bars))) if price else np.nan,
        }
    )
    for layer, count in (stale_bars or {}).items():
        frame.loc[frame.index[-count:], list(LAYER_VALUES[layer])] = np.nan
    tight = np.zeros(bars)
    tight[bars // 2 : bars // 2 + 10] = 1.0  # a tightening window: the action thresholds step up
    for stem, suffix, source in (
        ("funding", "_bps_8h", frame["funding_abs_bps_8h"]),
        ("oi_roc", "_pct", frame["oi_roc_pct"].abs()),
        ("liq_total", "_usd", frame["liq_total_usd"]),
        ("taker_hi", "", frame["taker_ratio"]),
    ):
        for j, p in enumerate(high):
            values = source.rolling(100, min_periods=20).quantile(p / 100).shift(1)
            if j == 1 and stem in ("oi_roc", "taker_hi"):
                values = values + tight * (0.5 if stem == "oi_roc" else 0.05)
            frame[f"{stem}_p{_label(p)}{suffix}"] = values
    for p in low:
        frame[f"taker_lo_p{_label(p)}"] = (
            frame["taker_ratio"].rolling(100, min_periods=20).quantile(p / 100).shift(1)
        )
    if stress_bars:
        # Between two thresholds in force, so each layer lands on a known level: funding action,
        # OI watch, liquidations extreme (mostly longs), taker watch on the buy side.
        tail = frame.index[-stress_bars:]

        def between(low: str, high: str) -> pd.Series:
            return (frame.loc[tail, low] + frame.loc[tail, high]) / 2

        hi = [_label(p) for p in high]
        funding = between(f"funding_p{hi[1]}_bps_8h", f"funding_p{hi[2]}_bps_8h")
        frame.loc[tail, "funding_bps_8h"] = -funding
        frame.loc[tail, "funding_abs_bps_8h"] = funding
        frame.loc[tail, "oi_roc_pct"] = between(f"oi_roc_p{hi[0]}_pct", f"oi_roc_p{hi[1]}_pct")
        total = 3 * frame.loc[tail, f"liq_total_p{hi[2]}_usd"]
        frame.loc[tail, "liq_total_usd"] = total
        frame.loc[tail, "liq_long_usd"] = 0.9 * total
        frame.loc[tail, "liq_short_usd"] = 0.1 * total
        frame.loc[tail, "liq_polarity"] = 0.8
        frame.loc[tail, "taker_ratio"] = between(f"taker_hi_p{hi[0]}", f"taker_hi_p{hi[1]}")

    def level(value: pd.Series, cols: list[str], lower: bool = False) -> np.ndarray:
        out = np.zeros(bars, dtype=np.int16)
        for k, col in enumerate(cols, start=1):
            hit = (value < frame[col]) if lower else (value > frame[col])
            out = np.where(hit.to_numpy(), k, out)
        return out

    hi = [f"{_label(p)}" for p in high]
    frame["funding_level"] = level(frame["funding_abs_bps_8h"], [f"funding_p{p}_bps_8h" for p in hi])
    frame["oi_level"] = level(frame["oi_roc_pct"].abs(), [f"oi_roc_p{p}_pct" for p in hi])
    frame["liq_level"] = level(frame["liq_total_usd"], [f"liq_total_p{p}_usd" for p in hi])
    up = level(frame["taker_ratio"], [f"taker_hi_p{p}" for p in hi])
    down = level(frame["taker_ratio"], [f"taker_lo_p{_label(p)}" for p in low], lower=True)
    frame["taker_level"] = np.maximum(up, down)
    frame["taker_side"] = [
        "up" if u else "down" if d else None for u, d in zip(up > 0, down > 0, strict=True)
    ]
    frame["tightening_trigger"] = frame["liq_level"] == 3
    frame["tightening_factor"] = tight
    levels = frame[[f"{layer}_level" for layer in LAYERS]]
    frame["layers_action"] = (levels >= 2).sum(axis=1).astype(np.int16)
    frame["layers_extreme"] = (levels >= 3).sum(axis=1).astype(np.int16)
    for layer in LAYERS:
        frame[f"{layer}_is_stale"] = False
        frame[f"{layer}_is_coarser"] = layer == "taker"
    # A short stale stretch on funding: drawn apart from the scored values.
    frame.loc[bars // 3 : bars // 3 + 3, "funding_is_stale"] = True
    for layer, count in (stale_bars or {}).items():
        frame.loc[frame.index[-count:], f"{layer}_is_stale"] = True
    return frame


def confluence(layers: pd.DataFrame) -> pd.DataFrame:
    levels = layers[[f"{layer}_level" for layer in LAYERS]]
    triggered = (levels >= 1).sum(axis=1)
    action = (levels >= 2).sum(axis=1)
    tier = np.where((triggered >= 3) & (action >= 1), "action", np.where(triggered >= 2, "watch", "none"))
    direction = np.where(
        layers["taker_side"] == "up", "up", np.where(layers["taker_side"] == "down", "down", "mixed")
    )
    frame = layers[["coin", "interval", "ts", "tightening_trigger", "tightening_factor"]].copy()
    frame["layers_triggered"] = triggered.astype(np.int16)
    frame["layers_action"] = layers["layers_action"]
    frame["layers_extreme"] = layers["layers_extreme"]
    frame["tier"] = tier
    frame["direction"] = direction
    frame["episode_id"] = None
    return frame


# layer -> value column, threshold prefix of the high band and of the low band, unit
_EVENT_LAYERS = {
    "funding": ("funding_abs_bps_8h", "funding", None, "bps_8h"),
    "oi": ("oi_roc_pct", "oi_roc", None, "pct"),
    "liq": ("liq_total_usd", "liq_total", None, "usd"),
    "taker": ("taker_ratio", "taker_hi", "taker_lo", "ratio"),
}
_LEVEL_NAMES = ("none", "watch", "action", "extreme")


def triggered_layers(bar: pd.Series, columns: list[str]) -> str:
    """A bar's layers at a level with the threshold of that level, as the engine writes them into
    alert_events.layers_json (warehouse/signals.py::_layers_json)."""
    out: dict[str, dict[str, Any]] = {}
    for layer, (value_column, high, low, unit) in _EVENT_LAYERS.items():
        level = int(bar[f"{layer}_level"])
        if level <= 0:
            continue
        prefix = low if low and bar["taker_side"] == "down" else high
        name = _LEVEL_NAMES[level]
        column = next(c.column for c in threshold_columns(columns, prefix) if c.band_level == name)
        value = float(bar[value_column])
        entry: dict[str, Any] = {
            "value": abs(value) if layer == "oi" else value,
            "threshold": float(bar[column]),
            "level": level,
            "level_name": name,
            "unit": unit,
        }
        if layer == "taker":
            entry["side"] = bar["taker_side"]
        elif layer == "liq":
            entry["polarity"] = float(bar["liq_polarity"])
        out[layer] = entry
    return json.dumps(out)


def events(conf: pd.DataFrame, layers: pd.DataFrame, clear_bars: int = 2) -> list[dict[str, Any]]:
    """Open / upgrade / close by the rules' outline; good enough to have markers to draw."""
    out: list[dict[str, Any]] = []
    episode: str | None = None
    tier_of_episode = "none"
    quiet = 0
    coin = str(conf["coin"].iloc[0])
    for i, row in enumerate(conf.itertuples(index=False)):
        ts = pd.Timestamp(row.ts).to_pydatetime()
        bar = {"direction": row.direction, "bar_ts": ts, "interval": row.interval, "coin": coin}
        layers_json = triggered_layers(layers.iloc[i], list(layers.columns))

        def add(
            kind: str, tier: str, ep: str, bar: dict[str, Any] = bar, layers_json: str = layers_json
        ) -> None:
            out.append(
                {
                    "dedup_key": f"{ep}|{kind}|{tier}",
                    "episode_id": ep,
                    "event": kind,
                    "tier": tier,
                    "layers_json": layers_json,
                    "decided_at": NOW,
                    "run_id": "test",
                    **bar,
                }
            )

        if row.tier != "none":
            quiet = 0
            if episode is None:
                episode = f"{coin}|{ts.isoformat()}"
                tier_of_episode = row.tier
                add("open", row.tier, episode)
            elif row.tier == "action" and tier_of_episode == "watch":
                tier_of_episode = "action"
                add("upgrade", "action", episode)
        elif episode is not None:
            quiet += 1
            if quiet >= clear_bars:
                add("close", tier_of_episode, episode)
                episode, quiet = None, 0
    return out


def build_warehouse(
    path: Path,
    coins: Sequence[str] = ("BTC", "ETH"),
    bars: int = 300,
    *,
    etf: bool = True,
    health: bool = True,
    configs: bool = True,
    per_coin: Mapping[str, Mapping[str, Any]] | None = None,
    **signal_options: Any,
) -> Engine:
    """`per_coin`: coin -> extra `layer_signals` options (e.g. {"BTC": {"stress_bars": 2}})."""
    engine = make_engine(warehouse_location(f"duckdb:///{path}"))
    for seed, coin in enumerate(coins):
        options = {**signal_options, **(per_coin or {}).get(coin, {})}
        layers = layer_signals(coin, bars, seed=seed, **options)
        conf = confluence(layers)
        # The engine writes these two with pandas, so the tests do too.
        layers.to_sql("layer_signals", engine, if_exists="append", index=False)
        conf.to_sql("confluence_signals", engine, if_exists="append", index=False)
        rows = events(conf, layers)
        with engine.begin() as conn:
            if rows:
                conn.execute(insert(alert_events), rows)
            if configs:
                for through, value in ((START + timedelta(days=10), 1.0), (START + timedelta(days=40), 2.0)):
                    conn.execute(
                        insert(percentile_configs),
                        [
                            {
                                "coin": coin,
                                "interval": "4h",
                                "metric": metric,
                                "band": band,
                                "data_through": through,
                                "sources_hash": "s",
                                "params_hash": "p",
                                "unit": unit,
                                "p_watch": value,
                                "p_action": value * 1.5,
                                "p_extreme": value * 2,
                                "percentiles": "85/95/99" if band == "high" else "15/5/1",
                                "lookback_bars": 100,
                                "n_bars": 100,
                                "oi_unit": "coin",
                                "data_from": START,
                                "generated_at": NOW,
                            }
                            for metric, band, unit in (
                                ("funding_abs_bps_8h", "high", "bps_8h"),
                                ("oi_roc_abs_pct", "high", "pct"),
                                ("liq_total_usd", "high", "usd"),
                                ("taker_ratio_high", "high", "ratio"),
                                ("taker_ratio_low", "low", "ratio"),
                            )
                        ],
                    )
    with engine.begin() as conn:
        if health:
            for checked, ok in ((NOW - timedelta(hours=1), False), (NOW, True)):
                conn.execute(
                    insert(api_health),
                    [
                        {
                            "checked_at": checked,
                            "endpoint": endpoint,
                            "http_status": 200 if ok else 500,
                            "code": "0",
                            "latency_ms": 42.0,
                            "rate_limit_used": 3,
                            "rate_limit_max": 30,
                            "ok": ok,
                            "detail": None if ok else "server error",
                        }
                        for endpoint in (
                            "/api/futures/open-interest/aggregated-history",
                            "/api/etf/bitcoin/flow-history",
                        )
                    ],
                )
        if etf:
            days = pd.date_range(START, periods=40, freq="D")
            rng = np.random.default_rng(7)
            flows = rng.normal(0, 2e8, len(days))
            conn.execute(
                insert(raw_etf_flows),
                [
                    {
                        "ts": day.to_pydatetime(),
                        "flow_usd": None if day.weekday() >= 5 else float(flow),
                        "price_usd": 95_000.0 + 100 * i,
                        "etf_flows_json": "{}",
                        "is_published": day.weekday() < 5,
                        "ingested_at": NOW,
                    }
                    for i, (day, flow) in enumerate(zip(days, flows, strict=True))
                ],
            )
    return engine


@pytest.fixture(scope="session")
def warehouse_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report-warehouse") / "w.duckdb"
    build_warehouse(path).dispose()
    return path


@pytest.fixture
def warehouse(warehouse_template: Path, tmp_path: Path) -> Engine:
    """Two coins, 300 bars each, with events, configs, health checks and ETF flows; a copy per
    test (building it takes a second), so a test may change it."""
    path = tmp_path / "w.duckdb"
    shutil.copyfile(warehouse_template, path)
    return make_engine(warehouse_location(f"duckdb:///{path}"))
