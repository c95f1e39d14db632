"""The one time helper: intervals, epoch milliseconds and naive UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from sniper_pipeline.settings.timeutil import (
    bars_per_day,
    interval_delta,
    interval_seconds,
    naive_utc,
    naive_utc_columns,
    naive_utc_stamp,
    naive_utc_times,
)

PLUS2 = timezone(timedelta(hours=2))


def test_intervals_are_durations_and_seconds_are_not_an_interval() -> None:
    assert interval_seconds("4h") == 4 * 3600
    assert interval_delta("1w") == timedelta(days=7)
    assert bars_per_day("4h") == 6
    for bad in ("30s", "", "h", "4x"):
        with pytest.raises(ValueError, match="not a CoinGlass interval"):
            interval_seconds(bad)


def test_aware_times_become_naive_utc_and_naive_ones_are_kept() -> None:
    assert naive_utc(datetime(2025, 5, 20, 2, 0, tzinfo=PLUS2)) == datetime(2025, 5, 20, 0, 0)
    assert naive_utc(datetime(2025, 5, 20, 2, 0)) == datetime(2025, 5, 20, 2, 0)
    assert naive_utc_stamp(datetime(2025, 5, 20, 2, 0, tzinfo=PLUS2)) == pd.Timestamp("2025-05-20 00:00")
    assert naive_utc_stamp("2025-05-20 02:00") == pd.Timestamp("2025-05-20 02:00")


def test_frames_and_columns_of_times_become_naive_utc() -> None:
    frame = pd.DataFrame(
        {"ts": pd.to_datetime(["2025-05-20T02:00+02:00"], utc=True).tz_convert(PLUS2), "x": [1]}
    )
    out = naive_utc_columns(frame)
    assert out["ts"].iloc[0] == pd.Timestamp("2025-05-20 00:00") and out["ts"].dt.tz is None
    assert frame["ts"].dt.tz is not None  # a copy
    times = naive_utc_times(pd.Series([datetime(2025, 5, 20, tzinfo=UTC)]))
    assert times.iloc[0] == pd.Timestamp("2025-05-20") and times.dt.tz is None
