"""Scale-out benchmark: a scan of N coins on Celery workers (SNIPER_EXECUTOR=celery), 1 vs 2 workers.

    python benchmarks/scale.py [--coins 100] [--workers 1,2] [--coins-per-run 25]
                               [--history-days 30] [--out PATH]

Per worker count, in a fresh PostgreSQL database (Dagster storage and warehouse) and a private
Redis (broker, result backend, shared rate limiter): start the workers with `dagster-celery
worker start` and wait until they are ready, then launch the scan as `dagster job execute` runs
of `--coins-per-run` coins at once (what `new_bar_sensor` asks the daemon for) and time it: the
first scan (the backfill of `--history-days`) and a re-scan (the steady state: one request per
series, nothing new written). The replay server counts the requests of each scan, which gives the
plan's cap (docs/performance.md). Results go into benchmarks/results/scan.json under "scale".

Needs PostgreSQL (SNIPER_TEST_PG_URL, default the CI server on 127.0.0.1) and Debian's redis-server.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from a checkout

from celery_stack import (  # noqa: E402  (benchmarks/, next to this script)
    DEFAULT_PG_URL,
    celery_config,
    celery_env,
    fresh_database,
    kill_group,
    launch_scan,
    prepare,
    redis_server,
    replay_process_env,
    start_worker,
    steps_by_worker,
    wait_all,
)
from results_file import machine_context, write_results  # noqa: E402  (benchmarks/, as above)

from sniper_pipeline.defs.ingest.partitions import coin_ranges  # noqa: E402
from sniper_pipeline.replay.recordings import recordings_end  # noqa: E402
from sniper_pipeline.replay.sample import sample_dir  # noqa: E402
from sniper_pipeline.replay.server import ReplayServer  # noqa: E402
from sniper_pipeline.replay.universe import build_universe  # noqa: E402
from sniper_pipeline.settings.paths import config_dir  # noqa: E402

PLANS = (30, 80, 300, 1200)  # requests per minute
BARS = {"1h": 60, "15m": 15, "5m": 5}  # minutes per bar


def _wait_ready(logs: list[Path], timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(log.exists() and " ready." in log.read_text(errors="replace") for log in logs):
            return
        time.sleep(0.5)
    raise RuntimeError("workers not ready: " + ", ".join(str(log) for log in logs))


def _scan(env: dict[str, str], coins: list[str], per_run: int, logs: Path, label: str) -> float:
    started = time.monotonic()
    runs = [
        launch_scan(env, start, end, logs / f"{label}-{start}.log")
        for start, end in coin_ranges(coins, coins, per_run)
    ]
    codes = wait_all(runs, timeout_s=3600)
    if any(codes):
        raise RuntimeError(f"{label}: runs failed ({codes}), logs in {logs}")
    return round(time.monotonic() - started, 2)


def case(
    n_workers: int, folder: Path, coins: list[str], args: argparse.Namespace, root: Path
) -> dict[str, Any]:
    home = root / f"w{n_workers}"
    logs = home / "logs"
    logs.mkdir(parents=True)
    config = home / "config"
    shutil.copytree(config_dir(), config)
    layers = config / "layers.yaml"
    layers.write_text(layers.read_text().replace("history_days: 365", f"history_days: {args.history_days}"))
    admin = os.environ.get("SNIPER_TEST_PG_URL", DEFAULT_PG_URL)
    with (
        fresh_database(admin) as pg_url,
        redis_server(home / "redis") as redis_url,
        ReplayServer(folder, quiet=True, now=recordings_end(folder)) as server,
    ):
        env = celery_env(
            replay_process_env(
                data_dir=home / "data",
                base_url=server.base_url,
                api_key="bench",
                replay_dir=folder,
                SNIPER_CONFIG_DIR=str(config),
                SNIPER_COINS_PER_RUN=str(args.coins_per_run),
            ),
            home=home / "dagster_home",
            pg_url=pg_url,
            redis_url=redis_url,
            config=celery_config(home / "celery.yaml", visibility_timeout_s=1800),
        )
        prepare(env)
        names = [f"w{i + 1}" for i in range(n_workers)]
        workers = [start_worker(name, env, logs / f"{name}.log") for name in names]
        try:
            _wait_ready([logs / f"{name}.log" for name in names])
            first_s = _scan(env, coins, args.coins_per_run, logs, "first")
            first_requests = len(server.request_log)
            server.clear_request_log()
            rescan_s = _scan(env, coins, args.coins_per_run, logs, "rescan")
            rescan_requests = len(server.request_log)
            by_worker = steps_by_worker(pg_url)
        finally:
            for proc in workers:
                kill_group(proc)
    result = {
        "workers": n_workers,
        "first_scan_s": first_s,
        "rescan_s": rescan_s,
        "first_scan_requests": first_requests,
        "rescan_requests": rescan_requests,
        "coins_per_minute_first": round(len(coins) / first_s * 60, 1),
        "coins_per_minute_rescan": round(len(coins) / rescan_s * 60, 1),
        "steps_by_worker": by_worker,
    }
    print(f"{n_workers} worker(s): {result}", file=sys.stderr)
    return result


def series_per_coin() -> float:
    """Requests per coin of a steady-state scan, from the live endpoint plan: one per series (the
    watermark is a bar back, a page holds 1,000 bars), averaged over the configured coins."""
    from sniper_pipeline.ingest.sources import plan_live
    from sniper_pipeline.settings.coins import load_coins
    from sniper_pipeline.settings.layers import load_layers

    plans = plan_live(load_coins(config_dir()), load_layers(config_dir()))
    return sum(sum(1 for s in p.sources.values() if s) for p in plans.values()) / len(plans)


def plan_caps(requests_per_coin: float) -> dict[str, dict[str, int]]:
    """Coins a plan can watch: requests it allows per bar / requests per coin and scan."""
    return {
        str(limit): {bar: int(limit * minutes / requests_per_coin) for bar, minutes in BARS.items()}
        for limit in PLANS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coins", type=int, default=100)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--coins-per-run", type=int, default=25)
    parser.add_argument("--history-days", type=int, default=30)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "scan.json")
    args = parser.parse_args()
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    with tempfile.TemporaryDirectory(prefix="sniper-scale-") as tmp:
        root = Path(tmp)
        folder = root / "universe"
        coins = build_universe(sample_dir(), folder, args.coins)
        cases = [case(int(n), folder, coins, args, root) for n in args.workers.split(",")]
    rescan_per_coin = cases[0]["rescan_requests"] / args.coins
    results["scale"] = {
        "coins": args.coins,
        "coins_per_run": args.coins_per_run,
        "history_days": args.history_days,
        "cases": cases,
        "rescan_requests_per_coin": round(rescan_per_coin, 2),
        # From the live endpoint plan; the measured re-scan's requests per coin are the check.
        "plan_requests_per_coin": series_per_coin(),
        "coins_per_plan": plan_caps(series_per_coin()),
        "context": machine_context(),
    }
    write_results(args.out, results)


if __name__ == "__main__":
    main()
