from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sniper_pipeline.engine import SanityParams, config_sanity, percentile_config

from .helpers import make_bars, small_params


def _rows_by_metric(rows: list[dict[str, object]]) -> dict[object, dict[str, object]]:
    return {row["metric"]: row for row in rows}


def test_snapshot_window_includes_the_last_closed_bar() -> None:
    rng = np.random.default_rng(7)
    n = 30
    funding = rng.normal(size=n) * 5
    taker = rng.lognormal(sigma=0.1, size=n)
    bars = make_bars(n, funding_bps_8h=funding, taker_ratio=taker, oi_roc_pct=rng.normal(size=n))
    open_bar = make_bars(1, start=str(bars["ts"].iloc[-1] + pd.Timedelta("4h")), funding_bps_8h=1e6)
    open_bar["is_closed"] = False
    rows = _rows_by_metric(percentile_config(pd.concat([bars, open_bar], ignore_index=True), small_params()))

    window = np.abs(funding[-10:])  # lookback 10, the last closed bar included, the open bar not
    funding_row = rows["funding_abs_bps_8h"]
    expected = np.percentile(window, [85, 95, 99])
    assert [funding_row["p_watch"], funding_row["p_action"], funding_row["p_extreme"]] == list(expected)
    low = rows["taker_ratio_low"]
    assert [low["p_watch"], low["p_action"], low["p_extreme"]] == list(np.percentile(taker[-10:], [15, 5, 1]))
    assert rows["oi_roc_abs_pct"]["p_watch"] == np.percentile(np.abs(bars["oi_roc_pct"].to_numpy()[-10:]), 85)
    assert funding_row["data_from"] == bars["ts"].iloc[-10]
    assert funding_row["data_through"] == bars["ts"].iloc[-1]
    assert (funding_row["unit"], funding_row["band"], funding_row["lookback_bars"]) == ("bps_8h", "high", 10)
    assert funding_row["percentiles"] == [85.0, 95.0, 99.0] and low["percentiles"] == [15.0, 5.0, 1.0]
    assert (funding_row["coin"], funding_row["interval"], funding_row["oi_unit"]) == ("BTC", "4h", "coin")


def test_one_row_per_metric_and_band_with_units() -> None:
    rows = percentile_config(make_bars(12, funding_bps_8h=1.0), small_params())
    assert [(r["metric"], r["unit"], r["band"]) for r in rows] == [
        ("funding_abs_bps_8h", "bps_8h", "high"),
        ("oi_roc_abs_pct", "pct", "high"),
        ("liq_total_usd", "usd", "high"),
        ("taker_ratio_high", "ratio", "high"),
        ("taker_ratio_low", "ratio", "low"),
    ]
    missing = rows[1]  # no OI in these bars: no thresholds, counted as zero bars
    assert missing["p_watch"] is None and missing["n_bars"] == 0


def test_no_closed_bars_no_config() -> None:
    assert percentile_config(make_bars(3, is_closed=False), small_params()) == []


def _row(
    metric: str, unit: str, band: str, values: tuple[float, float, float], n: int = 100
) -> dict[str, object]:
    return {
        "coin": "BTC",
        "metric": metric,
        "unit": unit,
        "band": band,
        "p_watch": values[0],
        "p_action": values[1],
        "p_extreme": values[2],
        "n_bars": n,
        "lookback_bars": 100,
    }


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (_row("funding_abs_bps_8h", "bps_8h", "high", (1.0, 1.0, 1.0)), None),  # ties are normal
        (_row("funding_abs_bps_8h", "bps_8h", "high", (10.0, 50.0, 501.0)), "above 500"),
        (_row("funding_abs_bps_8h", "bps_8h", "high", (10.0, 50.0, 500.0)), None),
        (_row("liq_total_usd", "usd", "high", (5.0, 4.0, 9.0)), "not ordered"),
        (_row("taker_ratio_high", "ratio", "high", (1.1, 1.2, 21.0)), "outside"),
        (_row("taker_ratio_low", "ratio", "low", (0.9, 0.8, 0.04)), "outside"),
        (_row("taker_ratio_low", "ratio", "low", (0.9, 0.95, 0.8)), "not ordered"),
        (_row("taker_ratio_low", "ratio", "low", (0.9, 0.9, 0.9)), None),
        (_row("liq_total_usd", "usd", "high", (1.0, 2.0, 3.0), n=99), "only 99 bars"),
        (_row("liq_total_usd", "usd", "high", (None, None, None), n=0), "no thresholds"),  # type: ignore[arg-type]
    ],
)
def test_config_sanity(row: dict[str, object], problem: str | None) -> None:
    problems = config_sanity([row])
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_sanity_limits_are_parameters() -> None:
    row = _row("funding_abs_bps_8h", "bps_8h", "high", (10.0, 50.0, 300.0))
    assert config_sanity([row]) == []
    assert config_sanity([row], SanityParams(max_funding_p99_bps_8h=200.0))
