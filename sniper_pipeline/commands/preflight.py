"""Checks a command makes before it starts anything: the warehouse URL, the recordings, the coins.

Each failure is a UsageError or ConfigError with a one-line message, which `sniper` prints to
stderr with exit code 2 (README: 0 ok, 1 failed, 2 usage or configuration).

A coin is told one of three ways, because the fix differs: it has data (go on); it is configured
in coins.yaml (or is a symbol of a configured coin) but has no data where the command looks
(`CoinWithoutDataError`: run `sniper run`, or check the recordings; `signals` and `config
generate` exit 1 for it, as nothing is wrong with the command); or nobody knows it
(`UnknownCoinError`: a typo).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, inspect, text

from sniper_pipeline.commands.environment import UsageError, check_recordings, replay_folder
from sniper_pipeline.ingest.sources import load_manifest, plan_from_manifest, plan_live
from sniper_pipeline.settings.coins import CoinsConfig, load_coins
from sniper_pipeline.settings.errors import ConfigError
from sniper_pipeline.settings.layers import load_layers
from sniper_pipeline.settings.paths import config_dir
from sniper_pipeline.warehouse.url import WarehouseLocation, warehouse_location

# Tables that name the coins a warehouse holds data for (any may be missing in a fresh one).
COIN_TABLES = ("coin_layer_sources", "layer_signals", "alert_events")
# Listing every coin of a large config in an error line helps nobody.
MAX_LISTED = 15


class UnknownCoinError(UsageError):
    """Neither configured nor found in the data: most likely a typo."""


class CoinWithoutDataError(UsageError):
    """Configured, but there is no data for it where the command looks."""


@dataclass(frozen=True)
class RunPreflight:
    """What `sniper run` may go ahead with."""

    warehouse: WarehouseLocation
    replay_dir: Path | None  # the recordings folder api_environment serves; None when live
    coins: list[str] | None  # the coins --coin selects (upper case, aliases resolved); None: all
    coins_with_data: list[str]


def preflight_run(*, live: bool, replay_dir: Path | None, coins: Sequence[str] | None) -> RunPreflight:
    """Everything `sniper run` can check before it starts a server, takes the warehouse lock or
    runs a job. Raises UsageError or ConfigError (one line each)."""
    if live and replay_dir is not None:
        raise UsageError("--live and --replay-dir exclude each other")
    if live and not os.environ.get("CG_API_KEY"):
        raise UsageError("--live needs CG_API_KEY in the environment")
    location = checked_warehouse()
    configured = load_coins(config_dir())
    layers = load_layers(config_dir())
    folder: Path | None = None
    if live:
        plans = plan_live(configured, layers)
        where = "from the live API"
    else:
        folder = replay_folder(replay_dir)
        check_recordings(folder)
        try:
            plans = plan_from_manifest(load_manifest(folder), configured, layers)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(
                f"{folder / 'manifest.json'}: malformed entry ({exc.__class__.__name__}: {exc})"
            ) from None
        where = f"in the recordings {folder}"
    # As Runtime.partition_keys: a coin with at least one layer source.
    with_data = sorted(c for c, p in plans.items() if any(p.sources.get(layer) for layer in p.sources))
    selected = None
    if coins:
        selected = resolve_coins(coins, configured, with_data, where=where)
    return RunPreflight(warehouse=location, replay_dir=folder, coins=selected, coins_with_data=with_data)


def checked_warehouse() -> WarehouseLocation:
    """SNIPER_WAREHOUSE_URL parsed and, for a DuckDB file, its folder there and writable."""
    location = warehouse_location()
    location.check_writable()
    return location


def _listed(coins: Collection[str]) -> str:
    names = sorted(coins)
    if not names:
        return "none"
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return ", ".join(names[:MAX_LISTED]) + more


def _unknown(names: Sequence[str], configured: CoinsConfig, where: str) -> str:
    return (
        f"unknown coin{'s' if len(names) > 1 else ''} {', '.join(repr(n) for n in names)}: "
        f"not in {config_dir() / 'coins.yaml'} and no data {where} (configured: {_listed(configured.coins)})"
    )


def _without_data(coins: Sequence[str], with_data: Collection[str], where: str, configured: bool) -> str:
    many = len(coins) > 1
    known = f"{'are' if many else 'is'} configured but " if configured else ""
    return (
        f"{', '.join(coins)} {known}{'have' if many else 'has'} no data {where} "
        f"(coins with data: {_listed(with_data)})"
    )


def _prefixed(option: str, message: str) -> str:
    return f"{option}: {message}" if option else message


def resolve_coin(
    name: str,
    configured: CoinsConfig,
    with_data: Collection[str],
    *,
    where: str,
    option: str = "--coin",
    known: Collection[str] = (),
) -> str:
    """The coin `name` means (upper case; a configured coin's symbol, e.g. POL, gives the coin).

    Raises UnknownCoinError, or CoinWithoutDataError for a coin that is configured (or in
    `known`: seen elsewhere) but has no data `where` (e.g. "in the warehouse"). `option` starts
    the message ("" for a positional argument)."""
    wanted = name.strip().upper()
    if wanted in with_data:
        return wanted
    coin = configured.resolve(wanted) if wanted else None
    if coin is None and wanted in known:
        coin = wanted
    if coin is None:
        raise UnknownCoinError(_prefixed(option, _unknown([name.strip()], configured, where)))
    if coin not in with_data:
        detail = _without_data([coin], with_data, where, configured=coin in configured.coins)
        raise CoinWithoutDataError(_prefixed(option, detail))
    return coin


def resolve_coins(
    names: Sequence[str], configured: CoinsConfig, with_data: Collection[str], *, where: str
) -> list[str]:
    """resolve_coin for each name (duplicates dropped), every problem in one line."""
    found: list[str] = []
    unknown: list[str] = []
    without: list[str] = []
    for name in names:
        try:
            coin = resolve_coin(name, configured, with_data, where=where)
        except UnknownCoinError:
            unknown.append(name.strip())
        except CoinWithoutDataError:
            without.append(configured.resolve(name.strip().upper()) or name.strip().upper())
        else:
            if coin not in found:
                found.append(coin)
    problems = [_unknown(unknown, configured, where)] if unknown else []
    if without:
        problems.append(_without_data(sorted(set(without)), with_data, where, configured=True))
    if problems:
        # Unknown wins: a typo is the first thing to fix.
        error = UnknownCoinError if unknown else CoinWithoutDataError
        raise error("--coin: " + "; ".join(problems))
    return found


def warehouse_coins(engine: Engine, tables: Sequence[str] = COIN_TABLES) -> set[str]:
    """Coins the warehouse holds rows for, in whichever of `tables` exist."""
    present = set(inspect(engine).get_table_names())
    found: set[str] = set()
    with engine.connect() as conn:
        for table in tables:
            if table in present:
                rows: Sequence[object] = (
                    conn.execute(text(f"select distinct coin from {table}")).scalars().all()
                )
                found.update(str(coin) for coin in rows if coin is not None)
    return found


def configured_coins() -> CoinsConfig:
    return load_coins(config_dir())
