from __future__ import annotations

import numpy as np
import pytest

from sniper_pipeline.engine import score_layers

from .helpers import make_bars, ramp, small_params


@pytest.mark.parametrize(
    ("funding", "taker", "level", "side"),
    [(8.6, 2.4, 0, 0), (8.7, 2.3, 1, -1), (9.6, 1.4, 2, -1), (9.95, 1.05, 3, -1), (9.95, 9.95, 3, 1)],
)
def test_levels_per_layer_on_a_known_window(funding: float, taker: float, level: int, side: int) -> None:
    # Bar 10 sees bars 0..9 = 1..10: p85 8.65, p95 9.55, p99 9.91 and p15 2.35, p5 1.45, p1 1.09.
    funding_values, taker_values = ramp(11), ramp(11)
    funding_values[10], taker_values[10] = funding, taker
    scores = score_layers(
        make_bars(11, funding_bps_8h=funding_values, taker_ratio=taker_values), "4h", small_params()
    )
    assert scores.levels["funding"][10] == level
    assert (scores.levels["taker"][10], scores.taker_side[10]) == (level, side)
    assert scores.levels["funding"][:10].tolist() == [0] * 10  # no history yet
    np.testing.assert_allclose(scores.in_force["funding_abs_bps_8h"][10], [8.65, 9.55, 9.91])
    np.testing.assert_allclose(scores.in_force["taker_ratio_low"][10], [2.35, 1.45, 1.09])


@pytest.mark.parametrize(("value", "level"), [(-9.6, 2), (9.6, 2), (-8.0, 0)])
def test_oi_roc_is_scored_on_its_magnitude(value: float, level: int) -> None:
    oi = ramp(11)
    oi[10] = value
    scores = score_layers(make_bars(11, oi_roc_pct=oi), "4h", small_params())
    assert scores.levels["oi"][10] == level
