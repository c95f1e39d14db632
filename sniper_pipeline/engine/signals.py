"""The signals frame: one row per closed bar decided in a run, for every coin of the run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .batch import BarColumns
from .columns import FLAG_COLUMNS, FLOAT_VALUE_COLUMNS, VALUE_COLUMNS, signal_columns, threshold_columns
from .confluence import DIRECTION_BY_CODE, TIER_BY_CODE, Confluence
from .levels import SIDE_BY_CODE
from .metrics import LAYERS, THRESHOLD_SPECS
from .params import EngineParams
from .scoring import LayerScores

IntArray = NDArray[np.intp]


def signals_frame(
    bars: BarColumns,
    scores: LayerScores,
    conf: Confluence,
    directions: NDArray[np.int8],
    episode_ids: NDArray[np.object_],
    rows: IntArray | None,
    params: EngineParams,
) -> pd.DataFrame:
    """The signals of bars `rows` (None: every bar) in that order; `episode_ids` per bar."""

    def pick(values: Any) -> Any:
        return values if rows is None else values[rows]

    def per_coin(values: tuple[str, ...]) -> Any:
        if len(set(values)) == 1:
            return values[0]  # pandas repeats a scalar
        return pick(bars.segments.per_bar(np.array(values, dtype=object)))

    data: dict[str, Any] = {
        "coin": per_coin(bars.coins),
        "interval": per_coin(bars.intervals),
        "ts": pick(bars.ts),
    }
    for name in VALUE_COLUMNS:
        if name == "oi_unit":
            data[name] = None if bars.oi_unit is None else pick(bars.oi_unit)
        else:
            data[name] = pick(bars.floats[name])
    tp = params.thresholds
    for spec in THRESHOLD_SPECS:
        for j, name in enumerate(spec.columns(tp)):
            data[name] = pick(scores.in_force[spec.metric][:, j])
    for layer in LAYERS:
        data[f"{layer}_level"] = pick(scores.levels[layer])
    data["taker_side"] = SIDE_BY_CODE[pick(scores.taker_side) + 1]
    data["tightening_trigger"] = pick(scores.trigger)
    data["tightening_factor"] = pick(scores.factor)
    data["layers_triggered"] = pick(conf.layers_triggered)
    data["layers_action"] = pick(conf.layers_action)
    data["layers_extreme"] = pick(conf.layers_extreme)
    data["tier"] = TIER_BY_CODE[pick(conf.tier)]
    data["direction"] = DIRECTION_BY_CODE[pick(directions) + 1]
    data["episode_id"] = episode_ids
    for name in FLAG_COLUMNS:
        data[name] = pick(bars.flags[name])
    # Every array is the engine's own (bars.floats are copies), fresh for this run: no second
    # copy (3x faster).
    return pd.DataFrame(data, copy=False)


def empty_signals(params: EngineParams) -> pd.DataFrame:
    """No closed bars at all: the signals' columns with their usual dtypes."""
    floats = {*FLOAT_VALUE_COLUMNS, *threshold_columns(params), "tightening_factor"}
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
