"""Enqueue and deliver through real HTTP receivers: fan-out, retries, partial failure, idempotence,
the historical cut-off, record-only events, sends in doubt and the outbox migration."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from sniper_pipeline.delivery.channels import channels_from_urls, with_idempotency_key
from sniper_pipeline.delivery.notifier import Notifier
from sniper_pipeline.delivery.outbox import (
    MISSING_EVENT_ERROR,
    _claim,
    _key_of,
    deliver_due,
    enqueue,
    idempotency_key,
    resolve_in_doubt,
)
from sniper_pipeline.delivery.policy import Due
from sniper_pipeline.delivery.settings import DeliverySettings
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.tables import OUTBOX_ADDED_COLUMNS, add_missing_columns, outbox
from sniper_pipeline.warehouse.url import warehouse_location
from sniper_pipeline_tests.delivery.support import (
    LAST_BAR,
    NOW,
    make_event,
    outbox_rows,
    statuses,
    store,
)

SETTINGS = DeliverySettings(retry_base_seconds=30, retry_max_seconds=120, max_attempts=4)


def test_one_event_to_two_channels_on_both_warehouses(warehouse_url, make_receiver):
    engine = make_engine(warehouse_location(warehouse_url))
    a, b = make_receiver(), make_receiver()
    channels = channels_from_urls([a.url("/a"), b.url("/b")])
    events = store(engine, make_event("BTC", "open", "action", direction="down"))

    counts = enqueue(engine, events, channels, NOW)
    assert (counts.new, counts.existing, counts.by_status) == (2, 0, {"pending": 2})

    report = deliver_due(
        engine, Notifier(channels), NOW, SETTINGS, run_url="http://dagster:3000/runs/{run_id}"
    )
    assert (report.due, report.delivered, report.retrying, report.failed) == (2, 2, 0, 0)
    for receiver in (a, b):
        assert len(receiver.accepted) == 1
        text = receiver.messages[0]
        assert "BTC opened ACTION, down" in text
        assert "funding 12.3 bps/8h > p95 8.1" in text
        assert "liquidations $45.6M > p85 $30.1M" in text
        assert "taker ratio 0.61 < p15 0.72" in text
        assert "2024-05-01 08:00-12:00 UTC (4h bar)" in text
        assert "Run: http://dagster:3000/runs/run-123" in text
        assert "BTC ACTION down (open)" in receiver.accepted[0]["title"]
    rows = outbox_rows(engine)
    assert {r["status"] for r in rows.values()} == {"delivered"}
    assert {r["attempts"] for r in rows.values()} == {1}
    assert {r["delivered_at"] for r in rows.values()} == {NOW}

    # Nothing is due any more: a second run sends nothing.
    again = deliver_due(engine, Notifier(channels), NOW + timedelta(minutes=1), SETTINGS)
    assert again.due == 0 and len(a.received) == len(b.received) == 1
    engine.dispose()


def test_reenqueue_adds_nothing_and_never_resends(engine: Engine, make_receiver):
    receiver = make_receiver()
    channels = channels_from_urls([receiver.url()])
    events = store(engine, make_event("BTC"), make_event("ETH"))

    assert enqueue(engine, events, channels, NOW).new == 2
    repeat = enqueue(engine, events + events[:1], channels, NOW)
    assert (repeat.new, repeat.existing, repeat.events) == (0, 2, 2)

    deliver_due(engine, Notifier(channels), NOW, SETTINGS)
    assert len(receiver.accepted) == 2
    # Days later the same events (now historical) are enqueued again: the rows keep their state.
    later = NOW + timedelta(days=3)
    assert enqueue(engine, pd.DataFrame(events), channels, later).new == 0
    assert set(statuses(engine).values()) == {"delivered"}
    assert deliver_due(engine, Notifier(channels), later, SETTINGS).due == 0
    assert len(receiver.received) == 2


def test_failing_receiver_retries_with_backoff_then_delivers_once(engine: Engine, make_receiver):
    receiver = make_receiver()
    channels = channels_from_urls([receiver.url()])
    notifier = Notifier(channels)
    (event,) = store(engine, make_event())
    enqueue(engine, [event], channels, NOW)
    key = (event["dedup_key"], channels[0].id)
    receiver.fail_next(2)

    first = deliver_due(engine, notifier, NOW, SETTINGS)
    assert (first.delivered, first.retrying) == (0, 1)
    row = outbox_rows(engine)[key]
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["next_attempt_at"] == NOW + timedelta(seconds=30)
    assert "500" in row["last_error"]

    # Not due yet: no request at all.
    assert deliver_due(engine, notifier, NOW + timedelta(seconds=29), SETTINGS).due == 0
    assert len(receiver.received) == 1

    second = deliver_due(engine, notifier, NOW + timedelta(seconds=30), SETTINGS)
    assert second.retrying == 1
    row = outbox_rows(engine)[key]
    assert row["attempts"] == 2
    assert row["next_attempt_at"] == NOW + timedelta(seconds=30 + 60)  # doubled

    third = deliver_due(engine, notifier, NOW + timedelta(seconds=90), SETTINGS)
    assert third.delivered == 1
    row = outbox_rows(engine)[key]
    assert (row["status"], row["attempts"], row["last_error"]) == ("delivered", 3, None)
    assert row["delivered_at"] == NOW + timedelta(seconds=90)
    assert [r.status for r in receiver.received] == [500, 500, 200]
    assert len(receiver.accepted) == 1  # nothing lost, nothing doubled

    assert deliver_due(engine, notifier, NOW + timedelta(hours=2), SETTINGS).due == 0
    assert len(receiver.received) == 3


def test_gives_up_after_max_attempts(engine: Engine, make_receiver):
    receiver = make_receiver()
    channels = channels_from_urls([receiver.url()])
    (event,) = store(engine, make_event())
    enqueue(engine, [event], channels, NOW)
    receiver.fail_next(100)
    settings = DeliverySettings(retry_base_seconds=10, retry_max_seconds=15, max_attempts=3)

    at = NOW
    for expected_delay in (10, 15):  # capped at retry_max_seconds
        deliver_due(engine, Notifier(channels), at, settings)
        row = outbox_rows(engine)[(event["dedup_key"], channels[0].id)]
        assert row["next_attempt_at"] == at + timedelta(seconds=expected_delay)
        at = row["next_attempt_at"]
    report = deliver_due(engine, Notifier(channels), at, settings)
    assert report.failed == 1 and not report.ok
    row = outbox_rows(engine)[(event["dedup_key"], channels[0].id)]
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("failed", 3, None)
    assert deliver_due(engine, Notifier(channels), at + timedelta(days=1), settings).due == 0
    assert len(receiver.received) == 3


def test_one_failing_channel_does_not_resend_to_the_good_one(warehouse_url, make_receiver):
    engine = make_engine(warehouse_location(warehouse_url))
    good, bad = make_receiver(), make_receiver()
    channels = channels_from_urls([good.url("/good"), bad.url("/bad")])
    notifier = Notifier(channels)
    events = store(engine, make_event("BTC"), make_event("ETH", "open", "action"))
    enqueue(engine, events, channels, NOW)
    bad.fail_next(2)

    first = deliver_due(engine, notifier, NOW, SETTINGS)
    assert (first.delivered, first.retrying) == (2, 2)
    assert first.errors and all(e.startswith(channels[1].id) for e in first.errors)
    assert len(good.accepted) == 2 and len(bad.accepted) == 0

    second = deliver_due(engine, notifier, NOW + timedelta(minutes=1), SETTINGS)
    assert (second.due, second.delivered) == (2, 2)
    assert len(good.received) == 2  # the good channel was not asked again
    assert len(bad.accepted) == 2
    assert set(statuses(engine).values()) == {"delivered"}
    engine.dispose()


def test_historical_cut_off_on_a_first_run(engine: Engine, make_receiver):
    receiver = make_receiver()
    channels = channels_from_urls([receiver.url()])
    bars = [LAST_BAR - timedelta(hours=4 * k) for k in range(4)]  # closed 12:00, 08:00, 04:00, 00:00
    events = store(engine, *(make_event("BTC", bar_ts=ts, extra=str(k)) for k, ts in enumerate(bars)))

    counts = enqueue(engine, events, channels, NOW)
    assert counts.by_status == {"pending": 2, "historical": 2}
    by_key = {key: status for (key, _), status in statuses(engine).items()}
    assert [by_key[e["dedup_key"]] for e in events] == ["pending", "pending", "historical", "historical"]

    report = deliver_due(engine, Notifier(channels), NOW, DeliverySettings(cooldown_minutes=0))
    assert report.delivered == 2
    assert len(receiver.accepted) == 2
    rows = outbox_rows(engine)
    historical = [r for r in rows.values() if r["status"] == "historical"]
    assert all(r["next_attempt_at"] is None and r["attempts"] == 0 for r in historical)


def test_anti_flip_records_are_kept_but_not_sent(engine: Engine, make_receiver):
    receiver = make_receiver()
    channels = channels_from_urls([receiver.url()])
    events = store(engine, make_event("BTC", "anti_flip_suppressed", "watch", direction="down"))
    assert enqueue(engine, events, channels, NOW).by_status == {"not_sent": 1}
    assert deliver_due(engine, Notifier(channels), NOW, SETTINGS).due == 0
    assert receiver.received == []


def test_no_channels_queue_nothing(engine: Engine):
    events = store(engine, make_event())
    counts = enqueue(engine, events, [], NOW)
    assert (counts.events, counts.rows, counts.new) == (1, 0, 0)
    assert outbox_rows(engine) == {}


def test_row_without_its_event_fails_visibly(engine: Engine, make_receiver):
    receiver = make_receiver()
    channels = channels_from_urls([receiver.url()])
    enqueue(engine, [make_event()], channels, NOW)  # never written to alert_events
    report = deliver_due(engine, Notifier(channels), NOW, SETTINGS)
    assert report.failed == 1
    (row,) = outbox_rows(engine).values()
    assert (row["status"], row["last_error"]) == ("failed", MISSING_EVENT_ERROR)
    assert receiver.received == []


def test_rows_of_an_unconfigured_channel_wait(engine: Engine, make_receiver):
    a, b = make_receiver(), make_receiver()
    both = channels_from_urls([a.url(), b.url()])
    events = store(engine, make_event())
    enqueue(engine, events, both, NOW)
    report = deliver_due(engine, Notifier(both[:1]), NOW, SETTINGS)
    assert (report.delivered, report.skipped) == (1, 1)
    assert statuses(engine)[(events[0]["dedup_key"], both[1].id)] == "pending"
    assert deliver_due(engine, Notifier(both), NOW, SETTINGS).delivered == 1
    assert len(a.received) == len(b.received) == 1


@pytest.mark.parametrize("interval_in_row", [True, False])
def test_bar_interval_fallback(engine: Engine, interval_in_row: bool):
    event = make_event(bar_ts=LAST_BAR - timedelta(hours=8))  # closed 04:00: historical on 4h bars
    if not interval_in_row:
        del event["interval"]
    channels = channels_from_urls(["json://127.0.0.1:9/x"])
    counts = enqueue(engine, [event], channels, NOW, bar_interval="4h")
    assert counts.by_status == {"historical": 1}
    with pytest.raises(ValueError, match="no interval"):
        enqueue(engine, [{**make_event("ETH"), "interval": None}], channels, NOW)


def test_aware_times_are_stored_as_naive_utc(engine: Engine, make_receiver):
    receiver = make_receiver()
    channels = channels_from_urls([receiver.url()])
    aware_now = datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))  # 12:30 UTC
    event = {**make_event(), "bar_ts": pd.Timestamp(LAST_BAR, tz="UTC")}
    store(engine, make_event())
    assert enqueue(engine, [event], channels, aware_now).by_status == {"pending": 1}
    deliver_due(engine, Notifier(channels), aware_now, SETTINGS)
    (row,) = outbox_rows(engine).values()
    assert (row["created_at"], row["delivered_at"]) == (NOW, NOW)


def test_a_claimed_row_is_skipped_by_another_worker_then_in_doubt(engine: Engine, make_receiver):
    receiver = make_receiver()
    channels = channels_from_urls([receiver.url()])
    (event,) = store(engine, make_event())
    enqueue(engine, [event], channels, NOW)
    row = Due(event["dedup_key"], channels[0].id, "BTC", "open", "watch", LAST_BAR, NOW)
    lease_end = NOW + timedelta(minutes=2)
    key_for = _key_of("event", channels[0].id)
    claimed, key = _claim(engine, [row], NOW, lease_end, key_for)
    assert claimed == [row] and key == idempotency_key("event", channels[0].id, [event["dedup_key"]])
    assert _claim(engine, [row], NOW, lease_end, key_for) == ([], "")  # a second worker gets nothing
    stored = outbox_rows(engine)[(event["dedup_key"], channels[0].id)]
    assert (stored["status"], stored["attempted_at"], stored["idempotency_key"]) == ("attempting", NOW, key)
    # The first worker "crashed" after committing `attempting`: the outbox cannot tell whether
    # the channel got the message, so after the lease the row is in doubt, not re-sent.
    assert deliver_due(engine, Notifier(channels), NOW + timedelta(minutes=1), SETTINGS).due == 0
    report = deliver_due(engine, Notifier(channels), lease_end, SETTINGS)
    assert (report.delivered, report.in_doubt, report.in_doubt_open) == (0, 1, 1)
    assert receiver.received == []
    # The operator asks for a resend: delivered once, with the attempt's key.
    assert resolve_in_doubt(engine, action="resend") == [(event["dedup_key"], channels[0].id)]
    assert deliver_due(engine, Notifier(channels), lease_end, SETTINGS).delivered == 1
    assert [r.idempotency_key for r in receiver.received] == [key]


def test_in_doubt_lifecycle_on_both_warehouses(warehouse_url, make_receiver):
    """Attempts left by a dead worker (an event and a two-row digest) become in doubt after the
    lease, are reported every run and never sent, until `resolve_in_doubt` settles them."""
    engine = make_engine(warehouse_location(warehouse_url))
    receiver = make_receiver()
    channels = channels_from_urls([receiver.url()])
    channel = channels[0].id
    events = store(engine, make_event("BTC"), make_event("ETH"), make_event("SOL"), make_event("XRP"))
    enqueue(engine, events, channels, NOW)
    btc, eth, sol, xrp = (
        Due(e["dedup_key"], channel, e["coin"], "open", "watch", LAST_BAR, NOW) for e in events
    )
    lease_end = NOW + timedelta(minutes=2)
    _, event_key = _claim(engine, [btc], NOW, lease_end, _key_of("event", channel))
    _, digest_key = _claim(engine, [eth, sol], NOW, lease_end, _key_of("digest", channel))
    assert digest_key == idempotency_key("digest", channel, [eth.dedup_key, sol.dedup_key]) != event_key

    report = deliver_due(engine, Notifier(channels), lease_end, SETTINGS)
    assert (report.due, report.delivered, report.in_doubt, report.in_doubt_open) == (1, 1, 3, 3)
    assert sorted(report.in_doubt_keys) == sorted(f"{r.dedup_key} -> {channel}" for r in (btc, eth, sol))
    assert len(receiver.received) == 1 and "XRP" in receiver.received[0].body["title"]  # only XRP
    again = deliver_due(engine, Notifier(channels), lease_end + timedelta(hours=1), SETTINGS)
    assert (again.due, again.in_doubt, again.in_doubt_open) == (0, 0, 3)

    with pytest.raises(ValueError, match="unknown action"):
        resolve_in_doubt(engine, action="retry")  # type: ignore[arg-type]
    assert resolve_in_doubt(engine, "no-such-key") == []
    # Checked on the channel: delivered (the event) and digested (the digest's rows), as of the attempt.
    assert resolve_in_doubt(engine, btc.dedup_key, action="mark_delivered") == [(btc.dedup_key, channel)]
    assert resolve_in_doubt(engine, channel=channel, action="mark_delivered") == sorted(
        [(eth.dedup_key, channel), (sol.dedup_key, channel)]
    )
    rows = outbox_rows(engine)
    assert {k[0]: (r["status"], r["delivered_at"]) for k, r in rows.items()} == {
        btc.dedup_key: ("delivered", NOW),
        eth.dedup_key: ("digested", NOW),
        sol.dedup_key: ("digested", NOW),
        xrp.dedup_key: ("delivered", lease_end),
    }
    assert resolve_in_doubt(engine, action="resend") == []  # nothing in doubt any more
    final = deliver_due(engine, Notifier(channels), lease_end + timedelta(hours=2), SETTINGS)
    assert (final.due, final.in_doubt_open, len(receiver.received)) == (0, 0, 1)
    engine.dispose()


@pytest.mark.parametrize("scheme", ["json", "form", "xml"])
def test_every_attempt_carries_the_same_idempotency_header(engine: Engine, make_receiver, scheme: str):
    receiver = make_receiver()
    channels = channels_from_urls([receiver.url(scheme=scheme)])
    (event,) = store(engine, make_event())
    enqueue(engine, [event], channels, NOW)
    receiver.fail_next(1)
    assert deliver_due(engine, Notifier(channels), NOW, SETTINGS).retrying == 1
    assert deliver_due(engine, Notifier(channels), NOW + timedelta(minutes=1), SETTINGS).delivered == 1
    key = idempotency_key("event", channels[0].id, [event["dedup_key"]])
    assert [(r.status, r.idempotency_key) for r in receiver.received] == [(500, key), (200, key)]
    assert outbox_rows(engine)[(event["dedup_key"], channels[0].id)]["idempotency_key"] == key


def test_idempotency_header_only_where_the_scheme_carries_it():
    key = "0123abcd"
    assert with_idempotency_key("json://h:8080/x", key) == f"json://h:8080/x?+Idempotency-Key={key}"
    assert with_idempotency_key("jsons://h/x?rto=30", key) == f"jsons://h/x?rto=30&+Idempotency-Key={key}"
    assert with_idempotency_key("tgram://bot/chat", key) == "tgram://bot/chat"
    assert with_idempotency_key("slack://a/b/c/#general", key) == "slack://a/b/c/#general"


def test_a_send_apprise_gave_up_waiting_for_is_in_doubt(engine: Engine, make_receiver):
    """Apprise's TIMEOUT leaves the service call running: it may still arrive, so no retry."""
    receiver = make_receiver()
    channels = channels_from_urls([receiver.url() + "?rto=30"])
    (event,) = store(engine, make_event())
    enqueue(engine, [event], channels, NOW)
    receiver.hold(2)
    report = deliver_due(engine, Notifier(channels, timeout_seconds=0.5), NOW, SETTINGS)
    assert (report.delivered, report.retrying, report.in_doubt, report.in_doubt_open) == (0, 0, 1, 1)
    assert report.errors == []  # not an error to retry
    row = outbox_rows(engine)[(event["dedup_key"], channels[0].id)]
    assert (row["status"], row["attempts"]) == ("in_doubt", 1)
    assert row["last_error"].startswith("apprise stopped waiting")
    receiver.release()
    assert receiver.wait_for(1, timeout=5)
    assert deliver_due(engine, Notifier(channels), NOW + timedelta(hours=1), SETTINGS).due == 0
    assert len(receiver.received) == 1


