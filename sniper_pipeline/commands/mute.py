"""`sniper mute [--coin X] --for 2h [--reason ...]` and `sniper unmute [--coin X]`.

A mute holds alert events of its scope (a coin, or every coin without --coin) as `muted` in the
outbox until it expires: they are recorded, never sent, not even after the mute ends."""

from __future__ import annotations

import sys
from contextlib import suppress
from datetime import datetime

from sniper_pipeline.commands.environment import UsageError
from sniper_pipeline.commands.preflight import (
    CoinWithoutDataError,
    checked_warehouse,
    configured_coins,
    resolve_coin,
    warehouse_coins,
)
from sniper_pipeline.delivery.mutes import MAX_MUTE_DURATION, active_mutes, mute, parse_duration, unmute
from sniper_pipeline.delivery.policy import GLOBAL_SCOPE, Mute
from sniper_pipeline.delivery.settings import ConfiguredMute, load_delivery_settings, normalize_scope
from sniper_pipeline.settings.coins import CoinsConfig
from sniper_pipeline.settings.errors import ConfigError
from sniper_pipeline.settings.timeutil import utc_now_naive
from sniper_pipeline.warehouse.engine import make_engine

EXIT_OK, EXIT_USAGE = 0, 2


def _now() -> datetime:
    return utc_now_naive()


def _label(scope: str) -> str:
    return "every coin" if scope == GLOBAL_SCOPE else scope


def mute_command(coin: str | None, duration: str, reason: str | None) -> int:
    try:
        length = parse_duration(duration, maximum=MAX_MUTE_DURATION)
    except ValueError as exc:
        print(f"sniper mute: --for: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        location = checked_warehouse()
        # '*' (or no --coin) is every coin: nothing to look up.
        configured = configured_coins() if normalize_scope(coin) != GLOBAL_SCOPE else None
    except (UsageError, ConfigError) as exc:
        print(f"sniper mute: {exc}", file=sys.stderr)
        return EXIT_USAGE
    now = _now()
    engine = make_engine(location)
    try:
        if configured is not None and coin is not None:
            try:
                coin = _mute_scope(coin, configured, warehouse_coins(engine))
            except UsageError as exc:
                print(f"sniper mute: {exc}", file=sys.stderr)
                return EXIT_USAGE
        row = mute(engine, coin, now + length, reason, now=now)
    finally:
        engine.dispose()
    print(f"muted {_label(row.scope)} until {row.until:%Y-%m-%d %H:%M:%S} UTC")
    return EXIT_OK


def _mute_scope(coin: str, configured: CoinsConfig, with_data: set[str]) -> str:
    """The coin a mute holds: a coin with data, or a configured one (whose first alerts may
    come later); POL gives MATIC, as alerts are keyed by the configured coin. A name nobody
    knows raises UnknownCoinError: muting a typo would hold nothing and say it did."""
    try:
        return resolve_coin(coin, configured, with_data, where="in the warehouse")
    except CoinWithoutDataError:
        return configured.resolve(coin.strip().upper()) or coin


def unmute_command(coin: str | None) -> int:
    scope = normalize_scope(coin)
    try:
        configured = load_delivery_settings().mutes
    except ConfigError as exc:  # a broken config file must not block an unmute
        print(f"note: could not read the configured mutes: {exc}", file=sys.stderr)
        configured = []
    try:
        location = checked_warehouse()
    except ConfigError as exc:
        print(f"sniper unmute: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if coin is not None:
        # The scope `sniper mute` stored (POL -> MATIC); as typed when coins.yaml is unreadable.
        with suppress(ConfigError):
            scope = configured_coins().resolve(scope) or scope
    engine = make_engine(location)
    try:
        removed = unmute(engine, scope)
        remaining = [m for m in active_mutes(engine, _now(), configured) if m.scope in (scope, GLOBAL_SCOPE)]
    finally:
        engine.dispose()
    print(f"unmuted {_label(scope)}" if removed else f"{_label(scope)} was not muted")
    # Another mute may still cover the scope: say so rather than let the operator wonder.
    for other in remaining:
        source = "config/delivery.yaml" if other in _as_mutes(configured) else "sniper mute"
        print(
            f"note: {_label(other.scope)} is still muted until {other.until:%Y-%m-%d %H:%M:%S} UTC ({source})"
        )
    return EXIT_OK


def _as_mutes(configured: list[ConfiguredMute]) -> list[Mute]:
    return [Mute(m.coin, m.until, m.reason) for m in configured]
