"""How the report writes numbers, times and ages: one place, so tables and hovers agree."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(float(value))


def fmt_number(value: Any) -> str:
    """Compact number for hover and tables: 4 significant digits, thousands separated."""
    if _is_missing(value):
        return "-"
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        number = float(value)
        return f"{number:,.0f}" if abs(number) >= 1e4 else f"{number:,.4g}"
    return str(value)


def fmt_usd(value: Any) -> str:
    """USD amounts as a desk reads them: 812,345 then 7.77M then 1.23B."""
    if _is_missing(value):
        return "-"
    number = float(value)
    size = abs(number)
    if size >= 1e9:
        return f"{number / 1e9:,.2f}B"
    if size >= 1e6:
        return f"{number / 1e6:,.2f}M"
    return f"{number:,.0f}" if size >= 100 else f"{number:.4g}"


def fmt_value(value: Any, unit: str | None) -> str:
    """A layer reading in its unit (the warehouse's unit names: usd, pct, bps_8h, ratio)."""
    return fmt_usd(value) if unit == "usd" else fmt_number(value)


def fmt_time(value: Any) -> str:
    """A bar time or timestamp, minutes resolution (bars are 1m at the finest), UTC implied."""
    if _is_missing(value):
        return "-"
    if isinstance(value, pd.Timestamp | datetime | np.datetime64 | str):
        return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")
    return str(value)


def fmt_age(delta: pd.Timedelta | None) -> str:
    """An age as "5d 0h" or "3h 20m"; "-" when unknown."""
    if delta is None or pd.isna(delta):
        return "-"
    sign = "-" if delta < pd.Timedelta(0) else ""
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return f"{sign}{days}d {hours}h" if days else f"{sign}{hours}h {mins}m"
