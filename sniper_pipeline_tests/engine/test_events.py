from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sniper_pipeline.engine import dedup_key, episode_id_for, event_layers, run_engine

from .helpers import make_bars, small_params


def _taker_flip_bars() -> tuple[pd.DataFrame, int]:
    """Flat layers; funding + taker up at bar 12, then funding + taker down at bars 13-14.

    The down bars have no liquidations, so the change of side is not confirmed.
    """
    n = 17
    funding, taker = np.ones(n), np.ones(n)
    funding[12:15] = 5.0
    taker[12] = 1.5
    taker[13:15] = 0.5
    return make_bars(n, funding_bps_8h=funding, taker_ratio=taker, liq_total_usd=1.0, oi_roc_pct=1.0), n


def test_anti_flip_records_have_unique_dedup_keys() -> None:
    bars, _ = _taker_flip_bars()
    events = run_engine(bars, small_params()).events
    assert events["event"].tolist() == [
        "open",
        "anti_flip_suppressed",
        "anti_flip_suppressed",
        "escalate",
        "close",
    ]
    assert events["direction"].tolist() == ["up"] * 5  # the episode keeps its side
    assert events["attempted_direction"].tolist()[1:3] == ["down", "down"]
    assert events["dedup_key"].is_unique
    episode = episode_id_for("BTC", bars["ts"][12])
    assert (
        events["dedup_key"].iloc[1]
        == f"BTC|{episode}|anti_flip_suppressed|watch|{bars['ts'][13].isoformat()}"
    )


def test_snapshot_of_a_low_band_taker() -> None:
    bars, _ = _taker_flip_bars()
    events = run_engine(bars, small_params()).events
    suppressed = events.iloc[1]
    assert (suppressed["taker_level"], suppressed["taker_side"]) == (3, "down")
    assert suppressed["taker_threshold"] == 1.0  # p1 of a flat window, the level reached
    layers = event_layers(suppressed)
    assert layers["taker"] == {"value": 0.5, "threshold": 1.0, "level": "extreme", "side": "down"}
    assert set(layers) == {"funding", "taker"}
    closed = events.iloc[-1]
    assert event_layers(closed) == {}
    assert math.isnan(closed["taker_threshold"])


def test_dedup_key_format() -> None:
    assert dedup_key("SOL", "SOL|t0", "open", "watch", "") == "SOL|SOL|t0|open|watch"
    assert dedup_key("SOL", "SOL|t0", "anti_flip_suppressed", "watch", "t1") == (
        "SOL|SOL|t0|anti_flip_suppressed|watch|t1"
    )


def test_frame_keys_match_dedup_key(recordings_dir: object) -> None:
    from pathlib import Path

    from sniper_pipeline.replay.bars import build_bars

    events = run_engine(build_bars(Path(str(recordings_dir)), "XRP")).events
    assert (events["event"] == "anti_flip_suppressed").any()
    for row in events.itertuples():
        bar_iso = row.ts.isoformat() if row.event == "anti_flip_suppressed" else ""
        assert row.dedup_key == dedup_key(row.coin, row.episode_id, row.event, row.tier, bar_iso)
    assert events["dedup_key"].is_unique
