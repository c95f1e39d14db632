"""CoinGlass interval strings ("4h") as durations, and bar arithmetic on them."""

from __future__ import annotations

from datetime import datetime, timedelta

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def interval_seconds(interval: str) -> int:
    try:
        return int(interval[:-1]) * _UNITS[interval[-1]]
    except (KeyError, ValueError, IndexError):
        raise ValueError(f"not a CoinGlass interval: {interval!r} (expected e.g. 1h, 4h, 1d)") from None


def interval_delta(interval: str) -> timedelta:
    return timedelta(seconds=interval_seconds(interval))


def bars_per_day(interval: str) -> float:
    return 86400 / interval_seconds(interval)


def last_closed_open(now: datetime, interval: str) -> datetime:
    """Open time of the latest bar that has closed at `now` (bars are aligned to the epoch)."""
    step = interval_seconds(interval)
    epoch = int(now.timestamp())
    return datetime.fromtimestamp((epoch // step - 1) * step, tz=now.tzinfo)
