"""Mutes in the `mutes` table: one row per scope ('*' or a coin), with an expiry.

Configured mutes (`mutes:` in delivery.yaml) join the table's in `active_mutes`; `unmute` only
removes the table's row (a configured mute ends when it is removed from the file or expires).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select

from sniper_pipeline.delivery.policy import Mute
from sniper_pipeline.delivery.settings import ConfiguredMute, normalize_scope
from sniper_pipeline.settings.timeutil import UNIT_SECONDS, naive_utc
from sniper_pipeline.warehouse.tables import mutes as mutes_table
from sniper_pipeline.warehouse.upsert import upsert

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


# `sniper mute` is for maintenance windows and noisy days; a hold longer than this belongs in
# delivery.yaml's `mutes:`, where it is reviewed, not in a row nobody remembers.
MAX_MUTE_DURATION = timedelta(days=30)


def parse_duration(text: str, maximum: timedelta | None = None) -> timedelta:
    """ "2h", "90m", "1h30m", "1d", "1w" -> timedelta; raises ValueError otherwise (not a
    duration, zero or negative, or longer than `maximum`)."""
    compact = text.strip().lower().replace(" ", "")
    if compact.startswith("-"):
        raise ValueError(f"duration must be positive: {text!r}")
    parts = _DURATION_PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"not a duration: {text!r} (e.g. 30m, 2h, 1h30m, 1d, 1w)")
    seconds = sum(float(n) * UNIT_SECONDS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {text!r}")
    # Compared in seconds: a huge count ("99999999w") would overflow timedelta first.
    if maximum is not None and seconds > maximum.total_seconds():
        raise ValueError(
            f"{text!r} is longer than the {_describe(maximum)} limit "
            "(longer holds go in config/delivery.yaml under mutes:)"
        )
    if seconds >= timedelta.max.total_seconds():
        raise ValueError(f"duration too long: {text!r}")
    return timedelta(seconds=seconds)


def _describe(length: timedelta) -> str:
    days, rest = divmod(int(length.total_seconds()), 86400)
    return f"{days}-day" if days and not rest else str(length)


def mute(
    engine: Engine, scope: str | None, until: datetime, reason: str | None = None, *, now: datetime
) -> Mute:
    """Mute a coin (or '*' / None: every coin) until `until`; replaces that scope's previous mute."""
    row = Mute(normalize_scope(scope), naive_utc(until), reason)
    upsert(
        engine,
        mutes_table,
        [{"scope": row.scope, "until": row.until, "created_at": naive_utc(now), "reason": reason}],
    )
    return row


def unmute(engine: Engine, scope: str | None) -> bool:
    """Remove the table's mute of a scope; False when there was none."""
    with engine.begin() as conn:
        removed = conn.execute(
            delete(mutes_table)
            .where(mutes_table.c.scope == normalize_scope(scope))
            .returning(mutes_table.c.scope)
        ).all()
    return bool(removed)


def active_mutes(engine: Engine, now: datetime, configured: Sequence[ConfiguredMute] = ()) -> list[Mute]:
    """Mutes in force at `now`: the table's and the configured ones."""
    now = naive_utc(now)
    with engine.connect() as conn:
        rows = conn.execute(select(mutes_table).where(mutes_table.c.until > now)).mappings().all()
    found = [Mute(r["scope"], r["until"], r["reason"]) for r in rows]
    found += [Mute(m.coin, m.until, m.reason) for m in configured if m.until > now]
    return sorted(found, key=lambda m: (m.scope, m.until))
