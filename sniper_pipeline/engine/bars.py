"""Input preparation: the closed bars of one coin, in time order."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray


def closed_bars(bars: pd.DataFrame) -> pd.DataFrame:
    """Closed bars only (open bars are never scored), ascending by `ts`.

    The engine works on positions, so the index is left as it is; the frame is returned
    untouched (no copy) when every bar is closed and in order.
    """
    frame = bars
    if "is_closed" in frame.columns:
        flags = frame["is_closed"]
        closed = (
            flags.to_numpy()
            if flags.dtype == bool
            else flags.astype("boolean").fillna(False).to_numpy(dtype=bool)
        )
        if not closed.all():
            frame = frame[closed]
    ns = _epoch_ticks(frame["ts"])
    steps = np.diff(ns)
    if (steps < 0).any():
        order = np.argsort(ns, kind="stable")
        frame = frame.iloc[order]
        steps = np.diff(ns[order])
    if (steps == 0).any():
        raise ValueError("bars.ts has duplicate bar times")
    return frame


def _epoch_ticks(ts: pd.Series) -> NDArray[np.int64]:
    """Epoch ticks (in the column's unit) of tz-aware times; raises on naive ones."""
    if isinstance(ts.dtype, pd.DatetimeTZDtype):  # the usual column: no index built
        return np.asarray(ts.array.asi8)
    index = pd.DatetimeIndex(ts)
    if index.tz is None:
        raise ValueError("bars.ts must be tz-aware (UTC bar open times)")
    return np.asarray(index.asi8)
