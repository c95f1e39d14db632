"""Per-bar layer scoring: rolling thresholds, tightening, levels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .levels import combine_bands, high_band_level, low_band_level
from .metrics import FUNDING, LIQ_TOTAL, OI_ROC, TAKER_HIGH, TAKER_LOW, ThresholdSpec, float_column
from .params import EngineParams
from .segments import Segments
from .thresholds import rolling_percentile_rows
from .tightening import tighten_lower, tighten_upper, tightening_factor, trigger_flags

FloatArray = NDArray[np.float64]
Int8Array = NDArray[np.int8]


@dataclass(frozen=True)
class LayerScores:
    """Per bar: the compared values, the thresholds in force and the levels."""

    values: dict[str, FloatArray]  # by spec metric name
    in_force: dict[str, FloatArray]  # by spec metric name: (bars, 3) watch, action, extreme
    levels: dict[str, Int8Array]  # by layer: funding, oi, liq, taker
    taker_side: Int8Array  # 1 up (high band), -1 down (low band), 0 none
    trigger: NDArray[np.bool_]  # liquidations above the tightening trigger
    factor: FloatArray  # tightening factor in force


SOURCES = tuple(dict.fromkeys(spec.source for spec in (FUNDING, OI_ROC, LIQ_TOTAL, TAKER_HIGH)))


def score_layers(frame: pd.DataFrame, interval: str, params: EngineParams) -> LayerScores:
    """Thresholds from the bars before each bar, tightened after big liquidations, then levels."""
    columns = {name: float_column(frame, name) for name in SOURCES}
    return score_segments(columns, Segments.of([len(frame)]), [interval], params)


def score_segments(
    columns: Mapping[str, FloatArray], segments: Segments, intervals: Sequence[str], params: EngineParams
) -> LayerScores:
    """`score_layers` of several coins laid end to end (`columns`: the SOURCES as float64,
    `intervals`: each coin's grid): nothing looks back past a coin's first bar."""
    n = int(segments.bounds[-1])
    tp = params.thresholds
    values = {}
    for spec in (FUNDING, OI_ROC, LIQ_TOTAL, TAKER_HIGH):
        source = columns[spec.source]
        values[spec.metric] = np.abs(source) if spec.absolute else source
    values[TAKER_LOW.metric] = values[TAKER_HIGH.metric]

    # One call for every metric (both taker bands from one series); the rows are
    # (percentiles, n + 1) arrays and in_force holds their (bars, 3) transposed views.
    funding, oi_roc, liq, taker = rolling_percentile_rows(
        [values[spec.metric] for spec in (FUNDING, OI_ROC, LIQ_TOTAL, TAKER_HIGH)],
        tp.lookback_bars,
        [
            *(spec.percentiles(tp) for spec in (FUNDING, OI_ROC, LIQ_TOTAL)),
            tp.high_percentiles + tp.low_percentiles,
        ],
        tp.min_history_bars,
        segments.bounds.tolist(),
    )
    in_force = {
        FUNDING.metric: funding[:, :n].T,
        OI_ROC.metric: oi_roc[:, :n].T,
        LIQ_TOTAL.metric: liq[:, :n].T,
        TAKER_HIGH.metric: taker[:3, :n].T,
        TAKER_LOW.metric: taker[3:, :n].T,
    }

    # The liquidation trigger uses the untightened liq thresholds (liq is never tightened).
    tt = params.tightening
    liq = in_force[LIQ_TOTAL.metric]
    trigger = trigger_flags(values[LIQ_TOTAL.metric], liq[:, 2 if tt.trigger == "extreme" else 1])
    windows = [tt.resolved_window_bars(interval) for interval in intervals]  # per coin
    factor = tightening_factor(
        trigger,
        segments.per_bar(windows) if len(set(windows)) > 1 else windows[0],
        tt.decay_bars,
        segments.first_bar() if len(segments) > 1 else None,
    )
    for spec, step, tighten in (
        (OI_ROC, tt.oi_roc_action_step_pct, tighten_upper),
        (TAKER_HIGH, tt.taker_action_step, tighten_upper),
        (TAKER_LOW, tt.taker_action_step, tighten_lower),
    ):
        t = in_force[spec.metric]
        t[:, 1] = tighten(t[:, 1], t[:, 2], step, factor)  # the action threshold, in place

    def level(spec: ThresholdSpec) -> Int8Array:
        t = in_force[spec.metric]
        band = high_band_level if spec.band == "high" else low_band_level
        return band(values[spec.metric], t[:, 0], t[:, 1], t[:, 2])

    taker_level, taker_side = combine_bands(level(TAKER_HIGH), level(TAKER_LOW))
    levels = {  # keyed by layer prefix, in LAYERS order
        FUNDING.layer: level(FUNDING),
        OI_ROC.layer: level(OI_ROC),
        LIQ_TOTAL.layer: level(LIQ_TOTAL),
        TAKER_HIGH.layer: taker_level,
    }
    return LayerScores(values, in_force, levels, taker_side, trigger, factor)
