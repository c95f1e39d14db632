"""The active environment in one place: profile (replay or live), API base URL, recordings folder,
configuration, warehouse and the per-coin source plans. Read from environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from sniper_pipeline.ingest.sources import CoinPlan, load_manifest, plan_from_manifest, plan_live
from sniper_pipeline.settings.coins import CoinsConfig, load_coins
from sniper_pipeline.settings.errors import ConfigError
from sniper_pipeline.settings.layers import LayersConfig, load_layers
from sniper_pipeline.settings.paths import config_dir
from sniper_pipeline.warehouse.url import WarehouseLocation, warehouse_location

LIVE_BASE_URL = "https://open-api-v4.coinglass.com"
Profile = Literal["replay", "live"]


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


def load_runtime() -> Runtime:
    profile = os.environ.get("SNIPER_PROFILE", "replay")
    if profile not in ("replay", "live"):
        raise ConfigError(f"SNIPER_PROFILE: {profile!r} is not 'replay' or 'live'")
    cfg = config_dir()
    coins, layers = load_coins(cfg), load_layers(cfg)
    replay_dir: Path | None = None
    if profile == "replay":
        replay_dir = Path(os.environ.get("SNIPER_REPLAY_DIR") or default_replay_dir())
        if not (replay_dir / "manifest.json").is_file():
            raise ConfigError(f"SNIPER_REPLAY_DIR: {replay_dir} has no manifest.json")
        plans = plan_from_manifest(load_manifest(replay_dir), coins, layers)
        # Configured coins without recordings still appear, with every layer reported missing.
        for coin, spec in coins.coins.items():
            plans.setdefault(coin, CoinPlan(coin=coin, symbol=spec.symbols[0], grid_interval=None))
        base_url = os.environ.get("CG_BASE_URL", "")
    else:
        plans = plan_live(coins, layers)
        base_url = os.environ.get("CG_BASE_URL", LIVE_BASE_URL)
    return Runtime(
        profile=profile,  # type: ignore[arg-type]
        base_url=base_url,
        replay_dir=replay_dir,
        coins=coins,
        layers=layers,
        plans=plans,
        warehouse=warehouse_location(),
        # The plan's limit live; the local replay server has none unless told to.
        requests_per_minute=int(
            os.environ.get("SNIPER_REQUESTS_PER_MINUTE", 80 if profile == "live" else 6000)
        ),
        # The API counts per minute; a replay server started with a shorter --rate-window
        # (tests) is matched by SNIPER_RATE_WINDOW_SECONDS.
        rate_window_s=float(os.environ.get("SNIPER_RATE_WINDOW_SECONDS", "60")),
    )


@lru_cache(maxsize=1)
def cached_runtime() -> Runtime:
    """One Runtime per process: Dagster loads definitions once per code-location process."""
    return load_runtime()