OLD_OUTBOX_DDL = """
create table outbox (
    dedup_key varchar not null,
    channel varchar not null,
    status varchar not null,
    attempts integer not null,
    next_attempt_at timestamp,
    last_error text,
    delivered_at timestamp,
    created_at timestamp not null,
    primary key (dedup_key, channel)
)
"""


def test_an_outbox_from_before_the_attempt_columns_is_migrated(warehouse_url, make_receiver):
    """An existing warehouse (DuckDB file or PostgreSQL) gets the new columns; its rows survive."""
    receiver = make_receiver()
    channels = channels_from_urls([receiver.url()])
    event = make_event()
    old = create_engine(warehouse_url, poolclass=NullPool)
    with old.begin() as conn:
        conn.execute(text(OLD_OUTBOX_DDL))
        conn.execute(
            text("insert into outbox values (:key, :channel, 'pending', 0, :now, null, null, :now)"),
            {"key": event["dedup_key"], "channel": channels[0].id, "now": NOW},
        )
    old.dispose()

    engine = make_engine(warehouse_location(warehouse_url))
    engine.dispose()
    engine = make_engine(warehouse_location(warehouse_url))  # a second start adds nothing
    with engine.connect() as conn:
        assert add_missing_columns(conn, outbox, OUTBOX_ADDED_COLUMNS) == []
    (row,) = outbox_rows(engine).values()
    assert (row["status"], row["attempted_at"], row["idempotency_key"]) == ("pending", None, None)
    store(engine, event)
    assert deliver_due(engine, Notifier(channels), NOW, SETTINGS).delivered == 1
    (row,) = outbox_rows(engine).values()
    assert (row["status"], row["attempted_at"]) == ("delivered", NOW)
    assert receiver.received[0].idempotency_key == row["idempotency_key"]
    engine.dispose()
