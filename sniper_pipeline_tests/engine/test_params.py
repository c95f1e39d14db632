from __future__ import annotations

import pytest

from sniper_pipeline.engine import (
    ConfluenceParams,
    DirectionParams,
    EngineParams,
    EpisodeParams,
    ThresholdParams,
    TighteningParams,
)


def test_defaults_are_the_design_numbers() -> None:
    p = EngineParams()
    assert (p.thresholds.lookback_bars, p.thresholds.high_percentiles, p.thresholds.low_percentiles) == (
        100,
        (85.0, 95.0, 99.0),
        (15.0, 5.0, 1.0),
    )
    assert (p.tightening.trigger, p.tightening.window_days, p.tightening.decay_bars) == ("extreme", 7.0, 3)
    assert (p.tightening.taker_action_step, p.tightening.oi_roc_action_step_pct) == (0.05, 0.5)
    assert (p.confluence.watch_min_layers, p.confluence.action_min_layers) == (2, 3)
    assert p.confluence.extreme_override_layers is None  # the override is off by default
    assert p.confluence.crash_liq_level is None  # so is the one-sided crash rule
    assert (p.direction.polarity_threshold, p.episodes.clear_bars, p.episodes.escalate_bars) == (0.2, 2, 3)


@pytest.mark.parametrize(
    "build",
    [
        lambda: ThresholdParams(lookback_bars=0),
        lambda: ThresholdParams(lookback_bars=10, min_history_bars=11),
        lambda: ThresholdParams(high_percentiles=(95.0, 85.0, 99.0)),
        lambda: ThresholdParams(low_percentiles=(1.0, 5.0, 15.0)),
        lambda: TighteningParams(trigger="watch"),  # type: ignore[arg-type]
        lambda: TighteningParams(window_bars=0),
        lambda: TighteningParams(decay_bars=-1),
        lambda: ConfluenceParams(watch_min_layers=3, action_min_layers=2),
        lambda: ConfluenceParams(extreme_override_layers=0),
        lambda: DirectionParams(polarity_threshold=0.0),
        lambda: EpisodeParams(clear_bars=0),
    ],
)
def test_invalid_parameters_are_refused(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


def test_params_serialise_for_hashing() -> None:
    data = EngineParams().to_dict()
    assert data["thresholds"]["lookback_bars"] == 100
    assert data["tightening"]["window_bars"] is None


def test_unknown_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="interval"):
        TighteningParams().resolved_window_bars("4 hours")
