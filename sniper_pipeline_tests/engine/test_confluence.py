from __future__ import annotations

import numpy as np
import pytest

from sniper_pipeline.engine import (
    TIER_NAMES,
    ConfluenceParams,
    DirectionParams,
    confluence_tier,
    direction,
    liquidation_side,
)

UP, DOWN, NONE = 1, -1, 0


def _tier(levels: list[int], params: ConfluenceParams | None = None) -> str:
    conf = confluence_tier(np.array([levels], dtype=np.int8), params or ConfluenceParams())
    return TIER_NAMES[int(conf.tier[0])]


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ([0, 0, 0, 0], "none"),
        ([3, 0, 0, 0], "none"),  # one layer, even extreme, is not confluence
        ([1, 1, 0, 0], "watch"),
        ([3, 3, 0, 0], "watch"),  # two layers never make action by default
        ([1, 1, 1, 0], "watch"),  # three layers but none at action
        ([1, 1, 2, 0], "action"),
        ([0, 2, 1, 1], "action"),
        ([3, 1, 1, 1], "action"),
        ([1, 1, 1, 1], "watch"),
    ],
)
def test_tier_table(levels: list[int], expected: str) -> None:
    assert _tier(levels) == expected


def test_layer_counts_are_parameters() -> None:
    strict = ConfluenceParams(watch_min_layers=3, action_min_layers=4, action_min_action_layers=2)
    assert _tier([1, 1, 0, 0], strict) == "none"
    assert _tier([1, 1, 1, 0], strict) == "watch"
    assert _tier([2, 1, 1, 1], strict) == "watch"
    assert _tier([2, 2, 1, 1], strict) == "action"


def test_extreme_override_is_off_by_default_and_documented_when_on() -> None:
    crash = [3, 3, 0, 0]  # funding and liquidations at extreme, nothing else
    assert _tier(crash) == "watch"
    assert _tier(crash, ConfluenceParams(extreme_override_layers=2)) == "action"
    assert _tier([3, 2, 0, 0], ConfluenceParams(extreme_override_layers=2)) == "watch"


def test_layer_counts_are_reported() -> None:
    conf = confluence_tier(np.array([[3, 2, 1, 0]], dtype=np.int8), ConfluenceParams())
    assert (conf.layers_triggered[0], conf.layers_action[0], conf.layers_extreme[0]) == (3, 2, 1)


@pytest.mark.parametrize(
    ("liq_level", "polarity", "expected"),
    [
        (1, 0.2, DOWN),  # longs liquidated: price fell
        (1, 0.9, DOWN),
        (1, 0.19, NONE),
        (1, -0.2, UP),  # shorts liquidated: price rose
        (3, -1.0, UP),
        (1, 0.0, NONE),
        (0, 0.9, NONE),  # the liq layer itself is quiet: polarity does not speak
        (1, float("nan"), NONE),
    ],
)
def test_liquidation_side(liq_level: int, polarity: float, expected: int) -> None:
    side = liquidation_side(np.array([liq_level], dtype=np.int8), np.array([polarity]), DirectionParams())
    assert side.tolist() == [expected]


def test_polarity_can_speak_without_the_liq_level() -> None:
    params = DirectionParams(polarity_requires_liq_level=False)
    side = liquidation_side(np.array([0], dtype=np.int8), np.array([0.9]), params)
    assert side.tolist() == [DOWN]


@pytest.mark.parametrize(
    ("taker", "liq", "expected"),
    [
        (UP, UP, UP),  # agreement
        (DOWN, DOWN, DOWN),
        (UP, NONE, UP),  # one signal alone
        (NONE, DOWN, DOWN),
        (UP, DOWN, NONE),  # disagreement: mixed
        (DOWN, UP, NONE),
        (NONE, NONE, NONE),  # neither: mixed
    ],
)
def test_direction_table(taker: int, liq: int, expected: int) -> None:
    got = direction(np.array([taker], dtype=np.int8), np.array([liq], dtype=np.int8))
    assert got.tolist() == [expected]
