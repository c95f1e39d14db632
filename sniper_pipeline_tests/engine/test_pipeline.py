from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sniper_pipeline.engine import (
    EVENT_COLUMNS,
    EpisodeState,
    event_layers,
    run_engine,
    signal_columns,
    threshold_columns,
)

from .helpers import make_bars, small_params


def _scenario(n: int = 20) -> pd.DataFrame:
    """Flat layers (every threshold 1) with a liquidation cascade at bars 15-16.

    Bar 15: funding and long liquidations at extreme -> watch, down (longs flushed).
    Bar 16: the same plus an OI ROC spike -> three layers, action.
    Bars 17-18 quiet -> the episode closes at 18.
    """
    funding, oi, long_usd = np.ones(n), np.ones(n), np.ones(n)
    funding[15:17] = 3.0
    long_usd[15:17] = 3.0
    oi[16] = 5.0
    return make_bars(
        n, funding_bps_8h=funding, oi_roc_pct=oi, liq_long_usd=long_usd, liq_short_usd=0.0, taker_ratio=1.0
    )


def test_scenario_events_and_snapshot() -> None:
    bars = _scenario()
    result = run_engine(bars, small_params())
    events = result.events
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert list(zip(events["event"], events["tier"], events["direction"], strict=True)) == [
        ("open", "watch", "down"),
        ("upgrade", "action", "down"),
        ("close", "action", "down"),
    ]
    episode = f"BTC|{bars['ts'][15].isoformat()}"
    assert events["ts"].tolist() == [bars["ts"][15], bars["ts"][16], bars["ts"][18]]
    assert events["dedup_key"].tolist() == [
        f"BTC|{episode}|open|watch",
        f"BTC|{episode}|upgrade|action",
        f"BTC|{episode}|close|action",
    ]
    opened = events.iloc[0]
    assert (opened["funding_level"], opened["liq_level"], opened["oi_level"], opened["taker_level"]) == (
        3,
        3,
        0,
        0,
    )
    assert opened["funding_threshold_bps_8h"] == 1.0  # the extreme threshold in force
    assert math.isnan(opened["oi_roc_threshold_pct"])  # not triggered
    assert event_layers(opened) == {
        "funding": {"value": 3.0, "threshold": 1.0, "level": "extreme"},
        "liq": {"value": 3.0, "threshold": 1.0, "level": "extreme", "polarity": 1.0},
    }
    signals = result.signals
    assert signals["tier"].tolist()[14:19] == ["none", "watch", "action", "none", "none"]
    assert signals["episode_id"].tolist()[14:20] == [None, episode, episode, episode, episode, None]
    assert signals["layers_triggered"].tolist()[15:17] == [2, 3]


def test_signal_columns_are_stable_and_named_with_units() -> None:
    result = run_engine(_scenario(), small_params())
    assert tuple(result.signals.columns) == signal_columns(small_params())
    assert threshold_columns()[:3] == ("funding_p85_bps_8h", "funding_p95_bps_8h", "funding_p99_bps_8h")
    assert "taker_lo_p1" in threshold_columns() and "liq_total_p99_usd" in threshold_columns()
    assert result.signals["ts"].dt.tz is not None


def test_open_bars_are_never_scored() -> None:
    bars = _scenario()
    spike = make_bars(1, start=str(bars["ts"].iloc[-1] + pd.Timedelta("4h")), funding_bps_8h=99.0)
    spike["is_closed"] = False
    with_open = pd.concat([bars, spike], ignore_index=True)
    a, b = run_engine(bars, small_params()), run_engine(with_open, small_params())
    pd.testing.assert_frame_equal(a.signals, b.signals)
    pd.testing.assert_frame_equal(a.events, b.events)


def test_missing_layer_is_not_triggered_and_flags_pass_through() -> None:
    bars = _scenario().drop(columns=["taker_ratio"])
    bars["funding_is_stale"] = False
    bars.loc[15, "funding_is_stale"] = True
    signals = run_engine(bars, small_params()).signals
    assert (signals["taker_level"] == 0).all()
    assert signals["taker_hi_p85"].isna().all()
    assert signals["funding_is_stale"].tolist()[14:17] == [False, True, False]
    assert signals["taker_is_stale"].isna().all()  # unknown, not False


def test_bad_inputs_are_refused() -> None:
    bars = _scenario()
    with pytest.raises(ValueError, match="one coin"):
        run_engine(pd.concat([bars, make_bars(3, coin="ETH", start="2030-01-01")]), small_params())
    with pytest.raises(ValueError, match="duplicate"):
        run_engine(pd.concat([bars, bars.iloc[[3]]]), small_params())
    naive = bars.assign(ts=bars["ts"].dt.tz_localize(None))
    with pytest.raises(ValueError, match="tz-aware"):
        run_engine(naive, small_params())


def test_unsorted_input_is_sorted() -> None:
    bars = _scenario()
    shuffled = bars.sample(frac=1.0, random_state=3)
    a, b = run_engine(bars, small_params()), run_engine(shuffled, small_params())
    pd.testing.assert_frame_equal(a.signals, b.signals)
    pd.testing.assert_frame_equal(a.events, b.events)


def test_resume_with_nothing_new() -> None:
    bars = _scenario()
    first = run_engine(bars, small_params())
    again = run_engine(bars, small_params(), first.state)
    assert again.signals.empty and again.events.empty
    assert again.state == first.state


@pytest.mark.parametrize("cut", [1, 12, 15, 16, 17, 18, 19])
def test_resume_mid_history_on_the_scenario(cut: int) -> None:
    bars = _scenario()
    whole = run_engine(bars, small_params())
    first = run_engine(bars.iloc[:cut], small_params())
    rest = run_engine(bars, small_params(), EpisodeState.from_dict(first.state.to_dict()))
    pd.testing.assert_frame_equal(
        pd.concat([first.signals, rest.signals], ignore_index=True), whole.signals, check_dtype=False
    )
    pd.testing.assert_frame_equal(pd.concat([first.events, rest.events], ignore_index=True), whole.events)


def test_resume_on_real_bars(recordings_dir: object) -> None:
    from pathlib import Path

    from sniper_pipeline.replay.bars import build_bars

    bars = build_bars(Path(str(recordings_dir)), "BTC")
    whole = run_engine(bars)
    assert len(whole.events) > 20
    # Cut in the middle of episodes too: every bar before an event's bar.
    cuts = sorted({int(i) for i in bars.index[bars["ts"].isin(whole.events["ts"])][:6] - 1} | {300, 1000})
    for cut in cuts:
        first = run_engine(bars.iloc[:cut])
        rest = run_engine(bars, state=first.state)
        both = pd.concat([first.events, rest.events], ignore_index=True)
        pd.testing.assert_frame_equal(both, whole.events)
        assert both["dedup_key"].is_unique


def test_engine_imports_no_io_or_orchestration() -> None:
    banned = ("dagster", "sqlalchemy", "requests", "yaml", "duckdb")
    code = f"import sys, sniper_pipeline.engine; print(sorted(m for m in {banned!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_empty_results_keep_the_dtypes() -> None:
    bars = _scenario()
    full = run_engine(bars, small_params())
    nothing = run_engine(bars.iloc[:0], small_params(), full.state)
    assert nothing.signals.dtypes.to_dict() == full.signals.dtypes.to_dict()
    assert nothing.events.dtypes.to_dict() == full.events.dtypes.to_dict()
    no_events = run_engine(bars.iloc[:12], small_params())
    assert no_events.events.empty
    assert no_events.events.dtypes.to_dict() == full.events.dtypes.to_dict()
