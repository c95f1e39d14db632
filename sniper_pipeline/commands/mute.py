"""`sniper mute [--coin X] --for 2h [--reason ...]` and `sniper unmute [--coin X]`.

A mute holds alert events of its scope (a coin, or every coin without --coin) as `muted` in the
outbox until it expires: they are recorded, never sent, not even after the mute ends."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from sniper_pipeline.delivery.mutes import active_mutes, mute, parse_duration, unmute
from sniper_pipeline.delivery.policy import GLOBAL_SCOPE, Mute
from sniper_pipeline.delivery.settings import ConfiguredMute, load_delivery_settings, normalize_scope
from sniper_pipeline.settings.errors import ConfigError
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.url import warehouse_location

EXIT_OK, EXIT_USAGE = 0, 2


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _label(scope: str) -> str:
    return "every coin" if scope == GLOBAL_SCOPE else scope


def mute_command(coin: str | None, duration: str, reason: str | None) -> int:
    try:
        length = parse_duration(duration)
    except ValueError as exc:
        print(f"sniper mute: --for: {exc}", file=sys.stderr)
        return EXIT_USAGE
    now = _now()
    engine = make_engine(warehouse_location())
    try:
        row = mute(engine, coin, now + length, reason, now=now)
    finally:
        engine.dispose()
    print(f"muted {_label(row.scope)} until {row.until:%Y-%m-%d %H:%M:%S} UTC")
    return EXIT_OK


def unmute_command(coin: str | None) -> int:
    scope = normalize_scope(coin)
    try:
        configured = load_delivery_settings().mutes
    except ConfigError as exc:  # a broken config file must not block an unmute
        print(f"note: could not read the configured mutes: {exc}", file=sys.stderr)
        configured = []
    engine = make_engine(warehouse_location())
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
