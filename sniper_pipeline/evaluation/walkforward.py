"""Walk-forward study: pick engine parameters on an earlier window, score them on the next one.

Splits are positions on the bar grid: a fit window of `fit_bars`, a purge gap of `purge_bars`,
then a score window of `score_bars`; the next fold moves by `score_bars` (rolling, fixed-length
fit). The purge is at least the longest forward horizon in bars, so no fit bar's forward
return reaches into the score window, and no scored bar is ever in its own fit window.

The engine is run once per parameter set and coin over all bars: its output at bar t depends
on bars up to t only (point-in-time thresholds; notifications are decided on their bar), so a
window of one full run equals a run that stops at the window's end.

Selection on a window, lexicographic:
1. the budget: every coin at most `budget` notifications per week (opens and upgrades);
2. the largest liquidation bars of each coin (`top_liq` per coin in the window) at action:
   the highest share;
3. the lift of the notifications at the `primary` horizon, mean over coins: the highest;
4. ties: the fewest parameters changed from the base, then grid order.
Without any set inside the budget, the one with the fewest notifications (max over coins) wins.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sniper_pipeline.engine import EngineParams, run_engine
from sniper_pipeline.settings.timeutil import interval_seconds

from .budget import notifications, weeks_between
from .forward import Horizon, default_horizons, forward_metrics, price_step_seconds

PRIMARY_HORIZON = Horizon("1d", 86400)  # common to 4h and daily price series
PERCENTILE_LEVELS = "percentile_levels"  # grid key: high band (watch, action, extreme); low mirrored
# Grid key: the one-sided crash rule as (liq level, OI level), or None for off. One key rather
# than two, so "off" is a single point instead of one per unused OI level.
CRASH_RULE = "crash_rule"
CRASH_LEVELS = ("crash_liq_level", "crash_oi_level")

# Kept small: 3 x 5 x 2^5 = 480 sets x 4 coins of ~1080 bars run in under a minute on 2 cores.
# `episodes.escalate_bars` is not searched: escalations are not counted against the budget, so
# it cannot change a selection. Crash rules: liquidations at extreme with OI at action, at watch
# or anywhere (liquidations alone), and liquidations at action with OI at action.
DEFAULT_GRID: dict[str, tuple[Any, ...]] = {
    "thresholds.lookback_bars": (100, 200),
    PERCENTILE_LEVELS: ((85.0, 95.0, 99.0), (90.0, 97.0, 99.5), (95.0, 98.0, 99.5)),
    "confluence.watch_min_layers": (2, 3),
    "confluence.extreme_override_layers": (None, 2),
    CRASH_RULE: (None, (3, 2), (3, 1), (3, 0), (2, 2)),
    "episodes.clear_bars": (2, 6),
    "tightening.trigger": ("extreme", "action"),
}


# --- splits -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """Bar positions: fit [fit_start, fit_end), score [score_start, score_end)."""

    fold: int
    fit_start: int
    fit_end: int
    score_start: int
    score_end: int


def rolling_splits(
    n_bars: int, *, fit_bars: int, score_bars: int, purge_bars: int, start: int = 0, min_score_bars: int = 1
) -> list[Split]:
    """Rolling folds over `n_bars` positions from `start`; the last score window may be shorter
    (down to `min_score_bars`)."""
    if fit_bars < 1 or score_bars < 1 or purge_bars < 0:
        raise ValueError("fit_bars and score_bars must be >= 1, purge_bars >= 0")
    splits: list[Split] = []
    score_start = start + fit_bars + purge_bars
    while score_start + min_score_bars <= n_bars:
        fit_end = score_start - purge_bars
        splits.append(
            Split(
                len(splits), fit_end - fit_bars, fit_end, score_start, min(n_bars, score_start + score_bars)
            )
        )
        score_start += score_bars
    return splits


# --- parameter grid -----------------------------------------------------------------------


def apply_overrides(base: EngineParams, overrides: Mapping[str, Any]) -> EngineParams:
    """`{"confluence.watch_min_layers": 3, "percentile_levels": (90, 97, 99.5), "crash_rule": (3, 2)}`
    on `base`."""
    groups: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        if key == PERCENTILE_LEVELS:
            high = tuple(float(v) for v in value)
            groups.setdefault("thresholds", {})["high_percentiles"] = high
            groups["thresholds"]["low_percentiles"] = tuple(100.0 - v for v in high)
            continue
        if key == CRASH_RULE:
            # Off keeps the base's OI level: it is not read while the rule is off.
            liq_oi = (
                {"crash_liq_level": None} if value is None else dict(zip(CRASH_LEVELS, value, strict=True))
            )
            groups.setdefault("confluence", {}).update(liq_oi)
            continue
        group, name = key.split(".", 1)
        groups.setdefault(group, {})[name] = value
    changes = {g: dataclasses.replace(getattr(base, g), **kw) for g, kw in groups.items()}
    return dataclasses.replace(base, **changes)


def base_values(base: EngineParams, keys: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in keys:
        if key == PERCENTILE_LEVELS:
            out[key] = tuple(base.thresholds.high_percentiles)
        elif key == CRASH_RULE:
            c = base.confluence
            out[key] = None if c.crash_liq_level is None else (c.crash_liq_level, c.crash_oi_level)
        else:
            group, name = key.split(".", 1)
            out[key] = getattr(getattr(base, group), name)
    return out


def grid_points(grid: Mapping[str, Sequence[Any]]) -> Iterator[dict[str, Any]]:
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        yield dict(zip(keys, values, strict=True))


# --- per-run arrays -----------------------------------------------------------------------


@dataclass(frozen=True)
class CoinData:
    """What the study reads of one coin, aligned on its closed bars."""

    coin: str
    bars: pd.DataFrame
    ts_ns: NDArray[np.int64]
    absret: NDArray[np.float64]  # at the primary horizon (NaN without a complete horizon)
    horizon_end_ns: NDArray[np.int64]  # the last price close read by that forward value
    liq: NDArray[np.float64]


def coin_data(bars: pd.DataFrame, primary: Horizon = PRIMARY_HORIZON) -> CoinData:
    frame = bars.sort_values("ts").reset_index(drop=True)
    if "is_closed" in frame.columns:
        frame = frame[frame["is_closed"].fillna(False).astype(bool)].reset_index(drop=True)
    fwd = forward_metrics(frame, [primary])
    bar_s = interval_seconds(str(frame["interval"].iloc[0]))
    # Upper bound of what a forward value reads: the next price close plus the horizon.
    reach_s = primary.seconds + max(price_step_seconds(frame), bar_s)
    return CoinData(
        coin=str(frame["coin"].iloc[0]),
        bars=frame,
        ts_ns=pd.DatetimeIndex(pd.to_datetime(frame["ts"], utc=True)).asi8,
        absret=fwd[f"absret_{primary.label}"].to_numpy(dtype=float),
        horizon_end_ns=pd.DatetimeIndex(fwd["close_at"]).asi8 + reach_s * 10**9,
        liq=pd.to_numeric(frame.get("liq_total_usd"), errors="coerce").to_numpy(dtype=float),
    )


def purge_bars_for(coins: Sequence[CoinData], horizons: Sequence[Horizon] | None = None) -> int:
    """Bars between a fit window and its score window: the longest forward reach (horizon plus
    the wait for the next price close) in bars, so no fit bar's forward value reads a score bar."""
    purge = 0
    for c in coins:
        bar_s = interval_seconds(str(c.bars["interval"].iloc[0]))
        step = max(price_step_seconds(c.bars), bar_s)
        hs = horizons or default_horizons(c.bars)
        longest = max(h.seconds for h in [*hs, PRIMARY_HORIZON])
        purge = max(purge, math.ceil((longest + step) / bar_s))
    return purge


