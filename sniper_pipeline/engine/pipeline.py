"""Entry points: `run_engine(bars, params, state)` for one coin's bars from `fct_layer_bars`,
`run_engine_many(bars_by_coin, params, states)` for the coins of a scan at once.

closed bars -> rolling thresholds, tightening, levels (scoring.py) -> tier and direction
(confluence.py) -> episodes (episodes.py) -> signals and events frames. Everything is
vectorised (numpy), without a Python loop per bar; the coins of a run are laid end to end
(batch.py), so each step is one numpy call and each frame one DataFrame for all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sniper_pipeline.settings.layer import Layer

from .bars import closed_bars
from .batch import bar_columns
from .confluence import confluence_tier, direction, liquidation_side
from .episodes import EpisodeState, run_episodes_many
from .events import empty_events, events_frame
from .metrics import LAYERS
from .params import EngineParams
from .scoring import score_segments
from .signals import empty_signals, signals_frame


@dataclass(frozen=True)
class EngineResult:
    signals: pd.DataFrame  # one row per closed bar decided in this run
    events: pd.DataFrame  # alert events of those bars, in bar order
    state: EpisodeState  # pass to the next run to continue without repeating an event


@dataclass(frozen=True)
class EngineBatch:
    """`run_engine_many`'s output: every coin's rows in one frame each, coin after coin."""

    signals: pd.DataFrame
    events: pd.DataFrame
    states: dict[str, EpisodeState]  # by coin, in the order given
    signal_rows: dict[str, slice]  # each coin's rows of `signals` (positions)
    event_rows: dict[str, slice]

    def result(self, coin: str) -> EngineResult:
        """One coin's share, as `run_engine` would give it (index aside: positions here)."""
        return EngineResult(
            self.signals.iloc[self.signal_rows[coin]],
            self.events.iloc[self.event_rows[coin]],
            self.states[coin],
        )


def _single(frame: pd.DataFrame, column: str) -> str:
    if column not in frame.columns:
        raise ValueError(f"bars have no {column!r} column")
    values = frame[column].to_numpy(dtype=object)
    first = values[0]
    # list.count compares by identity first: ~3x faster than an object-array `==` when the
    # column holds one repeated object; `first == first` keeps NaN unequal to itself.
    if not (first == first and values.tolist().count(first) == len(values)):
        raise ValueError(f"run_engine scores one {column} at a time, got {list(pd.unique(values))[:5]}")
    return str(values[0])


def _rows(starts: list[int], bounds: list[int]) -> np.ndarray | None:
    """Positions of the bars decided by this run (after each coin's state), None for all."""
    if not any(starts):
        return None
    return np.concatenate(
        [np.arange(lo + s, hi) for s, lo, hi in zip(starts, bounds, bounds[1:], strict=False)]
    )


def _spans(counts: list[int], coins: list[str]) -> dict[str, slice]:
    ends = np.cumsum(counts).tolist()
    return {coin: slice(end - count, end) for coin, count, end in zip(coins, counts, ends, strict=True)}


def run_engine_many(
    bars_by_coin: Mapping[str, pd.DataFrame],
    params: EngineParams | None = None,
    states: Mapping[str, EpisodeState] | None = None,
) -> EngineBatch:
    """`run_engine` of every coin (its bars and its state, if any), computed together.

    The frames equal the coins' `run_engine` frames concatenated in the order given (with
    a fresh RangeIndex); a coin's bars may be on their own grid interval.
    """
    params = params or EngineParams()
    states = states or {}
    frames, coins, intervals, idle = [], [], [], {}
    for coin, bars in bars_by_coin.items():
        frame = closed_bars(bars)
        if frame.empty:
            if coin not in states:
                raise ValueError(f"{coin}: no closed bars and no state: cannot tell the coin")
            idle[coin] = states[coin]
            continue
        if _single(frame, "coin") != coin:
            raise ValueError(f"bars given for {coin!r} are for {_single(frame, 'coin')!r}")
        frames.append(frame)
        coins.append(coin)
        intervals.append(_single(frame, "interval"))
    return _run(frames, coins, intervals, params, states, idle)


def _run(
    frames: list[pd.DataFrame],
    coins: list[str],
    intervals: list[str],
    params: EngineParams,
    states: Mapping[str, EpisodeState],
    idle: dict[str, EpisodeState],
) -> EngineBatch:
    """The engine over the coins' closed bars (none empty); `idle` coins had no bars."""
    if not frames:
        return EngineBatch(
            empty_signals(params),
            empty_events(),
            dict(idle),
            {coin: slice(0, 0) for coin in idle},
            {coin: slice(0, 0) for coin in idle},
        )
    bars = bar_columns(frames, coins, intervals)
    scores = score_segments(bars.floats, bars.segments, intervals, params)
    # (bars, layers) as the transpose of a (layers, bars) stack: what confluence_tier counts over.
    conf = confluence_tier(np.stack([scores.levels[layer] for layer in LAYERS]).T, params.confluence)
    liq_side = liquidation_side(
        scores.levels[Layer.LIQUIDATION.prefix], bars.floats["liq_polarity"], params.direction
    )
    directions = direction(scores.taker_side, liq_side)

    runs = run_episodes_many(
        coins,
        bars.ts,
        conf.tier,
        directions,
        liq_side,
        bars.segments,
        params.episodes,
        [states.get(coin) for coin in coins],
    )
    rows = _rows(runs.starts, bars.segments.bounds.tolist())
    episode_ids = runs.episode_ids if rows is None else runs.episode_ids[rows]
    signals = signals_frame(bars, scores, conf, directions, episode_ids, rows, params)
    events = events_frame(bars, scores, conf.layers_triggered, runs)

    lengths = bars.segments.lengths.tolist()
    signal_counts = [n - start for n, start in zip(lengths, runs.starts, strict=True)]
    return EngineBatch(
        signals,
        events,
        {**dict(zip(coins, runs.states, strict=True)), **idle},
        {**_spans(signal_counts, coins), **{coin: slice(0, 0) for coin in idle}},
        {**_spans(runs.event_counts, coins), **{coin: slice(0, 0) for coin in idle}},
    )


def run_engine(
    bars: pd.DataFrame, params: EngineParams | None = None, state: EpisodeState | None = None
) -> EngineResult:
    """Score one coin's bars and derive its alert events.

    `bars` follows the `fct_layer_bars` contract (one coin, one grid interval, tz-aware `ts`
    of bar open). Open bars are dropped. With a `state` from an earlier run, bars at or before
    `state.last_ts` only feed the rolling windows: the result (signals and events) covers the
    later bars, so concatenating successive results equals one run over all bars. Pass at
    least `lookback_bars` + the tightening window of history before the first new bar.
    """
    params = params or EngineParams()
    frame = closed_bars(bars)
    if frame.empty:
        if state is None:
            raise ValueError("no closed bars and no state: cannot tell the coin")
        return EngineResult(empty_signals(params), empty_events(), state)
    coin = _single(frame, "coin")
    states = {} if state is None else {coin: state}
    batch = _run([frame], [coin], [_single(frame, "interval")], params, states, {})
    return EngineResult(batch.signals, batch.events, batch.states[coin])
