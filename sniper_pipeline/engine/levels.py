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
BoolArray = NDArray[np.bool_]

NONE, WATCH, ACTION, EXTREME = 0, 1, 2, 3
LEVEL_NAMES = ("none", "watch", "action", "extreme")

# Taker side codes; the same codes are used for directions (see confluence.py).
SIDE_UP, SIDE_DOWN, SIDE_NONE = 1, -1, 0
SIDE_BY_CODE = np.array(["down", None, "up"], dtype=object)  # names, index = code + 1


def _level(above_watch: BoolArray, above_action: BoolArray, above_extreme: BoolArray) -> LevelArray:
    """The highest level whose comparison holds (np.select over extreme, action, watch, in
    that order, gives the same: the first true condition is the highest one). int8 maxima of
    the flags are ~3x faster than np.select."""
    level = above_watch.view(np.int8).copy()
    np.maximum(level, above_action.view(np.int8) * np.int8(ACTION), out=level)
    np.maximum(level, above_extreme.view(np.int8) * np.int8(EXTREME), out=level)
    return level


def high_band_level(
    value: FloatArray, p_watch: FloatArray, p_action: FloatArray, p_extreme: FloatArray
) -> LevelArray:
    """Level of a value against the upper thresholds (value > threshold)."""
    return _level(value > p_watch, value > p_action, value > p_extreme)


def low_band_level(
    value: FloatArray, p_watch: FloatArray, p_action: FloatArray, p_extreme: FloatArray
) -> LevelArray:
    """Level of a value against the lower thresholds (value < threshold), e.g. p15/p5/p1."""
    return _level(value < p_watch, value < p_action, value < p_extreme)


def combine_bands(high: LevelArray, low: LevelArray) -> tuple[LevelArray, NDArray[np.int8]]:
    """Taker level = max of both bands, with the side (up for the high band, down for the low).

    Both bands cannot fire on the same bar: a value above p85 is not below p15.
    """
    level = np.maximum(high, low)
    up = high > NONE
    side = up.view(np.int8) - (~up & (low > NONE)).view(np.int8)  # up wins if both fire
    return level, side
