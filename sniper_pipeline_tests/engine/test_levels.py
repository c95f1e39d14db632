from __future__ import annotations

import numpy as np
import pytest

from sniper_pipeline.engine import combine_bands, high_band_level, low_band_level

NAN = float("nan")
WATCH, ACTION, EXTREME = 8.65, 9.55, 9.91  # p85/p95/p99 of 1..10


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, 0),
        (8.65, 0),  # equal is not above: comparisons are strict
        (8.66, 1),
        (9.55, 1),
        (9.56, 2),
        (9.91, 2),
        (9.92, 3),
        (1e9, 3),
        (NAN, 0),  # missing or stale: not triggered, never a zero reading
    ],
)
def test_high_band(value: float, expected: int) -> None:
    level = high_band_level(np.array([value]), np.array([WATCH]), np.array([ACTION]), np.array([EXTREME]))
    assert level.tolist() == [expected]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, 0),
        (0.90, 0),  # equal to p15: not below
        (0.89, 1),
        (0.85, 1),
        (0.84, 2),
        (0.80, 2),
        (0.79, 3),
        (NAN, 0),
    ],
)
def test_low_band_mirrors_with_strict_less_than(value: float, expected: int) -> None:
    level = low_band_level(np.array([value]), np.array([0.90]), np.array([0.85]), np.array([0.80]))
    assert level.tolist() == [expected]


def test_missing_thresholds_mean_level_zero() -> None:
    level = high_band_level(np.array([1e12]), np.array([NAN]), np.array([NAN]), np.array([NAN]))
    assert level.tolist() == [0]


def test_taker_combines_bands_with_side() -> None:
    high = np.array([0, 2, 0, 3], dtype=np.int8)
    low = np.array([0, 0, 1, 0], dtype=np.int8)
    level, side = combine_bands(high, low)
    assert level.tolist() == [0, 2, 1, 3]
    assert side.tolist() == [0, 1, -1, 1]  # 1 up (high band), -1 down (low band), 0 none
