"""Input preparation: the closed bars of one coin, in time order."""

from __future__ import annotations

import numpy as np
import pandas as pd


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
    ts = pd.DatetimeIndex(frame["ts"])
    if ts.tz is None:
        raise ValueError("bars.ts must be tz-aware (UTC bar open times)")
    ns = ts.asi8
    steps = np.diff(ns)
    if (steps < 0).any():
        order = np.argsort(ns, kind="stable")
        frame = frame.iloc[order]
        steps = np.diff(ns[order])
    if (steps == 0).any():
        raise ValueError("bars.ts has duplicate bar times")
    return frame
