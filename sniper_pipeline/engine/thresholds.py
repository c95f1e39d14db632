"""Rolling point-in-time percentiles over sorted sliding windows.

For bar t the window is the `lookback` bars before t (t excluded). Results match
`np.nanpercentile(window, q)` (numpy's default "linear" method) bit for bit: the same
virtual index `(n - 1) * q / 100` and the same two-sided interpolation as numpy's `_lerp`.

Speed: every value is replaced by its rank in the whole series (int32: row sorts of int32
are about 2.5x faster than of float64), the needed order statistics of each window are
found among ranks and mapped back to values. NaN (and +-inf, treated as missing) never
count. When all the percentiles sit at one end (p85/p95/p99), only the top of each window
is selected (`_rolling_top`, ~1.8x faster); otherwise whole windows are sorted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
ArrayLikeFloat = NDArray[np.floating] | Sequence[float]


def _interpolation_points(
    counts: NDArray[np.int64], percentiles: Sequence[float]
) -> tuple[IntArray, IntArray, FloatArray]:
    """Lower and upper order-statistic indexes and the weight, shape (rows, percentiles),
    as numpy computes them. Rows with no valid value get index 0 (the caller masks them)."""
    q = np.true_divide(np.asarray(percentiles, dtype=np.float64), 100)
    c = counts[:, None]
    virtual = (c - 1) * q[None, :]
    lower = np.floor(virtual)
    # numpy points both neighbours at the last element when the index reaches the end.
    last = np.broadcast_to(c - 1, virtual.shape).astype(np.float64)
    above = virtual >= last
    upper = np.where(above, last, lower + 1)
    lower = np.where(above, last, lower)
    gamma = np.asarray(virtual - lower, dtype=np.float64)
    lower_i = np.maximum(lower, 0).astype(np.intp)
    upper_i = np.maximum(upper, 0).astype(np.intp)
    return lower_i, upper_i, gamma


def _per_row(table: NDArray[Any], counts: NDArray[np.int64], full: int) -> NDArray[Any]:
    """table[counts] by rows; most windows are full, so copy that row and patch the rest."""
    out = np.repeat(table[full][None, :], counts.shape[0], axis=0)
    partial = np.flatnonzero(counts != full)
    out[partial] = table[counts[partial]]
    return out


def _lerp(a: FloatArray, b: FloatArray, t: FloatArray) -> FloatArray:
    """numpy's `_lerp`: interpolate from the nearer end, so t=1 gives exactly b."""
    diff = b - a
    return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


