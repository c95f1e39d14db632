"""Names of the signals' columns (`EngineResult.signals`), in order."""

from __future__ import annotations

from .metrics import LAYERS, THRESHOLD_SPECS
from .params import EngineParams

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
FLOAT_VALUE_COLUMNS = tuple(name for name in VALUE_COLUMNS if name != "oi_unit")
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
