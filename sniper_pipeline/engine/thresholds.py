"""Rolling point-in-time percentiles: exact order statistics of sliding windows.

For bar t the window is the `lookback` bars before t (t excluded). Results match
`np.nanpercentile(window, q)` (numpy's default "linear" method) bit for bit: the same
virtual index `(n - 1) * q / 100` and the same two-sided interpolation as numpy's `_lerp`.
NaN (and +-inf, treated as missing) never count.

How, in numpy without a loop per window (the engine asks for ~44k windows per coin):
- A percentile from 50 up only needs the top of a window (p85 of 100 values: the 16 largest),
  one below 50 the bottom, i.e. the top of the negated values (a "side"). Missing values
  become -inf, below everything, so the (j+1)-th largest of a window is its (j+1)-th largest
  valid value as long as j is below its count of valid values.
- Windows are grouped (`_quad_tops`): the windows of a group share a core, whose largest
  values are sorted once and refined level by level down to groups of 4 windows (row sorts
  of `depth` + a few values), never a sort of a whole window. Values are sorted as int64 keys
  of the same order (`_order_keys`): numpy sorts short int64 rows about twice as fast as
  float64 ones.
- A group of 4 is 2 pairs of windows: each pair shares the quad core plus 2 values, each
  window is its pair's core plus 1 value, and the (j+1)-th largest of a sorted list plus one
  value x is clip(x, list[j], list[j-1]). So full windows (the usual case) take a few
  vectorised min/max (`_full_windows`), every window computed as if full. Windows with
  fewer valid values (series and segment starts, missing data; a few hundred) are then
  overwritten: each is sorted whole, all segments' at once (`_ranked_percentiles`).
- The tree runs one series, side and segment (coin) at a time: the working arrays (~1 MB)
  stay in the CPU cache, and freed memory is reused rather than handed back to the OS and
  faulted in again.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
KeyArray = NDArray[np.int64]
ArrayLikeFloat = NDArray[np.floating] | Sequence[float]
Rows = IntArray | slice  # rows to index an axis with

_LOW_BITS = np.int64(0x7FFF_FFFF_FFFF_FFFF)
# Group sizes of the window tree, largest first, down to quads (measured fastest for
# lookback 100 and depth 16); a size is used only when its core holds `depth` values.
_LEVELS = (64, 16, 4)
_QUAD = 4
_RANKED_CHUNK = 4096  # windows sorted at a time (memory: lookback floats each)
_MISSING_KEY = np.int64(-0x7FF0_0000_0000_0001)  # the key of -inf: below every value


def _order_keys(x: FloatArray) -> KeyArray:
    """int64 keys ordered like the floats (IEEE bits, negatives' magnitude bits flipped).
    NaN-free input (missing values are -inf here); exactly inverted by `_key_values`."""
    bits = x.view(np.int64)
    return bits ^ ((bits >> 63) & _LOW_BITS)


def _key_values(keys: KeyArray) -> FloatArray:
    """The floats of `_order_keys` keys."""
    return (keys ^ ((keys >> 63) & _LOW_BITS)).view(np.float64)


def _interpolation_points(
    counts: NDArray[np.int64], percentiles: Sequence[float] | FloatArray
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


def _lerp(a: FloatArray, b: FloatArray, t: FloatArray) -> FloatArray:
    """numpy's `_lerp`: interpolate from the nearer end, so t=1 gives exactly b."""
    diff = b - a
    if (t < 0.5).all():  # one branch everywhere (the usual case): no select, in place
        diff *= t
        diff += a
        return diff
    if (t >= 0.5).all():  # b - diff * (1 - t): t - 1 = -(1 - t) exactly for t in [0.5, 1]
        diff *= t - 1
        diff += b
        return diff
    return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


def _strided(base: NDArray[Any], offset: int, shape: tuple[int, ...], steps: tuple[int, ...]) -> NDArray[Any]:
    """A view of C-contiguous `base` from flat element `offset` with the given element steps:
    a sliding window without `sliding_window_view`'s overhead (numpy checks the bounds)."""
    item = base.itemsize
    return np.ndarray(shape, base.dtype, base, offset * item, [step * item for step in steps])


@dataclass(frozen=True)
class _FullPlan:
    """The ranks full windows (count = lookback) read, as row indexes of `_full_windows`'
    arrays: the quad cores' values by rank (only the ranks used, after three +inf rows for
    ranks -3..-1), the pair cores' values of `pair_ranks` (-1: +inf, computed like the rest)."""

    quad_ranks: IntArray  # ascending
    pair_ranks: tuple[int, ...]
    pair_from: tuple[IntArray, IntArray, IntArray]  # quad rows of ranks k, k - 1, k - 2 per pair rank k
    # Pair rows of each column's lower and upper rank (`lower_first`: in that order, else
    # upper then lower), and of the ranks above those. Slices when every column's two ranks
    # are adjacent (the usual case): the pair rows are laid out so that these are views.
    at: Rows
    above: Rows
    lower_first: bool
    gamma: FloatArray  # (columns, 1)

    @classmethod
    def of(cls, lower: list[int], upper: list[int], gamma: FloatArray) -> _FullPlan:
        columns = len(lower)
        lower_first = True
        at: Rows = slice(0, 2 * columns)
        above: Rows = slice(columns, 3 * columns)
        if all(u == k - 1 for k, u in zip(lower, upper, strict=True)):  # from the top
            pair_ranks = [*lower, *upper, *(k - 2 for k in lower)]
        elif all(u == k + 1 for k, u in zip(lower, upper, strict=True)):  # from the bottom
            pair_ranks, lower_first = [*upper, *lower, *(k - 1 for k in lower)], False
        else:
            pair_ranks = sorted({k for j in (*lower, *upper) for k in (j, j - 1)})
            row = {k: i for i, k in enumerate(pair_ranks)}
            at = np.array([row[k] for k in (*lower, *upper)])
            above = np.array([row[k - 1] for k in (*lower, *upper)])
        quad_ranks = sorted({k - d for k in pair_ranks for d in (0, 1, 2) if k - d >= 0})
        quad_row = {k: i + 3 for i, k in enumerate(quad_ranks)} | {-3: 0, -2: 1, -1: 2}

        def rows(shift: int) -> IntArray:
            return np.array([quad_row[k - shift] for k in pair_ranks])

        return cls(
            np.array(quad_ranks),
            tuple(pair_ranks),
            (rows(0), rows(1), rows(2)),
            at,
            above,
            lower_first,
            gamma[:, None],
        )


@dataclass(frozen=True, eq=False)  # compared by identity: `_sides` caches them
class _Side:
    """The percentiles of a series read from one end of its windows: from the top (p >= 50)
    or from the top of the negated values. Per count c of valid values in a window (row c):
    interpolate with weight `gamma` between its (rank_lower+1)-th and (rank_upper+1)-th
    largest value."""

    columns: slice | list[int]  # which of the series' percentiles (a slice when contiguous)
    from_top: bool
    rank_lower: IntArray  # (lookback + 1, number of columns)
    rank_upper: IntArray
    gamma: FloatArray
    depth: int  # largest values any scored window reads
    full: _FullPlan
    full_ranks: NDArray[np.bool_]  # per count: every column reads the same ranks as full windows


@functools.lru_cache(maxsize=32)
def _sides(percentiles: tuple[float, ...], lookback: int, min_count: int) -> tuple[_Side, ...]:
    """The sides in use for these percentiles (cached: the same for every coin)."""
    lower, upper, gamma = _interpolation_points(np.arange(lookback + 1, dtype=np.int64), percentiles)
    size = np.arange(lookback + 1)[:, None]
    sides = []
    for from_top in (True, False):
        columns = [i for i, p in enumerate(percentiles) if (p >= 50) == from_top]
        if not columns:
            continue
        lo, up = lower[:, columns], upper[:, columns]
        rank_lower, rank_upper = (size - 1 - lo, size - 1 - up) if from_top else (lo, up)
        depth = int(max(rank_lower[min_count:].max(), rank_upper[min_count:].max())) + 1
        contiguous = columns == list(range(columns[0], columns[-1] + 1))
        full_lower, full_upper = rank_lower[lookback].tolist(), rank_upper[lookback].tolist()
        full = _FullPlan.of(full_lower, full_upper, gamma[lookback, columns])
        sides.append(
            _Side(
                slice(columns[0], columns[-1] + 1) if contiguous else columns,
                from_top,
                rank_lower,
                rank_upper,
                gamma[:, columns],
                depth,
                full,
                (rank_lower == rank_lower[lookback]).all(axis=1)
                & (rank_upper == rank_upper[lookback]).all(axis=1),
            )
        )
    return tuple(sides)


def _levels(lookback: int, depth: int) -> list[int] | None:
    """Group sizes of the window tree (always ending with quads), or None when it does not
    pay off: near the median the top is most of a window, tiny windows have nothing to share."""
    levels = [b for b in _LEVELS if lookback - b + 1 >= depth]
    if 4 * depth > lookback or not levels:
        return None
    return levels


def _largest(rows: KeyArray, depth: int) -> KeyArray:
    """The `depth` largest keys of each sorted row (-inf keys below when a row is shorter)."""
    width = rows.shape[-1]
    if width >= depth:
        return rows[..., width - depth :]
    fill = np.full((*rows.shape[:-1], depth - width), _MISSING_KEY)
    return np.concatenate([fill, rows], axis=-1)


def _quad_tops(keys: KeyArray, lookback: int, levels: list[int], depth: int, windows: int) -> KeyArray:
    """The `depth` largest keys (ascending) shared by windows 4g..4g+3: shape (groups, depth).

    Window t is keys[t : t + lookback]. A group of b windows starting at t0 shares the core
    t0+b-1 .. t0+lookback-1. Its sub-group of b' windows starting at t0 + i*b' adds b - b'
    positions: the core's left neighbours from t0+b'-1+i*b' and its right ones up to
    t0+lookback+i*b', i.e. a window with stride b' over the b - b' positions left of the core
    and the b - b' right of it. The sub-core's largest keys are among the core's and those,
    so each level sorts rows of depth + b - b' keys (at least 32: more of the core's largest).
    """
    first = levels[0]
    groups = -(-windows // first)
    core = _strided(keys, first - 1, (groups, lookback - first + 1), (first, 1))
    ranked = np.sort(core, axis=1)  # ascending: the largest keys last
    for size, sub in itertools.pairwise(levels):
        added, fan = size - sub, size // sub
        around = np.concatenate(
            [
                _strided(keys, sub - 1, (groups, added), (size, 1)),
                _strided(keys, lookback, (groups, added), (size, 1)),
            ],
            axis=1,
        )
        # Rows of 17..31 keys are widened to 32: numpy sorts those faster. The extra keys are
        # the core's next largest (sorted last level; -inf when it had none): they belong to
        # the sub-core too, so its `depth` largest are unchanged.
        width = max(depth + added, 32 if depth + added < 32 else 0)
        merged = np.empty((groups, fan, width), dtype=np.int64)
        merged[:, :, : width - added] = _largest(ranked, width - added)[:, None, :]
        merged[:, :, width - added :] = _strided(around, 0, (groups, fan, added), (2 * added, sub, 1))
        merged.sort(axis=2)  # in place: np.sort would copy first
        groups *= fan
        ranked = merged.reshape(groups, width)
    return ranked[:, ranked.shape[1] - depth :]


def _full_windows(
    values: FloatArray, quads: KeyArray, lookback: int, plan: _FullPlan
) -> tuple[FloatArray, FloatArray]:
    """The values at each column's lower and upper rank of every window, assuming every
    window is full of valid values: two arrays (4, columns, groups), window 4g + i at [i, :, g].

    Quad g splits into pair 0 (windows 4g, 4g+1: the quad core plus values 4g+1, 4g+2) and
    pair 1 (windows 4g+2, 4g+3: plus 4g+lookback, 4g+lookback+1); each window is its pair
    core plus one value (4g, 4g+lookback, 4g+2, 4g+lookback+2). The (k+1)-th largest of a
    sorted list s plus a value x is clip(x, s[k], s[k-1]) (s[-1] = +inf); plus two values
    hi >= lo it is max(clip(lo, s[k], s[k-2]), min(hi, s[k-1])).
    """
    groups, depth = quads.shape
    # The quad cores' values of the ranks used, one contiguous row per rank (computing on
    # strided columns is several times slower); rows 0..2 are +inf: ranks -3..-1.
    keys = quads.T[depth - 1 - plan.quad_ranks]
    quad = np.empty((plan.quad_ranks.shape[0] + 3, groups))
    quad[:3] = np.inf
    np.bitwise_xor(keys, (keys >> 63) & _LOW_BITS, out=quad[3:].view(np.int64))

    # The values each quad's pairs and windows add, as views: [pair] or [pair, window].
    first = _strided(values, 1, (2, groups), (lookback - 1, _QUAD))  # 4g+1, 4g+lookback
    second = _strided(values, 2, (2, groups), (lookback - 1, _QUAD))  # 4g+2, 4g+lookback+1
    own = _strided(values, 0, (2, 2, 1, groups), (2, lookback, 0, _QUAD))  # 4g, 4g+lookback, 4g+2, ...
    hi, lo = np.maximum(first, second)[:, None], np.minimum(first, second)[:, None]
    rank_k, rank_k1, rank_k2 = plan.pair_from
    pair = np.minimum(lo, quad[rank_k2])  # (2, pair ranks, groups)
    np.maximum(pair, quad[rank_k], out=pair)
    np.maximum(pair, np.minimum(hi, quad[rank_k1]), out=pair)

    # Every column's lower and upper rank, all four windows at once.
    out = np.minimum(own, pair[:, None, plan.above])
    np.maximum(out, pair[:, None, plan.at], out=out)
    out = out.reshape(_QUAD, -1, groups)
    columns = out.shape[1] // 2
    first_half, second_half = out[:, :columns], out[:, columns:]
    return (first_half, second_half) if plan.lower_first else (second_half, first_half)


@dataclass(frozen=True)
class _Cut:
    """The windows cut short by their segment's first bar (its first `lookback` columns):
    their columns and their windows' first positions (that bar)."""

    columns: IntArray
    starts: IntArray

    @classmethod
    def of(cls, edges: Sequence[int], lookback: int) -> _Cut:
        ends = [*edges[1:-1], edges[-1] + 1]  # column n is the last segment's
        spans = [(lo, min(lo + lookback, end)) for lo, end in zip(edges, ends, strict=False)]
        return cls(
            np.concatenate([np.arange(lo, hi) for lo, hi in spans]),
            np.concatenate([np.full(hi - lo, lo) for lo, hi in spans]),
        )


def _valid_counts(valid: NDArray[np.bool_], lookback: int, cut: _Cut) -> NDArray[np.int64]:
    """Valid values in each window, t = 0..n: valid[t-lookback:t], not before the segment."""
    cum = np.zeros(valid.shape[0] + 1, dtype=np.int64)
    np.cumsum(valid, out=cum[1:])
    counts = cum.copy()
    counts[lookback:] -= cum[: max(cum.shape[0] - lookback, 0)]
    counts[cut.columns] = cum[cut.columns] - cum[cut.starts]
    return counts


def rolling_percentile_rows(
    values: Sequence[ArrayLikeFloat],
    lookback: int,
    percentiles: Sequence[Sequence[float]],
    min_valid: int,
    bounds: Sequence[int] | None = None,
) -> list[FloatArray]:
    """`rolling_percentiles` of several series (one list of percentiles each), transposed:
    one array (percentiles, n + 1) per series, row p being percentile p for each bar.

    With `bounds` (0 = b0 < b1 < ... = n), each series holds segments (several coins laid end
    to end): the windows of bars b_k..b_k+1 - 1 only see values of their own segment, and
    column n is the last segment's snapshot (the others' are not kept).
    """
    min_count = max(min_valid, 1)
    n = len(values[0]) if values else 0
    edges = [0, n] if bounds is None else list(bounds)
    cut = _Cut.of(edges, lookback)
    series = [
        _Series.of(np.asarray(x, dtype=np.float64), wanted, lookback, min_count, cut)
        for x, wanted in zip(values, percentiles, strict=True)
    ]
    # Windows without enough valid values may compute -inf - -inf: they end up NaN.
    with np.errstate(invalid="ignore"):
        # One thread: split between two, the jobs were faster only on an idle machine (on a
        # busy one the run waits for its preempted half).
        for job in [job for s in series for job in s.tree_jobs(edges)]:
            job()
        for s in series:
            s.finish(cut)
    return [s.out for s in series]


@dataclass(frozen=True)
class _Series:
    """One series' rolling percentiles: `out` (percentiles, n + 1), filled by its tree jobs
    (any order: they write disjoint columns, but for each segment's last column, which is
    the next one's first and NaN) and then by `finish`.

    Every column is written (each percentile is on one side, a side writes every scored
    window and the rest become NaN), so `out` starts uninitialised."""

    out: FloatArray
    x: FloatArray
    valid: NDArray[np.bool_]
    counts: NDArray[np.int64]
    scored: NDArray[np.bool_]
    gaps: NDArray[np.bool_]  # windows missing values inside a segment
    lookback: int
    sides: tuple[_Side, ...]

    @classmethod
    def of(cls, x: FloatArray, wanted: Sequence[float], lookback: int, min_count: int, cut: _Cut) -> _Series:
        out = np.empty((len(wanted), x.shape[0] + 1))
        valid = np.isfinite(x)
        counts = _valid_counts(valid, lookback, cut)
        scored = counts >= min_count
        gaps = scored & (counts != lookback)
        gaps[cut.columns] = False
        sides = _sides(tuple(map(float, wanted)), lookback, min_count) if min_count <= lookback else ()
        return cls(out, x, valid, counts, scored, gaps, lookback, sides)

    def tree_jobs(self, edges: list[int]) -> list[Callable[[], None]]:
        """The window tree of each side that uses one, segment by segment: one coin's arrays
        stay small enough for the CPU cache (a pass over all coins at once is slower)."""
        # Segments with gap windows (column n included in the last).
        has_gaps = [bool(self.gaps[lo : hi + 1].any()) for lo, hi in itertools.pairwise(edges)]
        jobs: list[Callable[[], None]] = []
        for side in self.sides:
            levels = _levels(self.lookback, side.depth)
            if levels is None:
                continue
            for k, (lo, hi) in enumerate(itertools.pairwise(edges)):
                segment = slice(lo, hi + 1)
                counts = self.counts[segment] if has_gaps[k] else None
                args = (self.x[lo:hi], self.valid[lo:hi], counts, self.gaps[segment])
                jobs.append(
                    functools.partial(
                        _tree_percentiles, self.out[:, segment], *args, self.lookback, side, levels
                    )
                )
        return jobs

    def finish(self, cut: _Cut) -> None:
        """The windows the trees leave: cut by their segment's start (a few hundred, all
        segments' at once: per segment, the calls' overhead outweighed the work), or all
        of a side without a tree; then NaN where not scored."""
        in_cut = self.scored[cut.columns]
        cut_at, cut_starts = cut.columns[in_cut], cut.starts[in_cut]
        for side in self.sides:
            at, starts = cut_at, cut_starts
            if _levels(self.lookback, side.depth) is None:  # every window sorted whole
                at = np.flatnonzero(self.scored)
                starts = at - self.lookback
                starts[np.isin(at, cut_at)] = cut_starts
            _ranked_percentiles(
                self.out, self.x, self.valid, at, starts, self.counts[at], self.lookback, side
            )
        self.out[:, np.flatnonzero(~self.scored)] = np.nan  # few columns: no masked pass over all


def _tree_percentiles(
    out: FloatArray,
    x: FloatArray,
    valid: NDArray[np.bool_],
    counts: NDArray[np.int64] | None,
    gaps: NDArray[np.bool_],
    lookback: int,
    side: _Side,
    levels: list[int],
) -> None:
    """Fill out[side.columns] (percentiles, n + 1) for one segment: the windows `gaps`
    (when `counts` is given) from their counts, every other as if full of valid values."""
    n = x.shape[0]
    group = levels[0]
    span = -(-(n + 1) // group) * group
    # Window t is values[t : t + lookback]: -inf where missing and around the series; the
    # bottom side reads the negated values.
    values = np.full(lookback + span + group, -np.inf)
    np.copyto(values[lookback : lookback + n], x if side.from_top else -x, where=valid)
    quads = _quad_tops(_order_keys(values), lookback, levels, side.depth, n + 1)
    a, b = _full_windows(values, quads, lookback, side.full)
    if not side.from_top:  # back from the negated values
        np.negative(a, out=a)
        np.negative(b, out=b)
    result = _lerp(a, b, side.full.gamma)
    target = out[side.columns]
    for i in range(_QUAD):
        part = target[:, i::_QUAD]
        part[...] = result[i, :, : part.shape[1]]
    if isinstance(side.columns, list):  # fancy indexing gave a copy
        out[side.columns] = target
    if counts is not None:
        _gap_percentiles(out, values, quads, a, b, counts, gaps, lookback, side)


def _gap_percentiles(
    out: FloatArray,
    values: FloatArray,
    quads: KeyArray,
    a: FloatArray,
    b: FloatArray,
    counts: NDArray[np.int64],
    gaps: NDArray[np.bool_],
    lookback: int,
    side: _Side,
) -> None:
    """Overwrite the windows `gaps` of one segment (`_tree_percentiles`' arrays)."""
    columns = np.arange(out.shape[0])[side.columns]
    at = np.flatnonzero(gaps)
    c = counts[at]
    # A window missing a few values (-inf, at its bottom) mostly reads the full windows'
    # ranks from its top: those values are right, only the weight differs.
    same = side.full_ranks[c]
    if same.any():
        groups, rows = np.divmod(at[same], _QUAD)
        out[columns[:, None], at[same]] = _lerp(a[rows, :, groups], b[rows, :, groups], side.gamma[c[same]]).T
    # The others read other ranks: sorted from their quad core's largest and own values.
    others = at[~same]
    if others.size:
        ranked = _sorted_windows(values, quads, lookback, others)
        top, c, row = ranked.shape[1] - 1, c[~same], np.arange(others.shape[0])[:, None]
        lower, upper = ranked[row, top - side.rank_lower[c]], ranked[row, top - side.rank_upper[c]]
        if not side.from_top:
            np.negative(lower, out=lower)
            np.negative(upper, out=upper)
        out[columns[:, None], others] = _lerp(lower, upper, side.gamma[c]).T


def _sorted_windows(values: FloatArray, quads: KeyArray, lookback: int, t: IntArray) -> FloatArray:
    """Windows t sorted ascending, at least their `depth` largest values: the quad core's
    largest plus the window's 3 other values (-inf filled)."""
    t0 = t - t % _QUAD
    # Window t = its quad core + those of t0..t0+2 and t0+lookback..t0+lookback+2 inside it.
    near = t0[:, None] + np.array([0, 1, 2, lookback, lookback + 1, lookback + 2])
    inside = (near >= t[:, None]) & (near < t[:, None] + lookback)
    own = np.where(inside, values[near], -np.inf)
    window = np.concatenate([_key_values(quads[t0 // _QUAD]), own], axis=1)
    window.sort(axis=1)
    return window


def _ranked_percentiles(
    out: FloatArray,
    x: FloatArray,
    valid: NDArray[np.bool_],
    at: IntArray,
    starts: IntArray,
    counts: NDArray[np.int64],
    lookback: int,
    side: _Side,
) -> None:
    """Fill out[side.columns] at columns `at` from their sorted windows x[starts:at]
    (`starts` and `counts` per window)."""
    columns = np.arange(out.shape[0])[side.columns]
    top = lookback - 1
    for chunk in range(0, at.shape[0], _RANKED_CHUNK):
        t, first, c = (v[chunk : chunk + _RANKED_CHUNK] for v in (at, starts, counts))
        position = t[:, None] + np.arange(-lookback, 0)
        keep = position >= first[:, None]
        position = np.maximum(position, 0)  # indexable; those are not kept
        keep &= valid[position]
        window = np.where(keep, x[position] if side.from_top else -x[position], -np.inf)
        window.sort(axis=1)  # the valid values on top, -inf below
        rows = np.arange(t.shape[0])[:, None]
        a, b = window[rows, top - side.rank_lower[c]], window[rows, top - side.rank_upper[c]]
        if not side.from_top:
            np.negative(a, out=a)
            np.negative(b, out=b)
        out[columns[:, None], t] = _lerp(a, b, side.gamma[c]).T


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
    return rolling_percentile_rows([values], lookback, [percentiles], min_valid)[0].T


def window_percentiles(values: ArrayLikeFloat, percentiles: Sequence[float], min_valid: int) -> FloatArray:
    """Percentiles of one window (NaN ignored), NaN when it has fewer than `min_valid` values."""
    x = np.asarray(values, dtype=np.float64)
    x = np.sort(x[np.isfinite(x)])
    if x.size < max(min_valid, 1):
        return np.full(len(percentiles), np.nan)
    lower, upper, gamma = _interpolation_points(np.array([x.size], dtype=np.int64), percentiles)
    return _lerp(x[lower[0]], x[upper[0]], gamma[0])
