"""CoinGlass interval strings ("4h") as durations: the one place that knows the unit letters."""

from __future__ import annotations

from datetime import timedelta

INTERVALS: tuple[str, ...] = ("1m", "3m", "5m", "15m", "30m", "1h", "4h", "6h", "8h", "12h", "1d", "1w")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def interval_seconds(interval: str) -> int:
    try:
        return int(interval[:-1]) * _UNIT_SECONDS[interval[-1]]
    except (KeyError, ValueError, IndexError):
        raise ValueError(f"not a CoinGlass interval: {interval!r} (one of {' '.join(INTERVALS)})") from None


def interval_delta(interval: str) -> timedelta:
    return timedelta(seconds=interval_seconds(interval))


def bars_per_day(interval: str) -> float:
    return 86400 / interval_seconds(interval)
