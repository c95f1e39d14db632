"""The closed bars of one or more coins as one set of columns, coin after coin.

Built once per run from the coins' frames: every later step works on these arrays (one
numpy call for all coins, one DataFrame per output) instead of once per coin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .columns import FLAG_COLUMNS, FLOAT_VALUE_COLUMNS
from .metrics import float_column
from .segments import Segments

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class BarColumns:
    coins: tuple[str, ...]
    intervals: tuple[str, ...]
    segments: Segments  # coin k's bars
    ts: pd.DatetimeIndex  # UTC bar open times, in ns
    floats: dict[str, FloatArray]  # FLOAT_VALUE_COLUMNS, all-NaN when absent; our own copies
    oi_unit: NDArray[np.object_] | None  # None when no coin has the column
    flags: dict[str, pd.arrays.BooleanArray]  # FLAG_COLUMNS, NA when absent


def _utc_times(frames: Sequence[pd.DataFrame]) -> pd.DatetimeIndex:
    # Tz-aware columns hold UTC ticks: read as they are (no index per coin), else converted.
    parts = [
        frame["ts"].array
        if isinstance(frame["ts"].dtype, pd.DatetimeTZDtype)
        else pd.DatetimeIndex(frame["ts"])
        for frame in frames
    ]
    # Always nanoseconds: episode ids and dedup keys are formatted from ns ticks, and a driver
    # may hand back microseconds.
    if len(parts) == 1:
        return pd.DatetimeIndex(parts[0]).tz_convert("UTC").as_unit("ns")
    ticks = np.concatenate([part.as_unit("ns").asi8 for part in parts])
    return pd.DatetimeIndex(ticks.view("M8[ns]")).tz_localize("UTC")


def _object_column(frames: Sequence[pd.DataFrame], name: str) -> NDArray[np.object_] | None:
    if not any(name in frame.columns for frame in frames):
        return None
    return np.concatenate(
        [
            frame[name].to_numpy(dtype=object) if name in frame.columns else np.full(len(frame), None)
            for frame in frames
        ]
    )


def _flag_column(frames: Sequence[pd.DataFrame], name: str) -> pd.arrays.BooleanArray:
    """A stale/coarser flag as nullable boolean; unknown (NA) where a coin lacks it."""
    if not any(name in frame.columns for frame in frames):
        total = sum(len(frame) for frame in frames)
        return pd.arrays.BooleanArray(np.zeros(total, dtype=bool), np.ones(total, dtype=bool))
    values, masks = [], []
    for frame in frames:
        if name in frame.columns:
            flags = pd.array(frame[name], dtype="boolean")
            values.append(flags.to_numpy(dtype=bool, na_value=False))
            masks.append(np.asarray(flags.isna()))
        else:
            values.append(np.zeros(len(frame), dtype=bool))
            masks.append(np.ones(len(frame), dtype=bool))
    return pd.arrays.BooleanArray(np.concatenate(values), np.concatenate(masks))


def bar_columns(frames: Sequence[pd.DataFrame], coins: Sequence[str], intervals: Sequence[str]) -> BarColumns:
    """`frames`: each coin's closed bars in time order (`bars.closed_bars`), none empty."""
    return BarColumns(
        coins=tuple(coins),
        intervals=tuple(intervals),
        segments=Segments.of([len(frame) for frame in frames]),
        ts=_utc_times(frames),
        # np.concatenate copies, also of one frame: the signals never hold the caller's data.
        floats={
            name: np.concatenate([float_column(f, name) for f in frames]) for name in FLOAT_VALUE_COLUMNS
        },
        oi_unit=_object_column(frames, "oi_unit"),
        flags={name: _flag_column(frames, name) for name in FLAG_COLUMNS},
    )
