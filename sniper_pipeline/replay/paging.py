"""Pure paging over recorded time series (CoinGlass v4 semantics).

``limit=L`` answers the latest L rows, ascending; with ``end_time=T`` the latest L
rows at or before T; with ``start_time=S`` the first L rows at or after S (and not
after T when ``end_time`` is also given). ``not_after`` is the replay clock: rows
whose time is later are hidden as if they did not exist yet.

Rows keep their recorded objects and duplicates; sorting is stable, so rows with
equal times stay in recorded order.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_LIMIT = 1000
DEFAULT_LIMIT = 1000


def row_time(row: Any, time_field: str) -> int | None:
    """Epoch-ms time of a row, or None when the row has no usable time.

    Accepts ints, integral floats and numeric strings because recorded payloads mix them.
    """
    if not isinstance(row, dict):
        return None
    value = row.get(time_field)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
        try:
            as_float = float(value)
        except ValueError:
            return None
        return int(as_float) if math.isfinite(as_float) else None
    return None


@dataclass(frozen=True)
class SortedSeries:
    """Rows sorted once by time, ready for repeated paging.

    ``untimed`` holds rows without a usable time: they are served, first, only by a
    request with no time bound at all (no start/end time and no replay clock), since
    no time window can be said to contain them.
    """

    rows: tuple[Any, ...]
    times: tuple[int, ...]
    untimed: tuple[Any, ...] = ()


def sort_series(rows: Sequence[Any], time_field: str) -> SortedSeries:
    timed: list[tuple[int, Any]] = []
    untimed: list[Any] = []
    for row in rows:
        t = row_time(row, time_field)
        if t is None:
            untimed.append(row)
        else:
            timed.append((t, row))
    timed.sort(key=lambda pair: pair[0])  # list.sort is stable: equal times keep recorded order
    return SortedSeries(
        rows=tuple(r for _, r in timed), times=tuple(t for t, _ in timed), untimed=tuple(untimed)
    )


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    return min(limit, MAX_LIMIT)


def page_sorted(
    series: SortedSeries,
    *,
    limit: int | None = None,
    start_time: int | None = None,
    end_time: int | None = None,
    not_after: int | None = None,
) -> list[Any]:
    """Select the rows of a pre-sorted series for one request."""
    n = clamp_limit(limit)
    upper = end_time
    if not_after is not None:
        upper = not_after if upper is None else min(upper, not_after)
    lo = 0 if start_time is None else bisect_left(series.times, start_time)
    hi = len(series.times) if upper is None else bisect_right(series.times, upper)
    if hi <= lo or n == 0:
        window: list[Any] = []
    elif start_time is not None:
        window = list(series.rows[lo : min(hi, lo + n)])
    else:
        window = list(series.rows[max(lo, hi - n) : hi])
    if start_time is None and upper is None and series.untimed:
        # Untimed rows sort before every timed row; only a request long enough reaches them.
        room = n - len(window)
        if room > 0:
            window = list(series.untimed[-room:]) + window
    return window


def page(
    rows: Sequence[Any],
    time_field: str,
    *,
    limit: int | None = None,
    start_time: int | None = None,
    end_time: int | None = None,
    not_after: int | None = None,
) -> list[Any]:
    """Convenience: sort ``rows`` by ``time_field`` then page them (see module doc)."""
    return page_sorted(
        sort_series(rows, time_field),
        limit=limit,
        start_time=start_time,
        end_time=end_time,
        not_after=not_after,
    )
