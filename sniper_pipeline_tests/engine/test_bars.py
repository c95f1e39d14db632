from __future__ import annotations

import pandas as pd
import pytest

from sniper_pipeline.engine import closed_bars

from .helpers import make_bars


def test_open_bars_are_dropped_and_order_restored() -> None:
    bars = make_bars(5, funding_bps_8h=[1.0, 2.0, 3.0, 4.0, 5.0])
    bars.loc[4, "is_closed"] = False
    got = closed_bars(bars.iloc[[3, 0, 2, 1, 4]])
    assert got["funding_bps_8h"].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_nullable_closed_flag_treats_unknown_as_open() -> None:
    bars = make_bars(3)
    bars["is_closed"] = pd.array([True, None, True], dtype="boolean")
    assert len(closed_bars(bars)) == 2


def test_all_closed_and_sorted_is_returned_as_is() -> None:
    bars = make_bars(4)
    assert closed_bars(bars) is bars


def test_duplicates_and_naive_times_are_refused() -> None:
    bars = make_bars(3)
    with pytest.raises(ValueError, match="duplicate"):
        closed_bars(pd.concat([bars, bars.iloc[[1]]]))
    with pytest.raises(ValueError, match="tz-aware"):
        closed_bars(bars.assign(ts=bars["ts"].dt.tz_localize(None)))
