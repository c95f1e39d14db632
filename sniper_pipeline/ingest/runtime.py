"""The active environment in one place: profile (replay or live), API base URL, recordings folder,
configuration, warehouse and the per-coin source plans.

A command builds its Runtime from its arguments and hands it down (`build_defs(runtime)`);
environment variables are only the fallback for what the caller did not give, which is how a
process that loads the code location by module name (`dagster dev`, a gRPC code server, a Celery
worker) gets its Runtime. `runtime_env` writes the same variables for such a child."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sniper_pipeline.ingest.sources import CoinPlan, load_manifest, plan_from_manifest, plan_live
from sniper_pipeline.settings.coins import CoinsConfig, load_coins
from sniper_pipeline.settings.errors import ConfigError
from sniper_pipeline.settings.layers import LayersConfig, load_layers
from sniper_pipeline.settings.paths import config_dir
from sniper_pipeline.warehouse.url import WarehouseLocation, warehouse_location

LIVE_BASE_URL = "https://open-api-v4.coinglass.com"
# What load_runtime falls back to, and what runtime_env hands a child process.
PROFILE_ENV = "SNIPER_PROFILE"
REPLAY_DIR_ENV = "SNIPER_REPLAY_DIR"
BASE_URL_ENV = "CG_BASE_URL"
API_KEY_ENV = "CG_API_KEY"
# The replay server accepts any non-empty key: this one is no secret and is the only key a replay
# profile sends, so a real key in the environment never goes to a replay server.
REPLAY_API_KEY = "replay-local"
Profile = Literal["replay", "live"]
# Where a scan's steps run: in the run's process (default), or on Celery workers (docs/deploy.md).
Executor = Literal["in_process", "celery"]
CELERY_BROKER_ENV = "SNIPER_CELERY_BROKER_URL"
CELERY_BACKEND_ENV = "SNIPER_CELERY_BACKEND_URL"
# Coins per scan run under Celery: a scan of more coins is several runs whose steps the workers
# share. In process a scan stays one run (one dbt and one engine call per scan).
DEFAULT_CELERY_COINS_PER_RUN = 10


@dataclass(frozen=True)
class Runtime:
    profile: Profile
    base_url: str
    replay_dir: Path | None
    coins: CoinsConfig
    layers: LayersConfig
    plans: dict[str, CoinPlan]
    warehouse: WarehouseLocation
    requests_per_minute: int
    rate_window_s: float = 60.0
    executor: Executor = "in_process"
    coins_per_run: int | None = None  # None: one scan run per contiguous range of due coins
    # The env var holding a Redis URL for the shared rate limiter (None: the file under data/).
    # The name, not the URL: resources bind it as an EnvVar, so a password never shows in the UI.
    rate_limit_env: str | None = None

    @property
    def partition_keys(self) -> list[str]:
        """Coins with at least one layer source: one Dagster partition each."""
        return sorted(c for c, p in self.plans.items() if any(p.sources.get(layer) for layer in p.sources))

    @property
    def uses_duckdb(self) -> bool:
        return self.warehouse.is_duckdb


def default_replay_dir() -> Path:
    from sniper_pipeline.replay.sample import sample_dir

    return sample_dir()


def load_runtime(
    *,
    profile: Profile | None = None,
    base_url: str | None = None,
    replay_dir: Path | None = None,
    warehouse: WarehouseLocation | None = None,
    requests_per_minute: int | None = None,
    rate_window_s: float | None = None,
) -> Runtime:
    """The Runtime for these arguments; an argument not given comes from its environment variable
    (SNIPER_PROFILE, CG_BASE_URL, SNIPER_REPLAY_DIR, SNIPER_WAREHOUSE_URL,
    SNIPER_REQUESTS_PER_MINUTE, SNIPER_RATE_WINDOW_SECONDS), else its default."""
    env = os.environ
    chosen = profile or env.get(PROFILE_ENV, "replay")
    if chosen not in ("replay", "live"):
        raise ConfigError(f"{PROFILE_ENV}: {chosen!r} is not 'replay' or 'live'")
    cfg = config_dir()
    coins, layers = load_coins(cfg), load_layers(cfg)
    if chosen == "replay":
        replay_dir = Path(replay_dir or env.get(REPLAY_DIR_ENV) or default_replay_dir())
        if not (replay_dir / "manifest.json").is_file():
            raise ConfigError(f"{REPLAY_DIR_ENV}: {replay_dir} has no manifest.json")
        plans = plan_from_manifest(load_manifest(replay_dir), coins, layers)
        # Configured coins without recordings still appear, with every layer reported missing.
        for coin, spec in coins.coins.items():
            plans.setdefault(coin, CoinPlan(coin=coin, symbol=spec.symbols[0], grid_interval=None))
        url = base_url if base_url is not None else env.get(BASE_URL_ENV, "")
    else:
        replay_dir = None
        plans = plan_live(coins, layers)
        url = base_url if base_url is not None else env.get(BASE_URL_ENV, LIVE_BASE_URL)
    location = warehouse or warehouse_location()
    executor, coins_per_run, rate_limit_env = load_executor(location.is_duckdb)
    return Runtime(
        profile=chosen,  # type: ignore[arg-type]
        base_url=url,
        replay_dir=replay_dir,
        coins=coins,
        layers=layers,
        plans=plans,
        warehouse=location,
        # The plan's limit live; the local replay server has none unless told to.
        requests_per_minute=(
            requests_per_minute
            if requests_per_minute is not None
            else int(env.get("SNIPER_REQUESTS_PER_MINUTE", 80 if chosen == "live" else 6000))
        ),
        # The API counts per minute; a replay server started with a shorter --rate-window
        # (tests) is matched by SNIPER_RATE_WINDOW_SECONDS.
        rate_window_s=(
            rate_window_s if rate_window_s is not None else float(env.get("SNIPER_RATE_WINDOW_SECONDS", "60"))
        ),
        executor=executor,
        coins_per_run=coins_per_run,
        rate_limit_env=rate_limit_env,
    )


def runtime_env(profile: Profile, base_url: str, replay_dir: Path | None) -> dict[str, str]:
    """The variables from which a child process's `load_runtime()` builds the same API side
    (`sniper serve` hands them to `dagster dev`). Merged over the parent's environment."""
    env = {PROFILE_ENV: profile, BASE_URL_ENV: base_url}
    if replay_dir is not None:
        env[REPLAY_DIR_ENV] = str(replay_dir)
    return env


