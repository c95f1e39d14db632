from __future__ import annotations

import warnings

import numpy as np
import pytest

from sniper_pipeline.engine import rolling_percentiles, window_percentiles

PERCENTILES = (85.0, 95.0, 99.0, 15.0, 5.0, 1.0)
HIGH, LOW = (85.0, 95.0, 99.0), (15.0, 5.0, 1.0)


def _reference(
    values: np.ndarray, lookback: int, percentiles: tuple[float, ...], min_valid: int
) -> np.ndarray:
    """np.nanpercentile on each window before t (and on the last window for row n)."""
    out = np.full((len(values) + 1, len(percentiles)), np.nan)
    for t in range(len(values) + 1):
        window = values[max(0, t - lookback) : t]
        if np.isfinite(window).sum() >= max(min_valid, 1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out[t] = np.nanpercentile(window, percentiles)
    return out


@pytest.mark.parametrize("percentiles", [PERCENTILES, HIGH, LOW], ids=["both-ends", "high", "low"])
@pytest.mark.parametrize(
    ("n", "lookback", "min_valid", "nan_share", "ties"),
    [
        (300, 100, 80, 0.0, False),
        (300, 100, 80, 0.1, False),
        (250, 100, 100, 0.0, True),
        (400, 100, 20, 0.4, False),
        (120, 10, 1, 0.3, True),
        (60, 7, 3, 0.5, False),
        (5, 10, 1, 0.0, False),
        (1, 3, 1, 0.0, False),
    ],
)
def test_equals_nanpercentile_on_every_window(
    n: int, lookback: int, min_valid: int, nan_share: float, ties: bool, percentiles: tuple[float, ...]
) -> None:
    # One end only (high or low band) takes the top-k selection path, both ends a full sort.
    rng = np.random.default_rng(n + lookback)
    values = rng.lognormal(size=n) * 1e6
    if ties:
        values = np.round(values / 1e6, 1)  # many equal values, like funding on 1 bp
    values[rng.random(n) < nan_share] = np.nan
    got = rolling_percentiles(values, lookback, percentiles, min_valid)
    np.testing.assert_array_equal(got, _reference(values, lookback, percentiles, min_valid))


def test_bar_t_is_excluded_from_its_own_window() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    got = rolling_percentiles(values, 4, (50.0,), 1)
    # Row 4 (the 100 bar) sees 1..4 only: median 2.5. Row 5 is the snapshot including it.
    assert got[4, 0] == 2.5
    assert got[5, 0] == np.median([2.0, 3.0, 4.0, 100.0])
    assert np.isnan(got[0, 0])  # nothing before the first bar


def test_short_history_gives_no_threshold() -> None:
    values = np.arange(20, dtype=float)
    values[12] = np.nan
    got = rolling_percentiles(values, 10, (85.0,), 10)
    assert np.isnan(got[:10, 0]).all()  # fewer than 10 values before bar 10
    assert np.isfinite(got[10:13, 0]).all()
    assert np.isnan(got[13:23, 0]).all()  # the NaN at 12 leaves 9 valid values in these windows


def test_infinite_values_count_as_missing() -> None:
    values = np.array([1.0, np.inf, 2.0, -np.inf, 3.0])
    got = rolling_percentiles(values, 5, (50.0,), 1)
    assert got[5, 0] == 2.0


def test_window_percentiles_matches_numpy_and_guards_history() -> None:
    values = np.array([3.0, np.nan, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    np.testing.assert_array_equal(
        window_percentiles(values, (85.0, 15.0), 1), np.nanpercentile(values, (85.0, 15.0))
    )
    assert np.isnan(window_percentiles(values, (85.0,), 9)).all()
