"""The outbox: `enqueue` adds one row per (alert event, channel), once; `deliver_due` sends the
rows that are due, applying the wall-clock rules of `policy.py`.

Exactly-once towards a channel, as far as a remote service allows:

- a row is inserted only if its (dedup_key, channel) is absent, so re-enqueueing the same
  events adds nothing and never resets a row;
- before sending, a row is claimed with a conditional update (status still pending and due) that
  commits `attempting`, `attempted_at`, the message's idempotency key and a lease end in
  `next_attempt_at`: a second worker running at the same time skips it;
- the outcome is written in its own transaction right after the send returns (`delivered` /
  `digested`, or `pending` for a retry, or `failed`), so a crash later in the run cannot re-send
  a message the channel accepted;
- a row still `attempting` after its lease was started by a worker that died before recording
  the outcome (during the send, or between the send and its commit): the channel may have the
  message. `deliver_due` marks it `in_doubt` and reports it, and never re-sends it; an operator
  settles it with `resolve_in_doubt`. Rows never started stay `pending` and are sent once;
- every attempt of one message to one channel carries the same idempotency key (an
  `Idempotency-Key` header on webhook channels, see `channels.py`), so a receiver that keeps
  the keys it has seen can drop a repeat: a retry after a timeout, or an operator's resend.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import pandas as pd
from sqlalchemy import Connection, Engine, and_, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert

from sniper_pipeline.delivery import policy
from sniper_pipeline.delivery.channels import Channel
from sniper_pipeline.delivery.messages import Message, digest_message, event_message
from sniper_pipeline.delivery.mutes import active_mutes
from sniper_pipeline.delivery.notifier import Sender, SendOutcome
from sniper_pipeline.delivery.settings import DeliverySettings
from sniper_pipeline.settings.timeutil import naive_utc, naive_utc_stamp, utc_now_naive
from sniper_pipeline.warehouse.tables import alert_events, outbox

log = logging.getLogger(__name__)

_CHUNK = 500
MIN_LEASE = timedelta(minutes=2)
MISSING_EVENT_ERROR = "event not found in alert_events"
IN_DOUBT_ERROR = "send started but no outcome recorded within its lease (worker stopped mid-send?)"
IN_DOUBT_TIMEOUT = "apprise stopped waiting; the send may still arrive"
RESEND_NOTE = "was in doubt; resend requested"
_EVENT_KIND = "event"
_DIGEST_KIND = "digest"


# -- enqueue ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnqueueCounts:
    events: int  # distinct events given
    rows: int  # outbox rows considered (events x channels)
    new: int  # rows inserted
    existing: int  # rows already there (left untouched)
    by_status: dict[str, int] = field(default_factory=dict)  # statuses of the new rows

    def as_metadata(self) -> dict[str, int]:
        return {
            "outbox_rows_new": self.new,
            "outbox_rows_existing": self.existing,
            **{f"outbox_new_{status}": n for status, n in sorted(self.by_status.items())},
        }


def _timestamp(value: Any) -> datetime:
    if isinstance(value, str):
        value = pd.Timestamp(value)
    if isinstance(value, pd.Timestamp):
        return naive_utc_stamp(value).to_pydatetime()
    if isinstance(value, datetime):
        return naive_utc(value)
    raise ValueError(f"not a timestamp: {value!r}")


def _event_records(events: Iterable[Mapping[str, Any]] | pd.DataFrame) -> list[Mapping[str, Any]]:
    if isinstance(events, pd.DataFrame):
        return events.to_dict("records")
    return list(events)


def enqueue(
    engine: Engine,
    events: Iterable[Mapping[str, Any]] | pd.DataFrame,
    channels: Sequence[Channel],
    now: datetime,
    *,
    bar_interval: str | None = None,
    settings: DeliverySettings | None = None,
) -> EnqueueCounts:
    """Add an outbox row per (event, channel) unless it exists; returns counts.

    `events` are `alert_events` rows (mappings or a DataFrame; `ts` is accepted for `bar_ts`).
    The bar interval is the event's `interval`, else `bar_interval`. A new row starts
    `pending`, or `not_sent` / `historical` / `muted` (see `policy.enqueue_status`)."""
    settings = settings or DeliverySettings()
    now = naive_utc(now)
    records = _event_records(events)
    if not channels or not records:
        if records and not channels:
            log.info("no alert channel configured: %d event(s) not queued", len(records))
        return EnqueueCounts(len(records), 0, 0, 0)
    mutes = active_mutes(engine, now, settings.mutes)

    rows: dict[tuple[str, str], dict[str, Any]] = {}
    keys: set[str] = set()
    for event in records:
        key = str(event["dedup_key"])
        keys.add(key)
        interval = event.get("interval")
        if not isinstance(interval, str) or not interval:  # absent, None or NaN (DataFrame)
            interval = bar_interval
        if not interval:
            raise ValueError(f"event {key}: no interval (pass bar_interval)")
        bar_ts = _timestamp(event["bar_ts"] if event.get("bar_ts") is not None else event["ts"])
        status = policy.enqueue_status(
            str(event["event"]),
            str(event["coin"]),
            bar_ts,
            interval,
            now,
            mutes=mutes,
            deliver_since_bars=settings.deliver_since_bars,
        )
        for channel in channels:
            rows.setdefault(
                (key, channel.id),
                {
                    "dedup_key": key,
                    "channel": channel.id,
                    "status": status,
                    "attempts": 0,
                    "next_attempt_at": now if status == policy.PENDING else None,
                    "last_error": None,
                    "delivered_at": None,
                    "created_at": now,
                },
            )

    with engine.begin() as conn:
        existing = _existing_keys(conn, list(rows))
        new = [row for pk, row in rows.items() if pk not in existing]
        for start in range(0, len(new), _CHUNK):
            # do-nothing on conflict: a concurrent enqueue of the same rows must not reset them
            conn.execute(insert(outbox).values(new[start : start + _CHUNK]).on_conflict_do_nothing())
    by_status = dict(Counter(row["status"] for row in new))
    log.info(
        "outbox: %d event(s) x %d channel(s): %d new %s, %d already queued",
        len(keys),
        len(channels),
        len(new),
        by_status,
        len(rows) - len(new),
    )
    return EnqueueCounts(len(keys), len(rows), len(new), len(rows) - len(new), by_status)


def _existing_keys(conn: Connection, pks: list[tuple[str, str]]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for start in range(0, len(pks), _CHUNK):
        chunk = pks[start : start + _CHUNK]
        result = conn.execute(
            select(outbox.c.dedup_key, outbox.c.channel).where(
                tuple_(outbox.c.dedup_key, outbox.c.channel).in_(chunk)
            )
        )
        found.update((k, c) for k, c in result.tuples())
    return found


# -- deliver ---------------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    due: int = 0  # pending rows due at `now`
    delivered: int = 0  # rows whose own message was accepted
    digests: int = 0  # digest messages accepted
    digested: int = 0  # rows listed in accepted digests
    retrying: int = 0  # rows left pending after a failed send
    failed: int = 0  # rows given up (max attempts, missing event)
    deferred: int = 0  # rows held by the cooldown
    muted: int = 0  # rows muted at send time
    skipped: int = 0  # rows of channels not configured in this process, or claimed by another worker
    in_doubt: int = 0  # rows this run found in doubt (a send started, outcome unknown): not re-sent
    in_doubt_open: int = 0  # rows in doubt after this run (any run's), awaiting `resolve_in_doubt`
    in_doubt_keys: list[str] = field(default_factory=list)  # "dedup_key -> channel" of those rows
    errors: list[str] = field(default_factory=list)  # "channel: error", redacted

    @property
    def ok(self) -> bool:
        return self.retrying == 0 and self.failed == 0 and self.in_doubt == 0

    def as_metadata(self) -> dict[str, int | str]:
        data: dict[str, int | str] = {
            name: getattr(self, name)
            for name in (
                "due",
                "delivered",
                "digests",
                "digested",
                "retrying",
                "failed",
                "deferred",
                "muted",
                "skipped",
                "in_doubt",
                "in_doubt_open",
            )
        }
        if self.in_doubt_keys:
            data["in_doubt_keys"] = "\n".join(self.in_doubt_keys[:20])
        if self.errors:
            data["errors"] = "\n".join(self.errors[:20])
        return data


_EVENT_COLUMNS = (
    alert_events.c.coin,
    alert_events.c.episode_id,
    alert_events.c.event,
    alert_events.c.tier,
    alert_events.c.direction,
    alert_events.c.bar_ts,
    alert_events.c.interval,
    alert_events.c.layers_json,
    alert_events.c.run_id,
)


def idempotency_key(kind: str, channel: str, dedup_keys: Iterable[str]) -> str:
    """The key of one message (an event's own, or a digest of these events) to one channel.

    No attempt number in it, on purpose: a retry or an operator's resend is the same message,
    and a receiver can drop it only if it carries the key of the attempt that may have arrived."""
    text = "\n".join([kind, channel, *sorted(dedup_keys)])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _due_rows(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    query = (
        select(outbox.c.dedup_key, outbox.c.channel, outbox.c.attempts, outbox.c.created_at, *_EVENT_COLUMNS)
        .select_from(outbox.outerjoin(alert_events, alert_events.c.dedup_key == outbox.c.dedup_key))
        .where(_is_due(now))
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def _recent_sent(conn: Connection, channels: Sequence[str], since: datetime) -> list[policy.Sent]:
    if not channels:
        return []
    query = (
        select(
            outbox.c.channel,
            outbox.c.delivered_at,
            alert_events.c.coin,
            alert_events.c.tier,
            alert_events.c.event,
        )
        .select_from(outbox.join(alert_events, alert_events.c.dedup_key == outbox.c.dedup_key))
        .where(
            outbox.c.status == policy.DELIVERED,
            outbox.c.delivered_at > since,
            outbox.c.channel.in_(list(channels)),
        )
    )
    return [
        policy.Sent(r["channel"], r["coin"], r["tier"], r["event"], r["delivered_at"])
        for r in conn.execute(query).mappings()
    ]


def _pk(dedup_key: str, channel: str) -> Any:
    return and_(outbox.c.dedup_key == dedup_key, outbox.c.channel == channel)


def _claim(
    engine: Engine,
    rows: Sequence[policy.Due],
    now: datetime,
    lease_until: datetime,
    key_for: Callable[[Sequence[policy.Due]], str],
) -> tuple[list[policy.Due], str]:
    """Take the rows still pending and due, and commit them `attempting` before any send.

    Returns the rows this worker now owns and the idempotency key of the message it will send
    them in (`key_for` of those rows: a digest's key depends on which rows it got)."""
    with engine.begin() as conn:
        claimed = [
            row
            for row in rows
            if conn.execute(
                update(outbox)
                .where(_pk(row.dedup_key, row.channel), _is_due(now))
                .values(status=policy.ATTEMPTING, next_attempt_at=lease_until, attempted_at=now)
                .returning(outbox.c.dedup_key)
            ).all()
        ]
        key = key_for(claimed) if claimed else ""
        for row in claimed:
            conn.execute(update(outbox).where(_pk(row.dedup_key, row.channel)).values(idempotency_key=key))
    return claimed, key


def _attempt_of(row: policy.Due, now: datetime, key: str) -> Any:
    """This worker's attempt on the row (not one an operator or another worker started since)."""
    return and_(
        _pk(row.dedup_key, row.channel),
        outbox.c.status.in_([policy.ATTEMPTING, policy.IN_DOUBT]),
        outbox.c.attempted_at == now,
        outbox.c.idempotency_key == key,
    )


def _record(
    engine: Engine,
    rows: Sequence[policy.Due],
    outcome: SendOutcome,
    now: datetime,
    key: str,
    settings: DeliverySettings,
    success_status: str,
    report: DeliveryReport,
) -> None:
    """Write the outcome of one send for its rows, in one transaction.

    A row another worker already marked `in_doubt` (this send outlived its lease) still gets the
    outcome: it is now known."""
    stale: list[str] = []
    with engine.begin() as conn:
        for row in rows:
            if outcome.ok:
                values: dict[str, Any] = {
                    "status": success_status,
                    "attempts": row.attempts + 1,
                    "delivered_at": now,
                    "next_attempt_at": None,
                    "last_error": None,
                }
            elif outcome.in_doubt:
                values = {
                    "status": policy.IN_DOUBT,
                    "attempts": row.attempts + 1,
                    "next_attempt_at": None,
                    "last_error": f"{IN_DOUBT_TIMEOUT}: {outcome.error}",
                }
                report.in_doubt += 1
            else:
                failure = policy.after_failure(
                    row.attempts,
                    now,
                    base_seconds=settings.retry_base_seconds,
                    max_seconds=settings.retry_max_seconds,
                    max_attempts=settings.max_attempts,
                )
                values = {
                    "status": failure.status,
                    "attempts": failure.attempts,
                    "next_attempt_at": failure.next_attempt_at,
                    "last_error": outcome.error,
                }
                if failure.status == policy.FAILED:
                    report.failed += 1
                else:
                    report.retrying += 1
            written = conn.execute(
                update(outbox)
                .where(_attempt_of(row, now, key))
                .values(**values)
                .returning(outbox.c.dedup_key)
            ).all()
            if not written:
                stale.append(row.dedup_key)
    if stale:
        # Resolved by an operator (or re-claimed after that) while this send ran: theirs stands.
        log.warning(
            "outbox %s: %d row(s) changed during the send, outcome not written", outcome.channel, len(stale)
        )
    if outcome.in_doubt:
        # Not an error to retry: reported as in doubt (`in_doubt_keys`), like a crashed send.
        log.warning(
            "alert channel %s: send of %d row(s) in doubt: %s", outcome.channel, len(rows), outcome.error
        )
    elif not outcome.ok:
        report.errors.append(f"{outcome.channel}: {outcome.error}")
        log.warning(
            "alert channel %s: send failed for %d row(s): %s", outcome.channel, len(rows), outcome.error
        )


def _is_due(now: datetime) -> Any:
    return and_(
        outbox.c.status == policy.PENDING,
        or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now),
    )


def _set_status(engine: Engine, rows: Iterable[tuple[policy.Due, dict[str, Any]]], now: datetime) -> None:
    """Update rows that are still pending and due (a row claimed by another worker is left alone)."""
    with engine.begin() as conn:
        for row, values in rows:
            conn.execute(update(outbox).where(_pk(row.dedup_key, row.channel), _is_due(now)).values(**values))


def _expire_attempts(engine: Engine, now: datetime) -> list[tuple[str, str]]:
    """Rows still `attempting` after their lease become `in_doubt`; returns their keys.

    Their worker stopped after committing `attempting`, so the message may or may not have
    reached the channel: re-sending could send it twice, not sending could lose it. Neither is
    decided here; the rows are reported until an operator settles them."""
    with engine.begin() as conn:
        expired = conn.execute(
            update(outbox)
            .where(
                outbox.c.status == policy.ATTEMPTING,
                or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now),
            )
            .values(status=policy.IN_DOUBT, next_attempt_at=None, last_error=IN_DOUBT_ERROR)
            .returning(outbox.c.dedup_key, outbox.c.channel)
        ).tuples()
        return sorted(expired)


