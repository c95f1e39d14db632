"""Confluence tier and direction per bar.

Tier: watch when >= `watch_min_layers` layers are at level >= 1; action when
>= `action_min_layers` layers are at level >= 1 and >= `action_min_action_layers` of them at
level >= 2; optionally (off by default) action when >= `extreme_override_layers` layers are
at extreme, and action for a one-sided crash: the liq layer at >= `crash_liq_level` and the OI
layer at >= `crash_oi_level`, whatever funding and taker flow do.

Direction: the taker band side (high = up, low = down) and the liquidation side (polarity
>= +t: longs flushed = down; <= -t: shorts flushed = up). Agreement or one signal alone
gives the direction; disagreement or neither gives mixed. Funding and OI have no side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sniper_pipeline.settings.layer import Layer

from .levels import ACTION, EXTREME, SIDE_DOWN, SIDE_NONE, SIDE_UP, WATCH
from .metrics import LAYERS
from .params import ConfluenceParams, DirectionParams

TIER_NONE, TIER_WATCH, TIER_ACTION = 0, 1, 2
TIER_NAMES = ("none", "watch", "action")

# Directions reuse the side codes: 1 up, -1 down, 0 mixed.
DIRECTION_MIXED = SIDE_NONE
DIRECTION_NAMES = {SIDE_UP: "up", SIDE_DOWN: "down", DIRECTION_MIXED: "mixed"}
TIER_BY_CODE = np.array(TIER_NAMES, dtype=object)  # for vectorised naming
DIRECTION_BY_CODE = np.array(["down", "mixed", "up"], dtype=object)  # index = code + 1

Int8Array = NDArray[np.int8]

# Columns of the levels array passed to `confluence_tier` (LAYERS order).
OI_COLUMN, LIQ_COLUMN = LAYERS.index(Layer.OPEN_INTEREST.prefix), LAYERS.index(Layer.LIQUIDATION.prefix)


@dataclass(frozen=True)
class Confluence:
    tier: Int8Array
    layers_triggered: Int8Array  # layers at level >= 1
    layers_action: Int8Array  # layers at level >= 2
    layers_extreme: Int8Array  # layers at level 3


def confluence_tier(levels: NDArray[np.int8], params: ConfluenceParams) -> Confluence:
    """Tier per bar from a (bars, layers) array of levels, columns in `LAYERS` order."""
    # Counted over a (layers, bars) copy: sums along the short axis are ~20x slower.
    by_layer = np.ascontiguousarray(levels.T)
    triggered = (by_layer >= WATCH).sum(axis=0, dtype=np.int8)
    action = (by_layer >= ACTION).sum(axis=0, dtype=np.int8)
    extreme = (by_layer >= EXTREME).sum(axis=0, dtype=np.int8)
    is_action = (triggered >= params.action_min_layers) & (action >= params.action_min_action_layers)
    if params.extreme_override_layers is not None:
        is_action |= extreme >= params.extreme_override_layers
    if params.crash_liq_level is not None:
        is_action |= crash_bars(levels, params.crash_liq_level, params.crash_oi_level)
    is_watch = triggered >= params.watch_min_layers
    tier = np.where(is_action, TIER_ACTION, np.where(is_watch, TIER_WATCH, TIER_NONE)).astype(np.int8)
    return Confluence(tier, triggered, action, extreme)


def crash_bars(levels: NDArray[np.int8], liq_level: int, oi_level: int) -> NDArray[np.bool_]:
    """One-sided crash: liquidations at >= `liq_level` and OI at >= `oi_level` on the same bar."""
    return (levels[:, LIQ_COLUMN] >= liq_level) & (levels[:, OI_COLUMN] >= oi_level)


def liquidation_side(
    liq_level: Int8Array, polarity: NDArray[np.float64], params: DirectionParams
) -> Int8Array:
    """Side told by the liquidations: down when longs were flushed, up when shorts were.

    Gated by the liq layer's own level unless `polarity_requires_liq_level` is off.
    """
    t = params.polarity_threshold
    # SIDE_UP = 1 and SIDE_DOWN = -1; with t > 0 at most one flag is set (NaN sets none).
    side = (polarity <= -t).view(np.int8) - (polarity >= t).view(np.int8)
    if params.polarity_requires_liq_level:
        side *= (liq_level >= WATCH).view(np.int8)
    return side


def direction(taker_side: Int8Array, liq_side: Int8Array) -> Int8Array:
    """Up/down when the two signals agree or only one speaks; mixed otherwise."""
    agree_or_alone = (taker_side == liq_side) | (taker_side == SIDE_NONE) | (liq_side == SIDE_NONE)
    # With one side 0, the sum is the other side; with both equal, sign(2 * side) = side.
    return np.where(agree_or_alone, np.sign(taker_side + liq_side), DIRECTION_MIXED).astype(np.int8)
