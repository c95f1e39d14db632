"""One entry point: `run_engine(bars, params, state)` for one coin's bars from `fct_layer_bars`.

closed bars -> rolling thresholds, tightening, levels (scoring.py) -> tier and direction
(confluence.py) -> episodes (episodes.py) -> signals and events frames. Everything is
vectorised (numpy), without a Python loop per bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sniper_pipeline.settings.layer import Layer

from .bars import closed_bars
from .confluence import (
    DIRECTION_BY_CODE,
    TIER_BY_CODE,
    Confluence,
    confluence_tier,
    direction,
    liquidation_side,
)
from .episodes import EpisodeRun, EpisodeState, run_episodes
from .events import empty_events, events_frame
from .levels import SIDE_BY_CODE
from .metrics import LAYERS, THRESHOLD_SPECS, float_column
from .params import EngineParams
from .scoring import LayerScores, score_layers

# Input values carried to the signals, in this order (absent input columns become null).
VALUE_COLUMNS = (
    "funding_bps_8h",
    "funding_abs_bps_8h",
    "oi",
    "oi_unit",
    "oi_roc_pct",
    "liq_long_usd",
    "liq_short_usd",
    "liq_total_usd",
    "liq_polarity",
    "taker_ratio",
    "close_usd",
)
LEVEL_COLUMNS = (*(f"{layer}_level" for layer in LAYERS), "taker_side")
STATE_COLUMNS = (
    "tightening_trigger",
    "tightening_factor",
    "layers_triggered",
    "layers_action",
    "layers_extreme",
    "tier",
    "direction",
    "episode_id",
)
FLAG_COLUMNS = tuple(f"{layer}_{flag}" for layer in LAYERS for flag in ("is_stale", "is_coarser"))


def threshold_columns(params: EngineParams | None = None) -> tuple[str, ...]:
    """Names of the threshold-in-force columns; they carry the configured percentiles
    (defaults: funding_p85_bps_8h .. taker_lo_p1)."""
    tp = (params or EngineParams()).thresholds
    return tuple(name for spec in THRESHOLD_SPECS for name in spec.columns(tp))


def signal_columns(params: EngineParams | None = None) -> tuple[str, ...]:
    """Every column of `EngineResult.signals`, in order."""
    return (
        "coin",
        "interval",
        "ts",
        *VALUE_COLUMNS,
        *threshold_columns(params),
        *LEVEL_COLUMNS,
        *STATE_COLUMNS,
        *FLAG_COLUMNS,
    )


@dataclass(frozen=True)
class EngineResult:
    signals: pd.DataFrame  # one row per closed bar decided in this run
    events: pd.DataFrame  # alert events of those bars, in bar order
    state: EpisodeState  # pass to the next run to continue without repeating an event


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


def _flag_column(frame: pd.DataFrame, name: str, rows: slice) -> pd.arrays.BooleanArray:
    """A stale/coarser flag of the rows as nullable boolean; unknown (NA) when the input
    lacks it."""
    if name not in frame.columns:
        n = len(range(len(frame))[rows])
        return pd.arrays.BooleanArray(np.zeros(n, dtype=bool), np.ones(n, dtype=bool))
    return pd.array(frame[name], dtype="boolean")[rows]


def _signals_frame(
    frame: pd.DataFrame,
    ts: pd.DatetimeIndex,
    coin: str,
    interval: str,
    scores: LayerScores,
    conf: Confluence,
    directions: NDArray[np.int8],
    run: EpisodeRun,
    params: EngineParams,
) -> pd.DataFrame:
    rows = slice(run.start, None)
    data: dict[str, Any] = {"coin": coin, "interval": interval, "ts": ts[rows]}
    for name in VALUE_COLUMNS:
        if name == "oi_unit":
            data[name] = frame[name].to_numpy(dtype=object)[rows] if name in frame.columns else None
        else:
            data[name] = float_column(frame, name)[rows].copy()  # never a view of the caller's frame
    tp = params.thresholds
    for spec in THRESHOLD_SPECS:
        for j, name in enumerate(spec.columns(tp)):
            data[name] = scores.in_force[spec.metric][rows, j]
    for layer in LAYERS:
        data[f"{layer}_level"] = scores.levels[layer][rows]
    data["taker_side"] = SIDE_BY_CODE[scores.taker_side[rows] + 1]
    data["tightening_trigger"] = scores.trigger[rows]
    data["tightening_factor"] = scores.factor[rows]
    data["layers_triggered"] = conf.layers_triggered[rows]
    data["layers_action"] = conf.layers_action[rows]
    data["layers_extreme"] = conf.layers_extreme[rows]
    data["tier"] = TIER_BY_CODE[conf.tier[rows]]
    data["direction"] = DIRECTION_BY_CODE[directions[rows] + 1]
    data["episode_id"] = run.episode_ids[rows]
    for name in FLAG_COLUMNS:
        data[name] = _flag_column(frame, name, rows)
    # The other arrays are the engine's own, fresh for this call: no second copy (3x faster).
    return pd.DataFrame(data, copy=False)


def _empty_signals(params: EngineParams) -> pd.DataFrame:
    """No closed bars at all: the signals' columns with their usual dtypes."""
    floats = {*VALUE_COLUMNS, *threshold_columns(params), "tightening_factor"} - {"oi_unit"}
    ints = {
        "funding_level",
        "oi_level",
        "liq_level",
        "taker_level",
        "layers_triggered",
        "layers_action",
        "layers_extreme",
    }

    def dtype(name: str) -> str:
        if name == "ts":
            return "datetime64[ns, UTC]"
        if name in floats:
            return "float64"
        if name in ints:
            return "int8"
        if name in FLAG_COLUMNS:
            return "boolean"
        return "bool" if name == "tightening_trigger" else "object"

    return pd.DataFrame({name: pd.Series(dtype=dtype(name)) for name in signal_columns(params)})


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
        return EngineResult(_empty_signals(params), empty_events(), state)
    coin = _single(frame, "coin")
    interval = _single(frame, "interval")
    ts = pd.DatetimeIndex(frame["ts"]).tz_convert("UTC")
    scores = score_layers(frame, interval, params)
    # (bars, layers) as the transpose of a (layers, bars) stack: what confluence_tier counts over.
    conf = confluence_tier(np.stack([scores.levels[layer] for layer in LAYERS]).T, params.confluence)
    liq_side = liquidation_side(
        scores.levels[Layer.LIQUIDATION.prefix], float_column(frame, "liq_polarity"), params.direction
    )
    directions = direction(scores.taker_side, liq_side)
    run = run_episodes(coin, ts, conf.tier, directions, liq_side, params.episodes, state)
    signals = _signals_frame(frame, ts, coin, interval, scores, conf, directions, run, params)
    events = events_frame(frame, ts, coin, interval, scores, conf.layers_triggered, run)
    return EngineResult(signals, events, run.state)