def in_doubt_rows(engine: Engine) -> list[tuple[str, str]]:
    """(dedup_key, channel) of every row in doubt, oldest attempt first."""
    with engine.connect() as conn:
        query = (
            select(outbox.c.dedup_key, outbox.c.channel)
            .where(outbox.c.status == policy.IN_DOUBT)
            .order_by(outbox.c.attempted_at, outbox.c.dedup_key, outbox.c.channel)
        )
        return list(conn.execute(query).tuples())


def deliver_due(
    engine: Engine,
    notifier: Sender,
    now: datetime,
    settings: DeliverySettings,
    *,
    run_url: str | None = None,
) -> DeliveryReport:
    """Send every pending row due at `now` to its channel (see the module and `policy` docs).

    `run_url` is shown in messages; "{run_id}" in it is replaced by the event's run id. Rows of
    channels the notifier does not know are left pending (and counted as skipped). Rows left
    `attempting` by a worker that died are marked `in_doubt` and reported, not sent."""
    now = naive_utc(now)
    report = DeliveryReport()
    known = set(notifier.channel_ids)
    cooldown = timedelta(minutes=settings.cooldown_minutes)
    lease_until = now + max(MIN_LEASE, timedelta(seconds=2 * settings.send_timeout_seconds))
    expired = _expire_attempts(engine, now)
    report.in_doubt += len(expired)
    if expired:
        log.warning(
            "outbox: %d send(s) without an outcome after their lease are in doubt (not re-sent): %s",
            len(expired),
            ", ".join(f"{key} -> {channel}" for key, channel in expired[:10]),
        )
    with engine.connect() as conn:
        due_rows = _due_rows(conn, now)
        sent = _recent_sent(conn, sorted(known), now - max(policy.RATE_WINDOW, cooldown))
    report.due = len(due_rows)

    missing = [r for r in due_rows if r["coin"] is None]
    if missing:
        # The event row is the message's content; without it there is nothing to send.
        _set_status(
            engine,
            (
                (
                    _as_due(r),
                    {"status": policy.FAILED, "next_attempt_at": None, "last_error": MISSING_EVENT_ERROR},
                )
                for r in missing
            ),
            now,
        )
        report.failed += len(missing)
    # Event fields per dedup_key (the same for every channel of the event).
    events = {r["dedup_key"]: r for r in due_rows if r["coin"] is not None}
    candidates = [_as_due(r) for r in due_rows if r["coin"] is not None and r["channel"] in known]
    report.skipped += sum(1 for r in due_rows if r["coin"] is not None and r["channel"] not in known)

    mutes = active_mutes(engine, now, settings.mutes)
    plan = policy.plan_delivery(
        candidates,
        sent,
        mutes,
        now,
        cooldown=cooldown,
        per_coin_per_hour=settings.per_coin_per_hour,
        global_per_hour=settings.global_per_hour,
    )
    _set_status(engine, ((row, {"status": policy.MUTED, "next_attempt_at": None}) for row in plan.muted), now)
    report.muted += len(plan.muted)
    _set_status(engine, ((row, {"next_attempt_at": at}) for row, at in plan.deferred), now)
    report.deferred += len(plan.deferred)

    for row in plan.send:
        # Built before the claim, so `attempting` is committed as close to the send as possible.
        message: Message = event_message(events[row.dedup_key], run_url=run_url)
        mine, key = _claim(engine, [row], now, lease_until, _key_of(_EVENT_KIND, row.channel))
        if not mine:
            report.skipped += 1
            continue
        outcome = notifier.send(row.channel, message, idempotency_key=key)
        _record(engine, mine, outcome, now, key, settings, policy.DELIVERED, report)
        report.delivered += int(outcome.ok)

    for channel, rows in plan.digests.items():
        mine, key = _claim(engine, rows, now, lease_until, _key_of(_DIGEST_KIND, channel))
        report.skipped += len(rows) - len(mine)
        if not mine:
            continue
        digest = digest_message([events[row.dedup_key] for row in mine], run_url=run_url)
        outcome = notifier.send(channel, digest, idempotency_key=key)
        _record(engine, mine, outcome, now, key, settings, policy.DIGESTED, report)
        if outcome.ok:
            report.digests += 1
            report.digested += len(mine)

    open_rows = in_doubt_rows(engine)
    report.in_doubt_open = len(open_rows)
    report.in_doubt_keys = [f"{key} -> {channel}" for key, channel in open_rows]
    log.info(
        "outbox: %d due, %d delivered, %d in %d digest(s), %d retrying, %d failed, %d held, %d muted, "
        "%d in doubt (%d unresolved)",
        report.due,
        report.delivered,
        report.digested,
        report.digests,
        report.retrying,
        report.failed,
        report.deferred,
        report.muted,
        report.in_doubt,
        report.in_doubt_open,
    )
    return report


