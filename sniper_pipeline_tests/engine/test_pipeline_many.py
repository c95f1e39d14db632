"""run_engine_many equals run_engine per coin, concatenated in the order given."""

from __future__ import annotations

import pandas as pd
import pytest

from sniper_pipeline.engine import EngineParams, EpisodeState, run_engine, run_engine_many

from .test_golden import golden_bars


def _coins() -> tuple[dict[str, pd.DataFrame], dict[str, EpisodeState]]:
    """Coins unlike each other: flags or not, oi_unit or not, another grid, a resumed
    coin, a coin with only an open bar (nothing to score, its state passes through)."""
    params = EngineParams()
    bars = {f"G{seed}": golden_bars(seed) for seed in range(5)}
    bars["G1"] = bars["G1"].drop(columns=["funding_is_stale", "taker_is_coarser", "oi_unit"])
    four_hourly = bars["G2"].assign(interval="4h")
    four_hourly["ts"] = pd.date_range("2024-06-01", periods=len(four_hourly), freq="4h", tz="UTC")
    bars["G2"] = four_hourly
    states = {"G3": run_engine(bars["G3"].iloc[:900], params).state}
    idle = golden_bars(5).iloc[:1].assign(is_closed=False)
    states["G5"] = run_engine(golden_bars(5).iloc[:600], params).state
    bars["G5"] = idle
    return bars, states


def test_many_coins_equal_one_run_per_coin() -> None:
    params = EngineParams()
    bars, states = _coins()
    batch = run_engine_many(bars, params, states)
    single = {coin: run_engine(b, params, states.get(coin)) for coin, b in bars.items()}
    pd.testing.assert_frame_equal(
        batch.signals, pd.concat([r.signals for r in single.values()], ignore_index=True)
    )
    pd.testing.assert_frame_equal(
        batch.events, pd.concat([r.events for r in single.values()], ignore_index=True)
    )
    assert batch.states == {coin: r.state for coin, r in single.items()}
    for coin, result in single.items():
        mine = batch.result(coin)
        pd.testing.assert_frame_equal(mine.signals.reset_index(drop=True), result.signals)
        pd.testing.assert_frame_equal(mine.events.reset_index(drop=True), result.events)
        assert mine.state == result.state


def test_many_refuses_bars_of_another_coin() -> None:
    with pytest.raises(ValueError, match="are for 'G0'"):
        run_engine_many({"BTC": golden_bars(0)})
    with pytest.raises(ValueError, match="no closed bars and no state"):
        run_engine_many({"G0": golden_bars(0).iloc[:0]})


@pytest.mark.parametrize("unit", ["us", "ms", "s"])
def test_bar_times_in_another_unit_give_the_same_ids_and_keys(unit: str) -> None:
    """A warehouse driver may hand back microsecond (or coarser) timestamps: episode ids and
    dedup keys name the same UTC times as with nanoseconds."""
    params = EngineParams()
    ns = {"G0": golden_bars(0)}
    other = {"G0": ns["G0"].assign(ts=ns["G0"]["ts"].dt.as_unit(unit))}
    expected, got = run_engine_many(ns, params), run_engine_many(other, params)
    assert len(expected.events) > 0 and expected.events["episode_id"].str.startswith("G0|20").all()
    for column in ("episode_id", "dedup_key"):
        assert got.events[column].tolist() == expected.events[column].tolist()
    assert got.signals["episode_id"].tolist() == expected.signals["episode_id"].tolist()
