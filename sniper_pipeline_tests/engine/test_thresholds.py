from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from sniper_pipeline.engine import rolling_percentiles, window_percentiles
from sniper_pipeline.engine.thresholds import _key_values, _order_keys, rolling_percentile_rows

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


# The tree of grouped windows, the pair/window clip formulas and the int64 keys are only
# used when the windows are long enough (lookback >= 4 x the deepest rank): these cases go
# through them, with every kind of value the keys must order (negatives, -0.0 and 0.0,
# ties, +-inf and NaN as missing) and percentiles whose depth varies with the count.
@pytest.mark.parametrize(
    ("lookback", "min_valid", "percentiles"),
    [
        (100, 80, PERCENTILES),
        (100, 1, (60.0, 75.0, 97.5, 40.0, 20.0, 2.5)),
        (64, 20, (99.9, 0.1, 92.0)),
        (37, 30, (95.0, 5.0)),
        (250, 200, (85.0, 95.0, 99.0)),
    ],
)
@pytest.mark.parametrize("kind", ["lognormal", "signed-with-zeros", "ties", "non-finite"])
def test_tree_path_equals_nanpercentile(
    lookback: int, min_valid: int, percentiles: tuple[float, ...], kind: str
) -> None:
    rng = np.random.default_rng(lookback + len(kind))
    n = 1500
    if kind == "lognormal":
        values = rng.lognormal(size=n) * 1e3
    elif kind == "signed-with-zeros":
        values = rng.standard_normal(n)
        values[rng.random(n) < 0.1] = 0.0
        values[rng.random(n) < 0.1] = -0.0
    elif kind == "ties":
        values = rng.integers(-3, 4, n).astype(float)
    else:
        values = rng.standard_normal(n) * 1e300
        values[rng.random(n) < 0.05] = np.inf
        values[rng.random(n) < 0.05] = -np.inf
    values[rng.random(n) < 0.08] = np.nan
    values[200:260] = np.nan  # a gap longer than lookback - min_valid for some cases
    got = rolling_percentiles(values, lookback, percentiles, min_valid)
    missing = np.where(np.isfinite(values), values, np.nan)  # +-inf count as missing
    np.testing.assert_array_equal(got, _reference(missing, lookback, percentiles, min_valid))


def test_rows_equal_one_series_at_a_time() -> None:
    rng = np.random.default_rng(7)
    values = rng.lognormal(size=(3, 700))
    values[1, rng.random(700) < 0.2] = np.nan
    rows = [HIGH, PERCENTILES, (50.0, 85.0, 15.0)]
    got = rolling_percentile_rows(list(values), 100, rows, 80)
    assert [a.shape for a in got] == [(3, 701), (6, 701), (3, 701)]
    for series, percentiles in enumerate(rows):
        want = rolling_percentiles(values[series], 100, percentiles, 80)
        np.testing.assert_array_equal(got[series].T, want)


@pytest.mark.parametrize(
    ("lookback", "min_valid", "percentiles"),
    [
        (100, 80, PERCENTILES),  # the window tree, cut windows sorted whole
        (100, 5, (50.0, 40.0, 60.0)),  # every window sorted whole
        (30, 3, PERCENTILES),  # short windows: short segments scored too
    ],
)
def test_segments_never_see_each_other(lookback: int, min_valid: int, percentiles: tuple[float, ...]) -> None:
    """Coins laid end to end (`bounds`): each segment's rows equal a run on it alone."""
    rng = np.random.default_rng(8)
    lengths = [700, 90, 1, 450, 20]
    values = rng.lognormal(size=sum(lengths))
    values[rng.random(values.shape[0]) < 0.1] = np.nan
    bounds = np.cumsum([0, *lengths]).tolist()
    (got,) = rolling_percentile_rows([values], lookback, [percentiles], min_valid, bounds)
    assert got.shape == (len(percentiles), values.shape[0] + 1)
    for lo, hi in itertools.pairwise(bounds):
        want = rolling_percentiles(values[lo:hi], lookback, percentiles, min_valid)
        np.testing.assert_array_equal(got[:, lo:hi].T, want[:-1])
    np.testing.assert_array_equal(got[:, -1], want[-1])  # the last segment's snapshot


def test_order_keys_sort_like_the_floats() -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate(
        [rng.standard_normal(500) * 10.0 ** rng.integers(-300, 300, 500), [0.0, -0.0, 5e-324, -5e-324]]
    )
    keys = _order_keys(values)
    order = np.argsort(keys, kind="stable")
    assert (np.diff(values[order]) >= 0).all()
    np.testing.assert_array_equal(_key_values(keys).view(np.int64), values.view(np.int64))


def test_tree_path_with_the_extremes_equals_nanpercentile() -> None:
    """p100 and p0 read one rank (lower = upper): the full windows' plan then gathers its
    pair rows instead of slicing them."""
    rng = np.random.default_rng(5)
    values = rng.standard_normal(900)
    values[rng.random(900) < 0.05] = np.nan
    percentiles = (100.0, 95.0, 0.0, 5.0)
    got = rolling_percentiles(values, 100, percentiles, 80)
    np.testing.assert_array_equal(got, _reference(values, 100, percentiles, 80))
