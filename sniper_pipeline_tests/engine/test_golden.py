"""Pins run_engine's whole output (signals, events, state) on seeded random bars.

The bars are long enough for the default lookback's fast paths (full windows, the window
tree) and hold NaN values and gaps, ties, spikes, resumed runs and flag columns. The pin
is a digest per column (golden_run_engine.json): a failure names the columns that changed.
After an intended change of the engine's output, regenerate it with
`python -m sniper_pipeline_tests.engine.test_golden` and review the diff.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sniper_pipeline.engine import EngineParams, EngineResult, EpisodeState, run_engine

from .helpers import make_bars

GOLDEN = Path(__file__).with_name("golden_run_engine.json")
N_BARS = 1500


def golden_bars(seed: int) -> pd.DataFrame:
    """Hourly bars with heavy tails, repeated values, NaN scattered and in runs."""
    rng = np.random.default_rng(seed)

    def gappy(x: np.ndarray) -> np.ndarray:
        x = np.where(rng.random(N_BARS) < 0.04, np.nan, x)
        start = int(rng.integers(200, N_BARS - 200))
        x[start : start + int(rng.integers(5, 60))] = np.nan  # an outage
        return x

    bars = make_bars(
        N_BARS,
        coin=f"G{seed}",
        interval="1h",
        funding_bps_8h=gappy(np.round(rng.standard_t(3, N_BARS) * 2, 1)),  # rounded: many ties
        oi_roc_pct=gappy(rng.standard_t(4, N_BARS)),
        liq_long_usd=gappy(np.round(rng.lognormal(10, 2, N_BARS), -3)),
        liq_short_usd=gappy(np.round(rng.lognormal(10, 2, N_BARS), -3)),
        taker_ratio=gappy(np.exp(rng.normal(0, 0.15, N_BARS))),
    )
    stale = pd.array(rng.random(N_BARS) < 0.1, dtype="boolean")
    stale[rng.random(N_BARS) < 0.05] = pd.NA
    bars["funding_is_stale"] = stale
    bars["taker_is_coarser"] = rng.random(N_BARS) < 0.2
    return bars


def run_all() -> dict[str, EngineResult]:
    """Seeded coins in one run each, and one coin resumed in three runs."""
    params = EngineParams()
    results = {f"seed{seed}": run_engine(golden_bars(seed), params) for seed in range(3)}
    bars = golden_bars(3)
    state: EpisodeState | None = None
    for cut in (700, 1100, N_BARS):
        result = run_engine(bars.iloc[:cut], params, state)
        state = result.state
        results[f"resumed{cut}"] = result
    return results


def _column_digest(column: pd.Series) -> str:
    """Digest of a column's dtype and values; floats by their exact bits (NaN and -0.0
    canonical: the frames compare those equal)."""
    if column.dtype == np.float64:
        x = column.to_numpy() + 0.0
        payload = np.where(np.isnan(x), np.nan, x).tobytes()
    else:
        payload = "\x1f".join(map(repr, column.tolist())).encode()
    return hashlib.sha256(str(column.dtype).encode() + b"\0" + payload).hexdigest()[:16]


def digests(result: EngineResult) -> dict[str, Any]:
    return {
        "signals": {name: _column_digest(result.signals[name]) for name in result.signals.columns},
        "events": {name: _column_digest(result.events[name]) for name in result.events.columns},
        "rows": [len(result.signals), len(result.events)],
        "state": result.state.to_dict(),
    }


def test_run_engine_output_is_pinned() -> None:
    expected = json.loads(GOLDEN.read_text())
    actual = {name: digests(result) for name, result in run_all().items()}
    assert actual.keys() == expected.keys()
    for name, got in actual.items():
        want = expected[name]
        assert got["rows"] == want["rows"], name
        assert got["state"] == want["state"], name
        for frame in ("signals", "events"):
            assert list(got[frame]) == list(want[frame]), (name, frame)
            changed = [c for c in got[frame] if got[frame][c] != want[frame][c]]
            assert not changed, f"{name} {frame}: columns changed: {changed}"


def test_golden_bars_exercise_the_engine() -> None:
    """The pin covers events of every kind and bars with too little history."""
    results = run_all()
    kinds = set().union(*(set(r.events["event"]) for r in results.values()))
    assert kinds == {"open", "upgrade", "escalate", "close", "anti_flip_suppressed"}
    signals = results["seed0"].signals
    assert signals["funding_p85_bps_8h"].isna().any() and signals["funding_p85_bps_8h"].notna().any()


if __name__ == "__main__":
    GOLDEN.write_text(
        json.dumps({name: digests(result) for name, result in run_all().items()}, indent=1) + "\n"
    )
    print(f"wrote {GOLDEN}")
