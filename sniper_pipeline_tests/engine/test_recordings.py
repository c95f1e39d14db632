"""The engine on the real recordings (4h, Nov 2024 - May 2025) under the default parameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sniper_pipeline.engine import config_sanity, percentile_config, run_engine
from sniper_pipeline.replay.bars import RECORDED_COINS, build_bars


@pytest.mark.parametrize("coin", RECORDED_COINS)
def test_largest_liquidation_bar_reaches_at_least_watch(recordings_dir: Path, coin: str) -> None:
    bars = build_bars(recordings_dir, coin)
    result = run_engine(bars)
    biggest = int(np.nanargmax(bars["liq_total_usd"].to_numpy()))
    row = result.signals.iloc[biggest]
    assert row["liq_level"] == 3, row[["ts", "liq_total_usd", "liq_total_p99_usd"]].to_dict()
    assert row["tier"] in ("watch", "action"), row[
        ["ts", "funding_level", "oi_level", "taker_level"]
    ].to_dict()
    assert row["episode_id"] is not None


def test_recorded_configs_are_sane(recordings_dir: Path) -> None:
    rows = percentile_config(build_bars(recordings_dir, "BTC"))
    assert config_sanity(rows) == []
    funding = next(row for row in rows if row["metric"] == "funding_abs_bps_8h")
    assert 0 < funding["p_watch"] <= funding["p_action"] <= funding["p_extreme"] < 500


def test_sanity_flags_a_taker_series_that_stopped_early(recordings_dir: Path) -> None:
    # ETH's pair taker recording ends 2025-05-15, five days (30 bars) before the other layers.
    problems = config_sanity(percentile_config(build_bars(recordings_dir, "ETH", pair_taker_fallback=True)))
    assert problems
    assert all("taker_ratio" in problem for problem in problems)
    assert any("only 70 bars" in problem for problem in problems)
