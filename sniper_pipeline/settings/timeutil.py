"""Time in one place: CoinGlass interval strings ("4h") as durations, epoch milliseconds, and
naive UTC (how the warehouse stores every time). Stdlib only at import; the pandas helpers import
pandas when called, so the replay server stays light."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

INTERVALS: tuple[str, ...] = ("1m", "3m", "5m", "15m", "30m", "1h", "4h", "6h", "8h", "12h", "1d", "1w")
# Duration letters: intervals use m/h/d/w; durations (`sniper mute --for 90s`) also s.
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_INTERVAL_UNIT_SECONDS = {unit: UNIT_SECONDS[unit] for unit in "mhdw"}  # no seconds interval


# -- intervals ----------------------------------------------------------------------------------


def interval_seconds(interval: str) -> int:
    try:
        return int(interval[:-1]) * _INTERVAL_UNIT_SECONDS[interval[-1]]
    except (KeyError, ValueError, IndexError):
        raise ValueError(f"not a CoinGlass interval: {interval!r} (one of {' '.join(INTERVALS)})") from None


def interval_delta(interval: str) -> timedelta:
    return timedelta(seconds=interval_seconds(interval))


def bars_per_day(interval: str) -> float:
    return 86400 / interval_seconds(interval)


# -- aware UTC and epoch milliseconds -------------------------------------------------------------


def to_utc(value: datetime) -> datetime:
    """A tz-aware UTC datetime; naive input is taken as UTC (the API and the warehouse speak UTC only)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_epoch_ms(value: datetime | int) -> int:
    if isinstance(value, datetime):
        return int(to_utc(value).timestamp() * 1000)
    return int(value)


def from_epoch_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# -- naive UTC (the warehouse's times) ------------------------------------------------------------


def naive_utc(value: datetime) -> datetime:
    """Times are naive UTC everywhere in the warehouse; an aware value is converted first."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def utc_now_naive() -> datetime:
    """Now, as the warehouse stores it."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc_stamp(moment: Any) -> pd.Timestamp:
    """A pandas Timestamp in naive UTC; a naive input is taken as UTC already."""
    import pandas as pd

    stamp = pd.Timestamp(moment)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def naive_utc_times(values: Any) -> pd.Series:
    """A column of times (epoch-aware, ISO strings, datetimes) as naive UTC."""
    import pandas as pd

    return pd.to_datetime(values, utc=True).dt.tz_localize(None)


def naive_utc_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose tz-aware datetime columns are naive UTC."""
    import pandas as pd

    out = frame.copy()
    for name in out.columns:
        if isinstance(out[name].dtype, pd.DatetimeTZDtype):
            out[name] = out[name].dt.tz_convert("UTC").dt.tz_localize(None)
    return out
