"""Delivery rules as pure functions over lists (no I/O, no clock: `now` is an argument).

Outbox statuses (one row per event and channel):

- `pending`: to be sent when `next_attempt_at <= now` (first try, retry or cooldown hold).
- `attempting`: a worker committed this before calling the channel (with `attempted_at`, the
  message's `idempotency_key` and a lease in `next_attempt_at`); the send's outcome replaces it.
- `in_doubt`: the send was started but its outcome is unknown: a row still `attempting` after its
  lease (the worker died mid-send), or a send apprise gave up waiting for. The channel may have
  the message, so it is never sent automatically again; an operator decides
  (`outbox.resolve_in_doubt`: resend, or mark delivered).
- `delivered`: the channel accepted the event's own message (`delivered_at`). Never re-sent.
- `digested`: the channel accepted a digest that lists the event (`delivered_at`). Never re-sent.
- `historical`: at enqueue, the event's bar closed `deliver_since_bars` bars or more before now
  (a first run, a backfill, a long outage). Never sent.
- `muted`: a mute covered the coin at enqueue or at send time. Never sent, not even after the
  mute ends: a mute means "I do not want these", not "later".
- `not_sent`: `anti_flip_suppressed` records; kept for the audit trail, never sent.
- `failed`: `max_attempts` sends failed (or the event row is missing). Never sent again.

Send-time rules, per channel, in bar order:

1. Mutes (see above).
2. Cooldown, keyed (coin, tier, channel), holds an `open` or `escalate` while a message for that
   coin and tier (`open`, `escalate` or `upgrade`) went to the channel less than
   `cooldown_minutes` ago: the row stays pending until the cooldown ends (nothing is lost, it is
   just not re-announced within the window). `upgrade` (new tier) and `close` (all clear) are
   never held.
3. Rate limits: at most `per_coin_per_hour` messages per coin and `global_per_hour` messages in
   any 60 minutes per channel, counting the event messages delivered and those planned earlier in
   the same run. Rows over a limit are folded into one digest per channel and run; digests do
   not count against the limits (else a burst could hide events indefinitely).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sniper_pipeline.settings.timeutil import interval_delta

PENDING = "pending"
DELIVERED = "delivered"
DIGESTED = "digested"
HISTORICAL = "historical"
MUTED = "muted"
NOT_SENT = "not_sent"
FAILED = "failed"
ATTEMPTING = "attempting"
IN_DOUBT = "in_doubt"
STATUSES = (PENDING, ATTEMPTING, DELIVERED, DIGESTED, IN_DOUBT, HISTORICAL, MUTED, NOT_SENT, FAILED)

GLOBAL_SCOPE = "*"
RECORD_ONLY_EVENTS = frozenset({"anti_flip_suppressed"})
COOLDOWN_EVENTS = frozenset({"open", "escalate"})  # held by a cooldown
COOLDOWN_CLOCK_EVENTS = frozenset({"open", "escalate", "upgrade"})  # start a cooldown
RATE_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Mute:
    scope: str  # '*' or a coin
    until: datetime  # naive UTC, exclusive
    reason: str | None = None

    def covers(self, coin: str, now: datetime) -> bool:
        return now < self.until and self.scope in (GLOBAL_SCOPE, coin.upper())


def mute_for(coin: str, mutes: Iterable[Mute], now: datetime) -> Mute | None:
    """The mute covering `coin` at `now` that lasts longest, or None."""
    covering = [m for m in mutes if m.covers(coin, now)]
    return max(covering, key=lambda m: m.until) if covering else None


def is_historical(bar_ts: datetime, interval: str, now: datetime, deliver_since_bars: int | None) -> bool:
    """True when the bar closed `deliver_since_bars` bars or more before `now`.

    With 4h bars and 2: at 12:30 the bars closing at 12:00 and 08:00 are delivered, the one
    closing at 04:00 is historical. None disables the cut-off."""
    if deliver_since_bars is None:
        return False
    step = interval_delta(interval)
    return bar_ts + step <= now - deliver_since_bars * step


def enqueue_status(
    event: str,
    coin: str,
    bar_ts: datetime,
    interval: str,
    now: datetime,
    *,
    mutes: Sequence[Mute],
    deliver_since_bars: int | None,
) -> str:
    """The status an outbox row starts with."""
    if event in RECORD_ONLY_EVENTS:
        return NOT_SENT
    if is_historical(bar_ts, interval, now, deliver_since_bars):
        return HISTORICAL
    if mute_for(coin, mutes, now) is not None:
        return MUTED
    return PENDING


def retry_delay(attempts: int, base_seconds: float, max_seconds: float) -> timedelta:
    """Exponential backoff after the `attempts`-th failure: base, 2*base, 4*base, ... capped."""
    exponent = min(max(attempts - 1, 0), 32)  # 2**32 * base is past any cap; avoids huge floats
    return timedelta(seconds=min(base_seconds * 2**exponent, max_seconds))


@dataclass(frozen=True)
class Failure:
    status: str
    attempts: int
    next_attempt_at: datetime | None


def after_failure(
    attempts_before: int, now: datetime, *, base_seconds: float, max_seconds: float, max_attempts: int
) -> Failure:
    attempts = attempts_before + 1
    if attempts >= max_attempts:
        return Failure(FAILED, attempts, None)
    return Failure(PENDING, attempts, now + retry_delay(attempts, base_seconds, max_seconds))


@dataclass(frozen=True)
class Due:
    """A pending outbox row with the event fields the rules need."""

    dedup_key: str
    channel: str
    coin: str
    event: str
    tier: str
    bar_ts: datetime
    created_at: datetime
    attempts: int = 0


@dataclass(frozen=True)
class Sent:
    """An event message a channel accepted (digests are not counted)."""

    channel: str
    coin: str
    tier: str
    event: str
    at: datetime


@dataclass
class Plan:
    send: list[Due] = field(default_factory=list)  # one message each, in this order
    digests: dict[str, list[Due]] = field(default_factory=dict)  # channel -> rows for its digest
    deferred: list[tuple[Due, datetime]] = field(default_factory=list)  # cooldown: retry at
    muted: list[Due] = field(default_factory=list)


def plan_delivery(
    due: Sequence[Due],
    sent: Sequence[Sent],
    mutes: Sequence[Mute],
    now: datetime,
    *,
    cooldown: timedelta,
    per_coin_per_hour: int | None,
    global_per_hour: int | None,
) -> Plan:
    """Decide, for each due row, whether it is sent, folded into a digest, held or muted."""
    plan = Plan()
    window_start = now - RATE_WINDOW
    per_coin: defaultdict[tuple[str, str], int] = defaultdict(int)
    per_channel: defaultdict[str, int] = defaultdict(int)
    last_sent: dict[tuple[str, str, str], datetime] = {}
    for item in sent:
        if item.at > window_start:
            per_coin[(item.channel, item.coin)] += 1
            per_channel[item.channel] += 1
        if item.event in COOLDOWN_CLOCK_EVENTS:
            key = (item.coin, item.tier, item.channel)
            last_sent[key] = max(last_sent.get(key, item.at), item.at)

    for row in sorted(due, key=lambda d: (d.bar_ts, d.created_at, d.dedup_key, d.channel)):
        if mute_for(row.coin, mutes, now) is not None:
            plan.muted.append(row)
            continue
        key = (row.coin, row.tier, row.channel)
        if row.event in COOLDOWN_EVENTS and key in last_sent and now - last_sent[key] < cooldown:
            plan.deferred.append((row, last_sent[key] + cooldown))
            continue
        over_coin = per_coin_per_hour is not None and per_coin[(row.channel, row.coin)] >= per_coin_per_hour
        over_all = global_per_hour is not None and per_channel[row.channel] >= global_per_hour
        if over_coin or over_all:
            plan.digests.setdefault(row.channel, []).append(row)
            continue
        plan.send.append(row)
        per_coin[(row.channel, row.coin)] += 1
        per_channel[row.channel] += 1
        if row.event in COOLDOWN_CLOCK_EVENTS:
            last_sent[key] = now
    return plan