def api_key(runtime: Runtime) -> str:
    """The key a client outside Dagster sends: the placeholder in replay, CG_API_KEY live."""
    return REPLAY_API_KEY if runtime.profile == "replay" else os.environ[API_KEY_ENV]


def load_executor(uses_duckdb: bool) -> tuple[Executor, int | None, str | None]:
    """SNIPER_EXECUTOR (in_process | celery), coins per scan run (SNIPER_COINS_PER_RUN, 0 = no
    split) and the env var of the shared rate limiter's Redis URL (SNIPER_RATE_LIMIT_URL; under
    Celery the broker's by default: every worker on every host draws from one budget)."""
    executor = os.environ.get("SNIPER_EXECUTOR", "in_process").replace("-", "_")
    if executor not in ("in_process", "celery"):
        raise ConfigError(f"SNIPER_EXECUTOR: {executor!r} is not 'in_process' or 'celery'")
    chunk_text = os.environ.get("SNIPER_COINS_PER_RUN", "")
    try:
        chunk = int(chunk_text) if chunk_text else None
    except ValueError:
        raise ConfigError(f"SNIPER_COINS_PER_RUN: {chunk_text!r} is not a whole number") from None
    rate_limit_env = "SNIPER_RATE_LIMIT_URL" if os.environ.get("SNIPER_RATE_LIMIT_URL") else None
    if executor == "celery":
        if uses_duckdb:
            raise ConfigError(
                "SNIPER_EXECUTOR=celery needs a PostgreSQL warehouse (SNIPER_WAREHOUSE_URL): "
                "a DuckDB file cannot be shared by workers"
            )
        missing = [v for v in (CELERY_BROKER_ENV, CELERY_BACKEND_ENV) if not os.environ.get(v)]
        if missing:
            raise ConfigError(
                f"SNIPER_EXECUTOR=celery needs {' and '.join(missing)} "
                "(e.g. redis://127.0.0.1:6379/0 and redis://127.0.0.1:6379/1)"
            )
        chunk = DEFAULT_CELERY_COINS_PER_RUN if chunk is None else chunk
        rate_limit_env = rate_limit_env or CELERY_BROKER_ENV
    return executor, (chunk or None), rate_limit_env  # type: ignore[return-value]
