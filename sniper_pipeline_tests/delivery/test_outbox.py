"""Enqueue and deliver through real HTTP receivers: fan-out, retries, partial failure, idempotence,
the historical cut-off and record-only events."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import Engine

from sniper_pipeline.delivery.channels import channels_from_urls
from sniper_pipeline.delivery.notifier import Notifier
from sniper_pipeline.delivery.outbox import MISSING_EVENT_ERROR, _claim, deliver_due, enqueue, next_due
from sniper_pipeline.delivery.policy import Due
from sniper_pipeline.delivery.settings import DeliverySettings
from sniper_pipeline.warehouse.engine import make_engine
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
    assert next_due(engine) == NOW + timedelta(seconds=30)

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


def test_a_claimed_row_is_skipped_by_another_worker_until_its_lease_ends(engine: Engine, make_receiver):
    receiver = make_receiver()
    channels = channels_from_urls([receiver.url()])
    (event,) = store(engine, make_event())
    enqueue(engine, [event], channels, NOW)
    row = Due(event["dedup_key"], channels[0].id, "BTC", "open", "watch", LAST_BAR, NOW)
    lease_end = NOW + timedelta(minutes=2)
    assert _claim(engine, [row], NOW, lease_end) == {event["dedup_key"]}
    assert _claim(engine, [row], NOW, lease_end) == set()  # a second worker gets nothing
    # The first worker "crashed" before sending: after the lease the row is delivered once.
    assert deliver_due(engine, Notifier(channels), NOW + timedelta(minutes=1), SETTINGS).due == 0
    assert deliver_due(engine, Notifier(channels), lease_end, SETTINGS).delivered == 1
    assert len(receiver.received) == 1
