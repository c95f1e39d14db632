"""Per-layer levels: 0 none, 1 watch, 2 action, 3 extreme.

Comparisons are strict (design.md section 4): many funding series sit exactly on 1 bp, and
`>=` would put a quarter or more of all bars at watch. A NaN value or NaN threshold compares
False, so a missing or stale layer is level 0, never a zero reading.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
LevelArray = NDArray[np.int8]

NONE, WATCH, ACTION, EXTREME = 0, 1, 2, 3
LEVEL_NAMES = ("none", "watch", "action", "extreme")

# Taker side codes; the same codes are used for directions (see confluence.py).
SIDE_UP, SIDE_DOWN, SIDE_NONE = 1, -1, 0
SIDE_BY_CODE = np.array(["down", None, "up"], dtype=object)  # names, index = code + 1


def high_band_level(
    value: FloatArray, p_watch: FloatArray, p_action: FloatArray, p_extreme: FloatArray
) -> LevelArray:
    """Level of a value against the upper thresholds (value > threshold)."""
    level = np.select([value > p_extreme, value > p_action, value > p_watch], [EXTREME, ACTION, WATCH], NONE)
    return level.astype(np.int8)


def low_band_level(
    value: FloatArray, p_watch: FloatArray, p_action: FloatArray, p_extreme: FloatArray
) -> LevelArray:
    """Level of a value against the lower thresholds (value < threshold), e.g. p15/p5/p1."""
    level = np.select([value < p_extreme, value < p_action, value < p_watch], [EXTREME, ACTION, WATCH], NONE)
    return level.astype(np.int8)


def combine_bands(high: LevelArray, low: LevelArray) -> tuple[LevelArray, NDArray[np.int8]]:
    """Taker level = max of both bands, with the side (up for the high band, down for the low).

    Both bands cannot fire on the same bar: a value above p85 is not below p15.
    """
    level = np.maximum(high, low)
    side = np.where(high > NONE, SIDE_UP, np.where(low > NONE, SIDE_DOWN, SIDE_NONE)).astype(np.int8)
    return level, side
