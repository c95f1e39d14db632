"""The desk summary's records: stress now, recent alerts, freshness against the data's own clock,
and how numbers are written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sniper_pipeline.report.data import ReportData
from sniper_pipeline.report.fmt import fmt_age, fmt_number, fmt_usd
from sniper_pipeline.report.glance import (
    LAYER_SPECS,
    Reading,
    data_clock,
    freshness,
    reading_text,
    recent_alerts,
    stress_now,
)
from sniper_pipeline_tests.report.conftest import confluence, layer_signals

SPEC = {spec.key: spec for spec in LAYER_SPECS}


def _data(*frames: pd.DataFrame, sources: pd.DataFrame | None = None) -> ReportData:
    coins = [str(f["coin"].iloc[0]) for f in frames]
    return ReportData(
        warehouse="duckdb:///w",
        coins=coins,
        layers={str(f["coin"].iloc[0]): f for f in frames},
        confluence={str(f["coin"].iloc[0]): confluence(f) for f in frames},
        sources=sources,
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (812_345.4, "812,345"),
        (7_774_299.0, "7.77M"),
        (1.234e9, "1.23B"),
        (-2.0012e8, "-200.12M"),
        (42.5, "42.5"),
    ],
)
def test_usd_amounts_get_m_and_b_suffixes(value: float, text: str) -> None:
    assert fmt_usd(value) == text


def test_numbers_keep_four_significant_digits_and_thousands_separators() -> None:
    assert fmt_number(12_345.6) == "12,346"
    assert fmt_number(1_234.5) == "1,234"
    assert fmt_number(0.931249) == "0.9312"
    assert fmt_number(1080) == "1,080"
    assert fmt_number(float("nan")) == fmt_usd(None) == "-"
    assert fmt_age(pd.Timedelta(days=5)) == "5d 0h" and fmt_age(pd.Timedelta(minutes=200)) == "3h 20m"


def test_the_data_clock_is_the_newest_bar_with_a_value_not_the_wall_clock() -> None:
    btc = layer_signals("BTC", 100)
    eth = layer_signals("ETH", 100, seed=1)
    # ETH has rows beyond BTC's last bar, but nothing in them: not data.
    extra = eth.iloc[[-1]].copy()
    extra["ts"] = extra["ts"] + pd.Timedelta(hours=4)
    for column in ("funding_abs_bps_8h", "oi", "oi_roc_pct", "liq_total_usd", "taker_ratio", "close_usd"):
        extra[column] = np.nan
    eth = pd.concat([eth, extra], ignore_index=True)
    assert data_clock(_data(btc, eth)) == btc["ts"].iloc[-1]
    assert data_clock(ReportData(warehouse="", coins=[])) is None


def test_a_series_is_stale_after_three_of_its_own_intervals() -> None:
    btc = layer_signals("BTC", 100, stale_bars={"taker": 3, "funding": 4})
    fresh = {f.spec.key: f for f in freshness(_data(btc))}
    clock = btc["ts"].iloc[-1]
    assert fresh["liq"].newest == clock and fresh["liq"].age == pd.Timedelta(0) and not fresh["liq"].stale
    # 3 bars of 4h behind: exactly the limit, not over it.
    assert fresh["taker"].age == pd.Timedelta(hours=12) == fresh["taker"].limit
    assert not fresh["taker"].stale
    # 4 bars behind on the 4h grid is over the limit...
    assert fresh["funding"].age == pd.Timedelta(hours=16) and fresh["funding"].stale
    # ...but funding is an 8h series when the scan says so: 24h allowed.
    sources = pd.DataFrame({"coin": ["BTC"], "layer": ["funding"], "interval": ["8h"]})
    funding = next(f for f in freshness(_data(btc, sources=sources)) if f.spec.key == "funding")
    assert funding.interval == "8h" and funding.limit == pd.Timedelta(hours=24) and not funding.stale


def test_a_series_without_any_value_is_flagged() -> None:
    btc = layer_signals("BTC", 50, price=False)
    price = next(f for f in freshness(_data(btc)) if f.spec.key == "price")
    assert price.newest is None and price.stale


def test_stress_now_reads_each_layer_against_the_threshold_of_its_level() -> None:
    btc = layer_signals("BTC", 200, stress_bars=1)
    row = stress_now(_data(btc))[0]
    last = btc.iloc[-1]
    assert row.coin == "BTC" and row.tier == "action" and row.direction == "up" and row.in_stress
    assert row.ts == last["ts"] and row.behind == pd.Timedelta(0)
    funding = row.readings["funding"]
    assert funding.level == "action" and funding.value == pytest.approx(last["funding_abs_bps_8h"])
    assert funding.threshold == pytest.approx(last["funding_p95_bps_8h"])
    assert row.readings["liq"].threshold == pytest.approx(last["liq_total_p99_usd"])
    assert row.readings["liq"].polarity == pytest.approx(0.8)
    assert reading_text(row.readings["liq"], "usd").endswith("extreme, 90% longs")


def test_a_taker_reading_below_the_low_band_uses_the_low_threshold() -> None:
    btc = layer_signals("BTC", 200)
    last = btc.index[-1]
    btc.loc[last, ["taker_level", "taker_side", "taker_ratio"]] = [2, "down", 0.5]
    reading = stress_now(_data(btc))[0].readings["taker"]
    assert reading.side == "down" and reading.threshold == pytest.approx(btc.loc[last, "taker_lo_p5"])
    assert reading_text(reading, "ratio") == f"0.5 < {fmt_number(btc.loc[last, 'taker_lo_p5'])} action"
    # At no level the reading shows the band it sits in.
    btc.loc[last, ["taker_level", "taker_side", "taker_ratio"]] = [0, None, 1.0]
    calm = stress_now(_data(btc))[0].readings["taker"]
    low, high = fmt_number(btc.loc[last, "taker_lo_p15"]), fmt_number(btc.loc[last, "taker_hi_p85"])
    assert not calm.triggered and reading_text(calm, "ratio") == f"1 within {low}-{high}"


def test_a_stale_layer_reads_as_stale_not_as_calm() -> None:
    btc = layer_signals("BTC", 100, stale_bars={"taker": 2})
    reading = stress_now(_data(btc))[0].readings["taker"]
    assert reading.stale and not reading.triggered
    assert reading_text(reading, "ratio") == "stale, not scored"


def _event(ts: str, kind: str, coin: str = "BTC", layers: object = None) -> dict[str, object]:
    return {
        "coin": coin,
        "episode_id": f"{coin}|x",
        "event": kind,
        "tier": "watch",
        "direction": "up",
        "bar_ts": pd.Timestamp(ts),
        "layers_json": layers if isinstance(layers, str) else json.dumps(layers or {}),
    }


def test_recent_alerts_newest_first_limited_and_tolerant_of_bad_json() -> None:
    liq = {"liq": {"value": 7_774_299.9, "threshold": 7_453_947.2, "level": 1, "level_name": "watch"}}
    events = pd.DataFrame(
        [
            _event("2025-01-01 00:00", "open", layers=liq),
            _event("2025-01-02 00:00", "close"),
            _event("2025-01-02 00:00", "open", coin="ETH", layers="not json"),
            _event("2025-01-03 00:00", "open", layers=liq),
        ]
    )
    data = ReportData(warehouse="", coins=["BTC", "ETH"], events=events)
    rows, total = recent_alerts(data, limit=3)
    assert total == 4
    assert [(r.ts.day, r.coin, r.event) for r in rows] == [
        (3, "BTC", "open"),
        (2, "ETH", "open"),
        (2, "BTC", "close"),
    ]
    assert rows[1].readings == {}
    reading = rows[0].readings["liq"]
    assert reading == Reading(value=7_774_299.9, level="watch", threshold=7_453_947.2)
    assert reading_text(reading, SPEC["liq"].unit) == "7.77M > 7.45M watch"
    assert recent_alerts(ReportData(warehouse="", coins=[])) == ([], 0)
