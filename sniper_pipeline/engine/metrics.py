"""What is thresholded: one spec per (metric, band), shared by the rolling engine and the
percentile configs so both name and compute things the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sniper_pipeline.settings.layer import Layer

from .params import ThresholdParams

Band = Literal["high", "low"]
LAYERS = tuple(layer.prefix for layer in Layer)  # the engine keys a layer by its column prefix


@dataclass(frozen=True)
class ThresholdSpec:
    layer: str
    metric: str  # name in percentile configs; unique per (metric, band)
    source: str  # input column of fct_layer_bars
    unit: str
    band: Band
    stem: str  # output column stem: funding_p85_bps_8h, taker_lo_p15, ...
    unit_suffix: str
    absolute: bool = False  # threshold the magnitude of a signed source

    def percentiles(self, params: ThresholdParams) -> tuple[float, float, float]:
        """Percentiles for watch, action, extreme."""
        return params.high_percentiles if self.band == "high" else params.low_percentiles

    def columns(self, params: ThresholdParams) -> tuple[str, str, str]:
        """Output column names of the watch, action and extreme thresholds in force."""
        return tuple(  # type: ignore[return-value]
            f"{self.stem}_p{_percentile_label(p)}{self.unit_suffix}" for p in self.percentiles(params)
        )


FUNDING = ThresholdSpec(
    Layer.FUNDING.prefix, "funding_abs_bps_8h", "funding_abs_bps_8h", "bps_8h", "high", "funding", "_bps_8h"
)
# |OI ROC|: a flush and a build-up are both stress; the sign is not a direction signal.
OI_ROC = ThresholdSpec(
    Layer.OPEN_INTEREST.prefix, "oi_roc_abs_pct", "oi_roc_pct", "pct", "high", "oi_roc", "_pct", absolute=True
)
LIQ_TOTAL = ThresholdSpec(
    Layer.LIQUIDATION.prefix, "liq_total_usd", "liq_total_usd", "usd", "high", "liq_total", "_usd"
)
TAKER_HIGH = ThresholdSpec(
    Layer.TAKER.prefix, "taker_ratio_high", "taker_ratio", "ratio", "high", "taker_hi", ""
)
TAKER_LOW = ThresholdSpec(
    Layer.TAKER.prefix, "taker_ratio_low", "taker_ratio", "ratio", "low", "taker_lo", ""
)
THRESHOLD_SPECS = (FUNDING, OI_ROC, LIQ_TOTAL, TAKER_HIGH, TAKER_LOW)


def _percentile_label(p: float) -> str:
    return f"{p:g}".replace(".", "_")


def float_column(bars: pd.DataFrame, name: str) -> NDArray[np.float64]:
    """A numeric column as float64; an absent column is all-NaN (a missing layer)."""
    if name not in bars.columns:
        return np.full(len(bars), np.nan)
    column = bars[name]
    if column.dtype == np.float64:  # the usual case: no conversion (callers never write to it)
        return column.to_numpy()
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def metric_values(bars: pd.DataFrame, spec: ThresholdSpec) -> NDArray[np.float64]:
    """The thresholded series of a spec (absolute value for OI ROC)."""
    values = float_column(bars, spec.source)
    return np.abs(values) if spec.absolute else values
