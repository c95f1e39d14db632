"""What time it is for the pipeline, and bar arithmetic on the v4 interval grid.

Live, `now` is the system clock. Against the replay server it is the server's
simulated clock, read from each response's `Date` header (`ServerDateClock`), so
"closed bar" means the same thing to the server and to the client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol, runtime_checkable

from sniper_pipeline.coinglass.errors import InvalidParameterError
from sniper_pipeline.settings.timeutil import INTERVALS, to_utc
from sniper_pipeline.settings.timeutil import interval_seconds as _interval_seconds

_WEEK_OFFSET_S = 4 * 86400


def validate_interval(interval: str, *, endpoint: str | None = None) -> str:
    """Return `interval` if the v4 API knows it, else raise InvalidParameterError listing the valid ones."""
    if interval not in INTERVALS:
        raise InvalidParameterError(
            f"interval {interval!r} is not a v4 interval",
            endpoint=endpoint,
            params={"interval": interval},
            remedy=f"use one of {' '.join(INTERVALS)} (plan floors: Hobbyist >= 4h, Startup >= 30m)",
        )
    return interval


def interval_seconds(interval: str) -> int:
    return _interval_seconds(validate_interval(interval))


def interval_timedelta(interval: str) -> timedelta:
    return timedelta(seconds=interval_seconds(interval))


def floor_to_interval(moment: datetime, interval: str) -> datetime:
    """Open time of the bar containing `moment`: bars align to the epoch, weeks to Monday 00:00 UTC."""
    step = interval_seconds(interval)
    seconds = int(to_utc(moment).timestamp())
    # The epoch fell on a Thursday; exchanges open weekly bars on Mondays (1970-01-05 = epoch + 4 days).
    offset = _WEEK_OFFSET_S if interval.endswith("w") else 0
    return datetime.fromtimestamp(seconds - (seconds - offset) % step, tz=UTC)


def last_closed_bar_open(now: datetime, interval: str) -> datetime:
    """Open time of the latest bar that is closed at `now` (design.md section 3: a bar is closed
    when open + interval <= now)."""
    return floor_to_interval(now, interval) - interval_timedelta(interval)


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, tz-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class FixedClock:
    """A settable clock for tests and for pinned replays."""

    def __init__(self, now: datetime) -> None:
        self._now = to_utc(now)

    def now(self) -> datetime:
        return self._now

    def set(self, now: datetime) -> None:
        self._now = to_utc(now)

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def __repr__(self) -> str:
        return f"FixedClock({self._now.isoformat()})"


class _ServerSyncable(Protocol):
    def sync_clock(self) -> datetime | None: ...


class ServerDateClock:
    """`now` = the last server `Date` header + monotonic time elapsed since that response arrived.

    Before any response was seen it answers the fallback clock (system time); call
    `sync(client)` first when the server's clock differs from the system's, as the
    replay server's simulated `--now` does. The Date header has 1 s resolution, and a
    replay running at `--speed` other than 1 drifts between responses; every response
    re-anchors the clock.
    """

    def __init__(
        self, fallback: Clock | None = None, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._fallback: Clock = fallback or SystemClock()
        self._monotonic = monotonic
        self._anchor: tuple[datetime, float] | None = None
        self._lock = threading.Lock()

    @property
    def synced(self) -> bool:
        return self._anchor is not None

    def observe_date(self, header: str | None) -> bool:
        """Re-anchor on an HTTP `Date` header; False (old anchor kept) when it does not parse."""
        if not header:
            return False
        try:
            server_now = parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            return False
        with self._lock:
            self._anchor = (to_utc(server_now), self._monotonic())
        return True

    def now(self) -> datetime:
        with self._lock:
            anchor = self._anchor
        if anchor is None:
            return self._fallback.now()
        server_now, seen_at = anchor
        return server_now + timedelta(seconds=max(0.0, self._monotonic() - seen_at))

    def sync(self, client: _ServerSyncable) -> datetime:
        """Make one cheap request through `client` so the next `now()` is the server's."""
        client.sync_clock()
        return self.now()

    def __repr__(self) -> str:
        state = "synced" if self._anchor else "unsynced"
        return f"ServerDateClock({state})"
