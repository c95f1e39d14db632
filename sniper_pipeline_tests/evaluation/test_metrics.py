import numpy as np
import pandas as pd

from sniper_pipeline.engine import EngineParams, EngineResult
from sniper_pipeline.evaluation.forward import Horizon, forward_metrics
from sniper_pipeline.evaluation.metrics import (
    bootstrap_ci,
    conditional_metric,
    hit_rate,
    lift,
    lift_ci,
    resample_indices,
)

from .helpers import price_bars

H = Horizon("4h", 4 * 3600)


def _series_with_moves(n: int = 600, seed: int = 0):
    """Quiet noise, with a large move right after every alert bar, in the alert's direction."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 0.002, n)
    alerts = np.arange(20, n - 2, 25)
    directions = np.where(np.arange(len(alerts)) % 2 == 0, 1, -1).astype(np.int8)
    steps[alerts + 1] = directions * 0.03  # the step from alert close to the next close
    close = 100 * np.exp(np.cumsum(steps))
    return price_bars(close), alerts, directions


def _arrays(bars):
    fwd = forward_metrics(bars, [H])
    return fwd["absret_4h"].to_numpy(), fwd["rv_4h"].to_numpy(), fwd["ret_4h"].to_numpy()


def test_alerts_before_large_moves_have_lift_and_hit_rate():
    bars, alerts, directions = _series_with_moves()
    absret, rv, ret = _arrays(bars)
    mask = np.zeros(len(bars), dtype=bool)
    mask[alerts] = True
    dirs = np.zeros(len(bars), dtype=np.int8)
    dirs[alerts] = directions
    m = conditional_metric(absret, rv, ret, mask, dirs, n_boot=500, seed=3)
    assert m.n == len(alerts)
    assert m.lift > 5 and m.lift_lo > 1
    assert m.hit_rate == 1.0 and m.hit_n == len(alerts)
    # The wrong direction misses every time.
    assert hit_rate(ret[alerts], -directions) == 0.0


def test_shuffled_control_has_lift_near_one():
    bars, _, _ = _series_with_moves(n=3000, seed=1)
    absret = _arrays(bars)[0]
    rng = np.random.default_rng(7)
    lifts = []
    for _ in range(30):
        mask = np.zeros(len(bars), dtype=bool)
        mask[rng.choice(len(bars) - 1, size=200, replace=False)] = True
        lifts.append(lift(absret[mask], absret))
    assert abs(np.mean(lifts) - 1) < 0.05
    mask = np.zeros(len(bars), dtype=bool)
    mask[rng.choice(len(bars) - 1, size=200, replace=False)] = True
    lo, hi = lift_ci(absret[mask], absret, n_boot=500, seed=0)
    assert lo < 1 < hi


def test_bootstrap_is_seeded_and_reproducible():
    values = np.random.default_rng(0).normal(size=50)
    assert bootstrap_ci(values, seed=5) == bootstrap_ci(values, seed=5)
    assert bootstrap_ci(values, seed=5) != bootstrap_ci(values, seed=6)
    assert bootstrap_ci(values, seed=5, block=4) == bootstrap_ci(values, seed=5, block=4)
    a, b = np.abs(values), np.abs(values[::-1]) + 0.1
    assert lift_ci(a, b, seed=1) == lift_ci(a, b, seed=1)


def test_few_events_give_wide_intervals_not_nan():
    values = np.random.default_rng(0).exponential(size=1000)
    lo3, hi3 = lift_ci(values[:3], values, n_boot=1000)
    lo300, hi300 = lift_ci(values[:300], values, n_boot=1000)
    assert np.isfinite([lo3, hi3]).all()
    assert hi3 - lo3 > 2 * (hi300 - lo300)
    assert np.isnan(lift_ci(values[:0], values)[0])


def test_block_resampling_keeps_runs():
    idx = resample_indices(12, 20, np.random.default_rng(0), block=3)
    assert idx.shape == (20, 12)
    steps = np.diff(idx, axis=1) % 12
    assert (steps[:, [0, 1, 3, 4, 6, 7]] == 1).all()  # inside each block of 3 the indices run on
    # A block as long as the sample would only rotate it: capped at a quarter of the sample.
    short = resample_indices(8, 50, np.random.default_rng(0), block=8)
    assert len({tuple(np.sort(row)) for row in short}) > 1


def test_evaluate_result_on_events():
    from sniper_pipeline.evaluation.table import evaluate_result

    bars, alerts, directions = _series_with_moves()
    signals = bars[["coin", "interval", "ts"]].assign(tier="none", direction="mixed", funding_p85_bps_8h=1.0)
    events = pd.DataFrame(
        {
            "coin": "BTC",
            "event": "open",
            "tier": "action",
            "direction": np.where(directions > 0, "up", "down"),
            "ts": bars["ts"].iloc[alerts].to_numpy(),
        }
    )
    from sniper_pipeline.engine import EpisodeState

    result = EngineResult(signals, events, EpisodeState("BTC"))
    table = evaluate_result(bars, result, EngineParams(), horizons=[H], n_boot=300)
    row = table[(table.subject == "event") & (table.tier == "action")].iloc[0]
    assert row["n"] == len(alerts) and row["lift"] > 5 and row["hit_rate"] == 1.0
    assert row["per_week"] > 0
