"""The pure paging function of the replay server (v4 limit / start_time / end_time semantics)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sniper_pipeline.replay.paging import MAX_LIMIT, page, row_time, sort_series


def rows_at(*times: Any) -> list[dict[str, Any]]:
    # "i" records the recorded position, to check stability and which duplicate came back
    return [{"time": t, "i": i} for i, t in enumerate(times)]


def times_of(rows: list[dict[str, Any]]) -> list[Any]:
    return [r["time"] for r in rows]


def test_limit_answers_latest_rows_ascending() -> None:
    rows = rows_at(*range(10, 110, 10))
    assert times_of(page(rows, "time", limit=3)) == [80, 90, 100]


def test_default_limit_is_1000_and_larger_limits_are_clamped() -> None:
    rows = rows_at(*range(1500))
    assert times_of(page(rows, "time")) == list(range(500, 1500))
    assert len(page(rows, "time", limit=5000)) == MAX_LIMIT
    assert page(rows, "time", limit=0) == []
    with pytest.raises(ValueError):
        page(rows, "time", limit=-1)


def test_end_time_answers_latest_rows_at_or_before_it() -> None:
    rows = rows_at(*range(10, 110, 10))
    assert times_of(page(rows, "time", end_time=50, limit=2)) == [40, 50]  # on a bar: included
    assert times_of(page(rows, "time", end_time=55, limit=2)) == [40, 50]  # between bars
    assert page(rows, "time", end_time=5) == []


def test_start_time_answers_first_rows_at_or_after_it() -> None:
    rows = rows_at(*range(10, 110, 10))
    assert times_of(page(rows, "time", start_time=30, limit=2)) == [30, 40]
    assert times_of(page(rows, "time", start_time=31, limit=2)) == [40, 50]
    assert times_of(page(rows, "time", start_time=95)) == [100]
    assert page(rows, "time", start_time=101) == []


def test_start_and_end_time_window_takes_limit_from_the_start() -> None:
    rows = rows_at(*range(10, 110, 10))
    assert times_of(page(rows, "time", start_time=30, end_time=70)) == [30, 40, 50, 60, 70]
    assert times_of(page(rows, "time", start_time=30, end_time=70, limit=2)) == [30, 40]
    assert page(rows, "time", start_time=70, end_time=30) == []


def test_duplicates_are_kept_in_recorded_order_and_count_towards_limit() -> None:
    rows = rows_at(10, 20, 20, 30)
    assert [r["i"] for r in page(rows, "time")] == [0, 1, 2, 3]
    assert [r["i"] for r in page(rows, "time", limit=2)] == [2, 3]  # latest 2 rows: 2nd copy of 20, 30
    assert [r["i"] for r in page(rows, "time", start_time=20, limit=2)] == [1, 2]
    assert [r["i"] for r in page(rows, "time", end_time=20, limit=5)] == [0, 1, 2]


def test_unsorted_input_is_served_ascending_and_stable() -> None:
    rows = rows_at(30, 10, 20, 10, 40)
    out = page(rows, "time")
    assert times_of(out) == [10, 10, 20, 30, 40]
    assert [r["i"] for r in out][:2] == [1, 3]  # equal times keep recorded order
    assert times_of(page(rows, "time", limit=2)) == [30, 40]


def test_not_after_hides_later_rows_and_combines_with_end_time() -> None:
    rows = rows_at(*range(10, 110, 10))
    assert times_of(page(rows, "time", not_after=45, limit=2)) == [30, 40]
    assert times_of(page(rows, "time", not_after=50, limit=2)) == [40, 50]
    assert times_of(page(rows, "time", not_after=45, end_time=80, limit=2)) == [30, 40]
    assert times_of(page(rows, "time", not_after=80, end_time=45, limit=2)) == [30, 40]
    assert page(rows, "time", not_after=45, start_time=50) == []


def test_times_as_strings_and_floats_are_ordered_numerically() -> None:
    rows = rows_at("100", 20.0, 3, "1e2", " 40 ")
    assert times_of(page(rows, "time", start_time=20, end_time=40)) == [20.0, " 40 "]
    assert [row_time(r, "time") for r in rows] == [100, 20, 3, 100, 40]


def test_rows_without_usable_time_only_come_with_unbounded_requests() -> None:
    rows = rows_at(10, None, "n/a", 20, True)
    assert times_of(page(rows, "time")) == [None, "n/a", True, 10, 20]
    assert times_of(page(rows, "time", limit=2)) == [10, 20]
    assert times_of(page(rows, "time", limit=3)) == [True, 10, 20]
    assert times_of(page(rows, "time", end_time=100)) == [10, 20]
    series = sort_series(rows, "time")
    assert series.times == (10, 20) and len(series.untimed) == 3


def reference(
    times: list[int], limit: int, start: int | None, end: int | None, not_after: int | None
) -> list[int]:
    """Brute force from the spec, to cross-check the bisect implementation."""
    keep = sorted(
        (t, i)
        for i, t in enumerate(times)
        if (start is None or t >= start)
        and (end is None or t <= end)
        and (not_after is None or t <= not_after)
    )
    chosen = keep[:limit] if start is not None else keep[max(0, len(keep) - limit) :]
    return [i for _, i in chosen]


small = st.integers(min_value=0, max_value=30)


@settings(max_examples=200, deadline=None)
@given(
    times=st.lists(small, max_size=40),
    limit=st.integers(min_value=0, max_value=12),
    start=st.none() | small,
    end=st.none() | small,
    not_after=st.none() | small,
)
def test_matches_brute_force_reference(
    times: list[int], limit: int, start: int | None, end: int | None, not_after: int | None
) -> None:
    got = page(rows_at(*times), "time", limit=limit, start_time=start, end_time=end, not_after=not_after)
    assert [r["i"] for r in got] == reference(times, limit, start, end, not_after)