def _rolling_top(keys: NDArray[np.int32], lookback: int, k: int) -> NDArray[np.int32]:
    """Rows t = 0..n whose LAST k columns are the k largest keys of the window
    keys[t-lookback:t], sorted ascending; -1 (below every key) fills short windows.

    Windows are handled in batches of b consecutive ones: all windows of a batch share a
    core of lookback - b + 1 positions, and each adds b - 1 positions of its own (a sliding
    window over 2(b - 1) positions). The window's top k is among the core's top k and those
    b - 1 extras, so a row sort of k + b - 1 candidates replaces one of `lookback` values.
    Requires 1 <= k < lookback / 2.
    """
    n = keys.shape[0]
    b = max(2, k)
    batches = -(-(n + 1) // b)
    padded = np.concatenate([np.full(lookback, -1, np.int32), keys, np.full(b + 1, -1, np.int32)])
    # Batch j holds windows t = j*b + r (r < b); padded position p is series position p - lookback.
    cores = sliding_window_view(padded, lookback - b + 1)[b - 1 :: b][:batches]
    core_top = np.sort(cores, axis=1)[:, -k:]
    halves = sliding_window_view(padded, b - 1)
    extras_source = np.concatenate([halves[::b][:batches], halves[lookback::b][:batches]], axis=1)
    extras = sliding_window_view(extras_source, b - 1, axis=1)  # (batches, b, b - 1)
    candidates = np.concatenate([np.broadcast_to(core_top[:, None, :], (batches, b, k)), extras], axis=2)
    candidates = candidates.reshape(batches * b, k + b - 1)[: n + 1]
    candidates.sort(axis=1)  # in place: np.sort would copy first; the last k columns are the top k
    return candidates


def rolling_percentiles(
    values: ArrayLikeFloat,
    lookback: int,
    percentiles: Sequence[float],
    min_valid: int,
) -> FloatArray:
    """Percentiles of the `lookback` values before each position, NaN ignored.

    Returns an array of shape (n + 1, len(percentiles)): row t (t < n) uses values[t-lookback:t]
    (fewer at the start), so it is the threshold for bar t; row n uses the last `lookback`
    values, i.e. the snapshot for the next bar. A row with fewer than `min_valid` valid values
    is NaN.
    """
    x = np.asarray(values, dtype=np.float64)
    n = x.shape[0]
    min_count = max(min_valid, 1)
    valid = np.isfinite(x)
    x = np.where(valid, x, np.nan)
    order = np.argsort(x)  # NaN last; the order among ties is irrelevant
    rank = np.empty(n, dtype=np.int32)
    rank[order] = np.arange(n, dtype=np.int32)
    by_rank = np.append(x[order], np.nan)  # by_rank[-1] and by_rank[n]: NaN

    cum = np.concatenate([[0], np.cumsum(valid, dtype=np.int64)])
    ends = np.arange(n + 1)
    counts = cum[ends] - cum[np.maximum(ends - lookback, 0)]
    # Interpolation points depend on the window's valid count only: one table row per count.
    lower, upper, gamma = _interpolation_points(np.arange(lookback + 1, dtype=np.int64), percentiles)
    sizes = np.arange(lookback + 1)[:, None]
    scored = slice(min(min_count, lookback + 1), None)
    # How deep into each end of a window the order statistics reach (over scored counts).
    from_top = int((sizes - lower)[scored].max(initial=0)) if min(percentiles, default=0) >= 50 else lookback
    from_bottom = int((upper + 1)[scored].max(initial=0)) if max(percentiles, default=100) < 50 else lookback
    depth = min(from_top, from_bottom)

    lower_at, upper_at = _per_row(lower, counts, lookback), _per_row(upper, counts, lookback)
    if depth > 0 and 2 * depth < lookback:
        # Only one end of each window matters: select its top `depth` (ranks for a high
        # band, reversed ranks for a low band) instead of sorting whole windows.
        high_side = from_top <= from_bottom
        keys = np.where(valid, rank if high_side else n - 1 - rank, -1).astype(np.int32)
        top = _rolling_top(keys, lookback, depth)
        width = top.shape[1]
        # p-th smallest valid value = (c-1-p)-th largest: top column width-c+p (high side);
        # for the low side, p-th smallest = p-th largest reversed rank: column width-1-p.
        if high_side:
            first = (ends * width + width)[:, None] - counts[:, None]
            lo_pos, hi_pos = first + lower_at, first + upper_at
        else:
            first = (ends * width + width - 1)[:, None]
            lo_pos, hi_pos = first - lower_at, first - upper_at
        # Rows below min_count may point outside their row: clip, they are masked below.
        flat = top.ravel()
        lo_key = flat[np.clip(lo_pos, 0, flat.size - 1)]
        hi_key = flat[np.clip(hi_pos, 0, flat.size - 1)]
        if not high_side:  # back to ranks; the -1 filler becomes n (NaN)
            lo_key, hi_key = n - 1 - lo_key, n - 1 - hi_key
        a, b = by_rank[lo_key], by_rank[hi_key]
    else:
        rank[~valid] = n  # sentinel after every valid rank: a sorted window starts with its values
        padded = np.concatenate([np.full(lookback, n, dtype=np.int32), rank])
        flat = np.sort(sliding_window_view(padded, lookback), axis=1).ravel()
        row_start = (ends * lookback)[:, None]
        a = by_rank[flat[row_start + lower_at]]
        b = by_rank[flat[row_start + upper_at]]
    out = _lerp(a, b, _per_row(gamma, counts, lookback))
    out[counts < min_count] = np.nan
    return out


def window_percentiles(values: ArrayLikeFloat, percentiles: Sequence[float], min_valid: int) -> FloatArray:
    """Percentiles of one window (NaN ignored), NaN when it has fewer than `min_valid` values."""
    x = np.asarray(values, dtype=np.float64)
    x = np.sort(x[np.isfinite(x)])
    if x.size < max(min_valid, 1):
        return np.full(len(percentiles), np.nan)
    lower, upper, gamma = _interpolation_points(np.array([x.size], dtype=np.int64), percentiles)
    return _lerp(x[lower[0]], x[upper[0]], gamma[0])
