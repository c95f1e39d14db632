"""Signal engine benchmark: 10 coins x 8,760 hourly bars (a year), full engine vs a naive loop.

The bars are block-bootstrapped from the recorded 4h series (joint rows of every layer, so
the layers keep their co-movement), relabelled as hourly bars. The engine run is
one `run_engine_many` call over all coins, as a scan scores them (rolling thresholds for
every metric and band, tightening, confluence, direction, episodes, one signals and one
events frame). The naive reference loops bar by bar and calls `np.percentile` on each
window's valid values for every metric and band; the script checks that both give the
same thresholds.

    python benchmarks/engine.py [--data-dir DIR] [--coins 10] [--bars 8760] [--repeats 7]

Writes benchmarks/results/engine.json: bars, engine_s (best of --repeats), naive_s, ratio,
peak_rss_mb, plus context: each run's time, the entry point timed, the machine's load
average (other work on a shared 2-core machine slows the engine runs; the best of several
runs is reported).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from a checkout

from sniper_pipeline.engine import EngineParams, run_engine_many  # noqa: E402
from sniper_pipeline.engine.columns import FLOAT_VALUE_COLUMNS  # noqa: E402
from sniper_pipeline.engine.metrics import THRESHOLD_SPECS, metric_values  # noqa: E402
from sniper_pipeline.engine.thresholds import rolling_percentile_rows  # noqa: E402
from sniper_pipeline.replay.bars import RECORDED_COINS, build_bars  # noqa: E402

# The engine's float inputs but the price (the bootstrap copies rows of every layer).
METRIC_COLUMNS = tuple(name for name in FLOAT_VALUE_COLUMNS if name != "close_usd")


def default_data_dir() -> Path:
    """The shipped sample (extracted once by its helper), else the shared recordings."""
    if (REPO / "sniper_pipeline" / "sample" / "coinglass-real.tar.xz").is_file():
        from sniper_pipeline.replay.sample import sample_dir

        return sample_dir()
    return REPO.parent / "shared" / "fixtures" / "coinglass-real"


def bootstrap_bars(
    sources: list[pd.DataFrame], coin: str, n_bars: int, block: int, seed: int
) -> pd.DataFrame:
    """A coin of `n_bars` hourly bars made of random `block`-bar runs of the recorded rows."""
    rng = np.random.default_rng(seed)
    parts = []
    total = 0
    while total < n_bars:
        source = sources[rng.integers(len(sources))]
        start = int(rng.integers(0, len(source) - block))
        parts.append(source.iloc[start : start + block])
        total += block
    rows = pd.concat(parts, ignore_index=True).iloc[:n_bars]
    bars = rows[list(METRIC_COLUMNS)].reset_index(drop=True)
    bars.insert(0, "coin", coin)
    bars.insert(1, "interval", "1h")
    bars.insert(2, "ts", pd.date_range("2024-01-01", periods=n_bars, freq="1h", tz="UTC"))
    bars.insert(3, "is_closed", True)
    bars["oi_unit"] = "usd"
    return bars


def naive_thresholds(bars: pd.DataFrame, params: EngineParams) -> dict[str, np.ndarray]:
    """Reference: one np.percentile call per bar, metric and band, on the window's valid values."""
    tp = params.thresholds
    out: dict[str, np.ndarray] = {}
    for spec in THRESHOLD_SPECS:
        values = metric_values(bars, spec)
        percentiles = spec.percentiles(tp)
        result = np.full((len(values), 3), np.nan)
        for t in range(len(values)):
            window = values[max(0, t - tp.lookback_bars) : t]
            window = window[~np.isnan(window)]
            if window.size >= tp.min_history_bars:
                result[t] = np.percentile(window, percentiles)
        out[spec.metric] = result
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="recordings folder (manifest.json)")
    parser.add_argument("--coins", type=int, default=10)
    parser.add_argument("--bars", type=int, default=8760)
    parser.add_argument("--block", type=int, default=24, help="bootstrap block length, bars")
    parser.add_argument("--repeats", type=int, default=7, help="engine runs; the best is reported")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "engine.json")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    data_dir = args.data_dir or default_data_dir()
    sources = [build_bars(data_dir, coin, pair_taker_fallback=True) for coin in RECORDED_COINS]
    coins = [bootstrap_bars(sources, f"C{k:02d}", args.bars, args.block, seed=k) for k in range(args.coins)]
    bars_by_coin = {str(bars["coin"].iloc[0]): bars for bars in coins}
    params = EngineParams()

    timings = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        result = run_engine_many(bars_by_coin, params)
        timings.append(time.perf_counter() - started)
    engine_s = min(timings)

    started = time.perf_counter()
    naive = [naive_thresholds(bars, params) for bars in coins]
    naive_s = time.perf_counter() - started

    # Same numbers: the engine's rolling percentiles (before tightening; all coins laid end to
    # end, as run_engine_many computes them) against the loop.
    tp = params.thresholds
    bounds = np.cumsum([0, *(len(bars) for bars in coins)])
    for spec in THRESHOLD_SPECS:
        series = np.concatenate([metric_values(bars, spec) for bars in coins])
        (fast,) = rolling_percentile_rows(
            [series], tp.lookback_bars, [spec.percentiles(tp)], tp.min_history_bars, bounds.tolist()
        )
        for k, reference in enumerate(naive):
            got = fast[:, bounds[k] : bounds[k + 1]].T
            np.testing.assert_allclose(got, reference[spec.metric], rtol=1e-12, equal_nan=True)

    total_bars = sum(len(bars) for bars in coins)
    report = {
        "bars": total_bars,
        "engine_s": round(engine_s, 4),
        "naive_s": round(naive_s, 3),
        "ratio": round(naive_s / engine_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "coins": args.coins,
        "bars_per_coin": args.bars,
        "engine_runs_s": [round(t, 4) for t in timings],
        "engine_entry": "run_engine_many",  # one call for all coins (run_engine per coin before)
        "events": len(result.events),
        "bars_with_tier": int((result.signals["tier"] != "none").sum()),
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "data_dir": str(data_dir),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
