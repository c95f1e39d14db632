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
    run_engine,
)

from .helpers import make_bars, ramp, small_params

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


# Levels in LAYERS order: funding, OI, liquidations, taker.
CRASH = ConfluenceParams(crash_liq_level=3, crash_oi_level=2)


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ([0, 2, 3, 0], "action"),  # liquidations extreme, OI flushed at action: a one-sided crash
        ([0, 3, 3, 0], "action"),
        ([1, 2, 3, 1], "action"),  # quiet funding and taker do not hold it back
        ([0, 1, 3, 0], "watch"),  # OI only at watch: two layers, plain confluence
        ([0, 0, 3, 0], "none"),  # liquidations alone
        ([0, 2, 2, 0], "watch"),  # liquidations only at action
        ([0, 3, 2, 0], "watch"),  # the levels swapped: OI extreme, liquidations action
        ([3, 0, 0, 2], "watch"),  # funding and taker at those levels are not a crash
    ],
)
def test_crash_rule_needs_liquidations_and_oi_at_their_levels(levels: list[int], expected: str) -> None:
    assert _tier(levels, CRASH) == expected


def test_crash_rule_is_off_by_default() -> None:
    assert ConfluenceParams().crash_liq_level is None
    assert _tier([0, 2, 3, 0]) == "watch"
    assert _tier([0, 3, 3, 0], ConfluenceParams(crash_oi_level=0)) == "watch"  # OI level alone: still off


def test_crash_rule_with_oi_level_zero_is_liquidations_alone() -> None:
    params = ConfluenceParams(watch_min_layers=3, crash_liq_level=3, crash_oi_level=0)
    assert _tier([0, 0, 3, 0], params) == "action"
    assert _tier([0, 0, 2, 0], params) == "none"
    assert _tier([0, 0, 2, 0], ConfluenceParams(crash_liq_level=2, crash_oi_level=0)) == "action"


def test_crash_rule_is_vectorised_over_bars() -> None:
    levels = np.array([[0, 2, 3, 0], [0, 1, 3, 0], [0, 2, 3, 0], [0, 0, 0, 0]], dtype=np.int8)
    assert confluence_tier(levels, CRASH).tier.tolist() == [2, 1, 2, 0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"crash_liq_level": 1},  # would make action without any layer at action
        {"crash_liq_level": 4},
        {"crash_liq_level": 0},
        {"crash_liq_level": 3, "crash_oi_level": -1},
        {"crash_liq_level": 3, "crash_oi_level": 4},
        {"crash_oi_level": 4},  # checked even while the rule is off
    ],
)
def test_crash_rule_levels_are_validated(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="crash_"):
        ConfluenceParams(**kwargs)


def test_crash_bar_in_the_engine_is_action_with_the_liquidations_direction() -> None:
    """Ramp layers (every 10-bar window holds 1..10: p85 8.65, p95 9.55, p99 9.91); at bar 15 shorts
    are flushed far above the extreme and OI moves to its action band, funding and taker stay flat."""
    n, bar = 20, 15
    short_usd, oi = ramp(n), ramp(n)
    short_usd[bar], oi[bar] = 50.0, 9.7
    bars = make_bars(
        n, funding_bps_8h=1.0, oi_roc_pct=oi, liq_long_usd=0.0, liq_short_usd=short_usd, taker_ratio=1.0
    )
    params = small_params(watch_min_layers=3, crash_liq_level=3, crash_oi_level=2)
    signals = run_engine(bars, params).signals
    row = signals.iloc[bar]
    assert (row["funding_level"], row["oi_level"], row["liq_level"], row["taker_level"]) == (0, 2, 3, 0)
    assert (row["tier"], row["direction"]) == ("action", "up")  # shorts liquidated: price went up
    assert signals["tier"].tolist().count("action") == 1
    events = run_engine(bars, params).events
    assert list(zip(events["event"], events["tier"], strict=True))[:1] == [("open", "action")]
    assert run_engine(bars, small_params(watch_min_layers=3)).signals.iloc[bar]["tier"] == "none"


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