@dataclass(frozen=True)
class Run:
    """One parameter set on one coin: tier codes per bar and notification positions."""

    action: NDArray[np.bool_]
    notify_pos: NDArray[np.intp]
    escalate_pos: NDArray[np.intp]


def engine_run(data: CoinData, params: EngineParams) -> Run:
    result = run_engine(data.bars, params)
    ts = pd.DatetimeIndex(pd.to_datetime(result.signals["ts"], utc=True))
    index = pd.DatetimeIndex(pd.to_datetime(data.bars["ts"], utc=True))
    action = np.zeros(len(index), dtype=bool)
    action[index.get_indexer(ts[(result.signals["tier"] == "action").to_numpy()])] = True
    events = result.events

    def positions(frame: pd.DataFrame) -> NDArray[np.intp]:
        if frame.empty:
            return np.zeros(0, dtype=np.intp)
        return np.sort(index.get_indexer(pd.DatetimeIndex(pd.to_datetime(frame["ts"], utc=True))))

    escalations = events[events["event"] == "escalate"] if not events.empty else events
    return Run(action, positions(notifications(events)), positions(escalations))


# --- window scores ------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowScore:
    per_week: dict[str, float]  # notifications per coin per week
    escalations_per_week: float  # mean over coins (not counted in the budget)
    caught: int  # largest liquidation bars at action
    top_n: int
    lift: float  # mean over coins of the notifications' lift at the primary horizon
    lift_by_coin: dict[str, float] = field(default_factory=dict)

    @property
    def max_per_week(self) -> float:
        return max(self.per_week.values()) if self.per_week else float("nan")

    @property
    def catch_rate(self) -> float:
        return self.caught / self.top_n if self.top_n else float("nan")