def _key_of(kind: str, channel: str) -> Callable[[Sequence[policy.Due]], str]:
    return lambda rows: idempotency_key(kind, channel, (row.dedup_key for row in rows))


def resolve_in_doubt(
    engine: Engine,
    dedup_key: str | None = None,
    channel: str | None = None,
    action: Literal["resend", "mark_delivered"] = "resend",
    *,
    now: datetime | None = None,
) -> list[tuple[str, str]]:
    """Settle rows in doubt (all, or those of one event and/or channel); returns their keys.

    - `resend`: back to `pending`, due at once; the next `deliver_due` sends it with the same
      idempotency key as the attempt in doubt, so a webhook receiver can drop it if it had it.
    - `mark_delivered`: the operator checked the channel has it: `delivered` (or `digested` when
      the attempt was a digest), `delivered_at` the time the attempt started (cooldown and rate
      limits count it from then).
    Only rows in doubt are touched."""
    if action not in ("resend", "mark_delivered"):
        raise ValueError(f"unknown action {action!r}: use 'resend' or 'mark_delivered'")
    now = naive_utc(now) if now is not None else utc_now_naive()
    conditions = [outbox.c.status == policy.IN_DOUBT]
    if dedup_key is not None:
        conditions.append(outbox.c.dedup_key == dedup_key)
    if channel is not None:
        conditions.append(outbox.c.channel == channel)
    resolved: list[tuple[str, str]] = []
    with engine.begin() as conn:
        found = conn.execute(
            select(outbox.c.dedup_key, outbox.c.channel, outbox.c.attempted_at, outbox.c.idempotency_key)
            .where(*conditions)
            .order_by(outbox.c.dedup_key, outbox.c.channel)
        ).mappings()
        for found_row in list(found):
            key, row_channel = str(found_row["dedup_key"]), str(found_row["channel"])
            attempted_at, sent_key = found_row["attempted_at"], found_row["idempotency_key"]
            if action == "resend":
                values: dict[str, Any] = {
                    "status": policy.PENDING,
                    "next_attempt_at": None,
                    "last_error": RESEND_NOTE,
                }
            else:
                was_digest = sent_key is not None and sent_key != idempotency_key(
                    _EVENT_KIND, row_channel, [key]
                )
                values = {
                    "status": policy.DIGESTED if was_digest else policy.DELIVERED,
                    "delivered_at": attempted_at or now,
                    "next_attempt_at": None,
                    "last_error": None,
                }
            updated = conn.execute(
                update(outbox)
                .where(_pk(key, row_channel), outbox.c.status == policy.IN_DOUBT)
                .values(**values)
                .returning(outbox.c.dedup_key)
            ).all()
            if updated:
                resolved.append((key, row_channel))
    log.info("outbox: %d row(s) in doubt resolved (%s)", len(resolved), action)
    return resolved


def _as_due(row: Mapping[str, Any]) -> policy.Due:
    return policy.Due(
        dedup_key=row["dedup_key"],
        channel=row["channel"],
        coin=str(row["coin"] or ""),
        event=str(row["event"] or ""),
        tier=str(row["tier"] or ""),
        bar_ts=row["bar_ts"] or row["created_at"],
        created_at=row["created_at"],
        attempts=int(row["attempts"] or 0),
    )
