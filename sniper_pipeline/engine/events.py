"""Alert events as a DataFrame, with a flat snapshot of the layers on the event's bar.

The snapshot is columns (value compared, threshold in force for the level reached, level,
per layer) rather than a dict per row: gathered in one vectorised step, and typed columns
in the warehouse. `event_layers(row)` gives the dict of the triggered layers for messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sniper_pipeline.settings.layer import Layer

from .batch import BarColumns
from .episodes import EpisodeRuns
from .levels import LEVEL_NAMES, SIDE_BY_CODE, SIDE_UP
from .metrics import FUNDING, LIQ_TOTAL, OI_ROC, TAKER_HIGH, TAKER_LOW
from .scoring import LayerScores

# layer -> (value column, threshold column); the value columns share the signals' names.
SNAPSHOT_COLUMNS = {
    Layer.FUNDING.prefix: ("funding_abs_bps_8h", "funding_threshold_bps_8h"),
    # the threshold applies to |oi_roc_pct|
    Layer.OPEN_INTEREST.prefix: ("oi_roc_pct", "oi_roc_threshold_pct"),
    Layer.LIQUIDATION.prefix: ("liq_total_usd", "liq_total_threshold_usd"),
    Layer.TAKER.prefix: ("taker_ratio", "taker_threshold"),
}
EVENT_COLUMNS = (
    "coin",
    "interval",
    "episode_id",
    "event",
    "tier",
    "direction",
    "ts",
    "dedup_key",
    "attempted_direction",
    "layers_triggered",
    "funding_abs_bps_8h",
    "funding_threshold_bps_8h",
    "funding_level",
    "oi_roc_pct",
    "oi_roc_threshold_pct",
    "oi_level",
    "liq_total_usd",
    "liq_total_threshold_usd",
    "liq_level",
    "liq_polarity",
    "taker_ratio",
    "taker_threshold",
    "taker_level",
    "taker_side",
)
_INT_COLUMNS = ("layers_triggered", "funding_level", "oi_level", "liq_level", "taker_level")
_FLOAT_COLUMNS = (*(name for pair in SNAPSHOT_COLUMNS.values() for name in pair), "liq_polarity")
# Column dtypes, the same whether or not a run has events (so results concatenate cleanly).
EVENT_DTYPES: dict[str, str] = {
    **{name: "object" for name in EVENT_COLUMNS},
    "ts": "datetime64[ns, UTC]",
    **{name: "int8" for name in _INT_COLUMNS},
    **{name: "float64" for name in _FLOAT_COLUMNS},
}


def _threshold_reached(
    in_force: NDArray[np.float64], index: NDArray[np.intp], level: NDArray[np.int8]
) -> NDArray[np.float64]:
    """The threshold in force at bars `index` for their level (NaN at level 0)."""
    out = np.full(index.shape[0], np.nan)
    # One gather per level from its (contiguous) column: ~4x faster than indexing (bars, 3)
    # with two index arrays.
    for j in range(in_force.shape[1]):
        at = np.flatnonzero(level == j + 1)
        out[at] = in_force[:, j][index[at]]
    return out


def empty_events() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=EVENT_DTYPES[name]) for name in EVENT_COLUMNS})


def events_frame(
    bars: BarColumns,
    scores: LayerScores,
    layers_triggered: NDArray[np.int8],
    runs: EpisodeRuns,
) -> pd.DataFrame:
    """One row per event of `runs`, coin after coin, in bar order."""
    if not len(runs.event):
        return empty_events()
    index = runs.event_index

    def per_coin(values: tuple[str, ...]) -> Any:
        if len(set(values)) == 1:
            return values[0]  # pandas repeats a scalar
        return np.repeat(np.array(values, dtype=object), runs.event_counts)

    data: dict[str, Any] = {
        "coin": per_coin(bars.coins),
        "interval": per_coin(bars.intervals),
        "episode_id": runs.episode_id,
        "event": runs.event,
        "tier": runs.tier,
        "direction": runs.direction,
        "ts": bars.ts[index],
        "dedup_key": runs.dedup_key,
        "attempted_direction": runs.attempted_direction,
        "layers_triggered": layers_triggered[index],
    }
    taker_up = scores.taker_side[index] == SIDE_UP
    for spec in (FUNDING, OI_ROC, LIQ_TOTAL):
        layer = spec.layer
        level = scores.levels[layer][index]
        value_col, threshold_col = SNAPSHOT_COLUMNS[layer]
        data[value_col] = bars.floats[value_col][index]
        data[threshold_col] = _threshold_reached(scores.in_force[spec.metric], index, level)
        data[f"{layer}_level"] = level
        if layer == Layer.LIQUIDATION.prefix:
            data["liq_polarity"] = bars.floats["liq_polarity"][index]
    level = scores.levels[Layer.TAKER.prefix][index]
    data["taker_ratio"] = scores.values[TAKER_HIGH.metric][index]
    taker_threshold = np.empty(index.shape[0])
    for band, spec in ((taker_up, TAKER_HIGH), (~taker_up, TAKER_LOW)):
        at = np.flatnonzero(band)  # each event reads the band its side came from
        taker_threshold[at] = _threshold_reached(scores.in_force[spec.metric], index[at], level[at])
    data["taker_threshold"] = taker_threshold
    data["taker_level"] = level
    data["taker_side"] = SIDE_BY_CODE[scores.taker_side[index] + 1]
    # Every array here is a fresh gather, or the runs' own (not shared with anything else).
    return pd.DataFrame(data, copy=False)


def event_layers(event: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The triggered layers of an event row: layer -> {value, threshold, level} (+ side or polarity).

    `value` is the reading compared with the threshold (|OI ROC| for oi).
    """
    out: dict[str, dict[str, Any]] = {}
    for layer, (value_col, threshold_col) in SNAPSHOT_COLUMNS.items():
        level = int(event[f"{layer}_level"])
        if level <= 0:
            continue
        value = float(event[value_col])
        entry: dict[str, Any] = {
            "value": abs(value) if layer == Layer.OPEN_INTEREST.prefix else value,
            "threshold": float(event[threshold_col]),
            "level": LEVEL_NAMES[level],
        }
        if layer == Layer.TAKER.prefix:
            entry["side"] = event["taker_side"]
        elif layer == Layer.LIQUIDATION.prefix:
            entry["polarity"] = float(event["liq_polarity"])
        out[layer] = entry
    return out