def score_window(
    coins: Sequence[CoinData],
    runs: Sequence[Run],
    start_ns: int,
    end_ns: int,
    *,
    top_liq: int = 3,
    forward_limit_ns: int | None = None,
) -> WindowScore:
    """Scores of one parameter set over bars with ts in [start_ns, end_ns).

    `forward_limit_ns`: forward values reading a price past it are ignored (the fit side of a
    split passes its score start: a belt to the purge's braces).
    """
    weeks = weeks_between(pd.Timestamp(start_ns, tz="UTC"), pd.Timestamp(end_ns, tz="UTC"))
    per_week: dict[str, float] = {}
    lifts: dict[str, float] = {}
    escalations: list[float] = []
    caught = top_n = 0
    for data, run in zip(coins, runs, strict=True):
        lo, hi = np.searchsorted(data.ts_ns, [start_ns, end_ns])
        notify = run.notify_pos[(run.notify_pos >= lo) & (run.notify_pos < hi)]
        per_week[data.coin] = len(notify) / weeks
        esc = run.escalate_pos
        escalations.append(int(((esc >= lo) & (esc < hi)).sum()) / weeks)
        absret = data.absret[lo:hi]
        if forward_limit_ns is not None:
            absret = np.where(data.horizon_end_ns[lo:hi] <= forward_limit_ns, absret, np.nan)
        cond = absret[notify - lo]
        base = np.nanmean(absret) if np.isfinite(absret).any() else np.nan
        lifts[data.coin] = (
            float(np.nanmean(cond) / base) if np.isfinite(cond).any() and base > 0 else float("nan")
        )
        liq = data.liq[lo:hi]
        finite = np.flatnonzero(np.isfinite(liq))
        top = finite[np.argsort(liq[finite])[::-1][:top_liq]]
        caught += int(run.action[lo:hi][top].sum())
        top_n += len(top)
    finite_lifts = [v for v in lifts.values() if math.isfinite(v)]
    return WindowScore(
        per_week=per_week,
        escalations_per_week=float(np.mean(escalations)) if escalations else float("nan"),
        caught=caught,
        top_n=top_n,
        lift=float(np.mean(finite_lifts)) if finite_lifts else float("nan"),
        lift_by_coin=lifts,
    )


def selection_key(score: WindowScore, budget: float, changed: int, order: int) -> tuple[float, ...]:
    """Smaller is better (see the module docstring)."""
    within = score.max_per_week <= budget + 1e-9
    lift = score.lift if math.isfinite(score.lift) else -math.inf
    catch = score.catch_rate if math.isfinite(score.catch_rate) else 0.0
    if within:
        return (0.0, -catch, -lift, float(changed), float(order))
    return (1.0, score.max_per_week, -catch, -lift, float(changed), float(order))


# --- the study ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    order: int
    overrides: dict[str, Any]  # every grid key, this set's value
    changed: dict[str, Any]  # only the keys that differ from the base
    params: EngineParams
    runs: list[Run]


@dataclass(frozen=True)
class FoldResult:
    split: Split
    fit_range: tuple[pd.Timestamp, pd.Timestamp]
    score_range: tuple[pd.Timestamp, pd.Timestamp]
    chosen: Candidate
    fit: WindowScore
    score: WindowScore  # the chosen set on the later window
    base_score: WindowScore  # the base (current defaults) on the same later window


@dataclass(frozen=True)
class StudyResult:
    budget: float
    coins: list[str]
    grid: dict[str, tuple[Any, ...]]
    purge_bars: int
    folds: list[FoldResult]
    final: Candidate  # chosen on the whole evaluated span
    final_score: WindowScore
    base: Candidate
    base_final_score: WindowScore
    candidates: list[Candidate]
    span: tuple[pd.Timestamp, pd.Timestamp]
    table: pd.DataFrame  # every candidate on the whole span
    coin_data: list[CoinData]
    top_liq: int

    @property
    def span_ns(self) -> tuple[int, int]:
        return self.span[0].value, self.span[1].value

    def params_of(self, overrides: Mapping[str, Any]) -> Candidate:
        for c in self.candidates:
            if all(c.overrides.get(k) == v for k, v in overrides.items()):
                return c
        raise KeyError(overrides)


def _grid_for_base(grid: Mapping[str, Sequence[Any]], base: EngineParams) -> dict[str, tuple[Any, ...]]:
    """The grid with the base's own value first in each list (so grid order favours it)."""
    values = base_values(base, list(grid))
    out: dict[str, tuple[Any, ...]] = {}
    for key, options in grid.items():
        opts = tuple(options)
        out[key] = (values[key], *[o for o in opts if o != values[key]])
    return out


def choose(
    candidates: Sequence[Candidate],
    coins: Sequence[CoinData],
    start_ns: int,
    end_ns: int,
    budget: float,
    *,
    top_liq: int,
    forward_limit_ns: int | None = None,
) -> tuple[Candidate, WindowScore]:
    scored = [
        (c, score_window(coins, c.runs, start_ns, end_ns, top_liq=top_liq, forward_limit_ns=forward_limit_ns))
        for c in candidates
    ]
    return min(scored, key=lambda cs: selection_key(cs[1], budget, len(cs[0].changed), cs[0].order))


def run_study(
    bars_by_coin: Mapping[str, pd.DataFrame],
    base: EngineParams,
    *,
    budget: float = 1.0,
    grid: Mapping[str, Sequence[Any]] | None = None,
    fit_days: float = 60.0,
    score_days: float = 30.0,
    top_liq: int = 3,
) -> StudyResult:
    """Every grid point on every coin, then the rolling folds and the choice on the whole span.

    The coins share the grid of the first coin's interval (the folds are cut by position on
    the union of their bar times). The span starts after the longest lookback of the grid, so
    every set is compared on bars where all of them can alert.
    """
    grid = _grid_for_base(grid or DEFAULT_GRID, base)
    coins = [coin_data(bars) for _, bars in sorted(bars_by_coin.items()) if not bars.empty]
    if not coins:
        raise ValueError("no bars to study")
    base_vals = base_values(base, list(grid))
    candidates: list[Candidate] = []
    for order, point in enumerate(grid_points(grid)):
        params = apply_overrides(base, point)
        changed = {k: v for k, v in point.items() if v != base_vals[k]}
        candidates.append(Candidate(order, point, changed, params, [engine_run(c, params) for c in coins]))
    base_candidate = candidates[0]  # the base's values come first in every key
    times = np.unique(np.concatenate([c.ts_ns for c in coins]))
    bar_s = interval_seconds(str(coins[0].bars["interval"].iloc[0]))
    warmup = max([c.params.thresholds.lookback_bars for c in candidates] + [base.thresholds.lookback_bars])
    purge = purge_bars_for(coins)
    per_day = 86400 / bar_s
    splits = rolling_splits(
        len(times),
        fit_bars=round(fit_days * per_day),
        score_bars=round(score_days * per_day),
        purge_bars=purge,
        start=warmup,
        min_score_bars=round(7 * per_day),
    )

    def at(pos: int) -> int:
        # End positions may be len(times): one bar past the last.
        return int(times[pos]) if pos < len(times) else int(times[-1]) + bar_s * 10**9

    folds: list[FoldResult] = []
    for split in splits:
        fit0, fit1, s0, s1 = (
            at(split.fit_start),
            at(split.fit_end),
            at(split.score_start),
            at(split.score_end),
        )
        chosen, fit_score = choose(
            candidates, coins, fit0, fit1, budget, top_liq=top_liq, forward_limit_ns=s0
        )
        folds.append(
            FoldResult(
                split=split,
                fit_range=(pd.Timestamp(fit0, tz="UTC"), pd.Timestamp(fit1, tz="UTC")),
                score_range=(pd.Timestamp(s0, tz="UTC"), pd.Timestamp(s1, tz="UTC")),
                chosen=chosen,
                fit=fit_score,
                score=score_window(coins, chosen.runs, s0, s1, top_liq=top_liq),
                base_score=score_window(coins, base_candidate.runs, s0, s1, top_liq=top_liq),
            )
        )
    span0, span1 = at(warmup), at(len(times))
    final, final_score = choose(candidates, coins, span0, span1, budget, top_liq=top_liq)
    rows = []
    for c in candidates:
        s = score_window(coins, c.runs, span0, span1, top_liq=top_liq)
        rows.append(
            {
                **{k: str(v) for k, v in c.overrides.items()},
                "max_per_week": s.max_per_week,
                "mean_per_week": float(np.mean(list(s.per_week.values()))),
                "catch_rate": s.catch_rate,
                "lift_1d": s.lift,
                "within_budget": s.max_per_week <= budget + 1e-9,
            }
        )
    return StudyResult(
        budget=budget,
        coins=[c.coin for c in coins],
        grid=grid,
        purge_bars=purge,
        folds=folds,
        final=final,
        final_score=final_score,
        base=base_candidate,
        base_final_score=score_window(coins, base_candidate.runs, span0, span1, top_liq=top_liq),
        candidates=candidates,
        span=(pd.Timestamp(span0, tz="UTC"), pd.Timestamp(span1, tz="UTC")),
        table=pd.DataFrame(rows),
        coin_data=coins,
        top_liq=top_liq,
    )
