"""Wall-clock rules: the pure functions, then cooldown and rate limits through real receivers."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import Engine

from sniper_pipeline.delivery import policy
from sniper_pipeline.delivery.channels import channels_from_urls
from sniper_pipeline.delivery.notifier import Notifier
from sniper_pipeline.delivery.outbox import deliver_due, enqueue
from sniper_pipeline.delivery.policy import Due, Mute, Sent, plan_delivery
from sniper_pipeline.delivery.settings import DeliverySettings
from sniper_pipeline_tests.delivery.support import (
    LAST_BAR,
    NOW,
    make_event,
    minutes,
    outbox_rows,
    statuses,
    store,
)

# -- pure ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "bar_close", "historical"),
    [
        (NOW, datetime(2024, 5, 1, 12), False),
        (NOW, datetime(2024, 5, 1, 8), False),
        (NOW, datetime(2024, 5, 1, 4), True),
        # On the grid the cut-off keeps exactly two closed bars.
        (datetime(2024, 5, 1, 12), datetime(2024, 5, 1, 8), False),
        (datetime(2024, 5, 1, 12), datetime(2024, 5, 1, 4), True),
        (datetime(2024, 5, 1, 15, 59), datetime(2024, 5, 1, 8), False),
    ],
)
def test_is_historical(now: datetime, bar_close: datetime, historical: bool):
    bar_ts = bar_close - timedelta(hours=4)
    assert policy.is_historical(bar_ts, "4h", now, 2) is historical
    assert policy.is_historical(bar_ts, "4h", now, None) is False


def test_enqueue_status_precedence():
    old = LAST_BAR - timedelta(days=1)
    status = partial(
        policy.enqueue_status, mutes=[Mute("BTC", NOW + timedelta(hours=1))], deliver_since_bars=2
    )
    assert status("anti_flip_suppressed", "ETH", LAST_BAR, "4h", NOW) == "not_sent"
    assert status("open", "BTC", old, "4h", NOW) == "historical"
    assert status("open", "btc", LAST_BAR, "4h", NOW) == "muted"
    assert status("open", "ETH", LAST_BAR, "4h", NOW) == "pending"


def test_mutes_expire_and_global_covers_every_coin():
    mutes = [Mute("*", NOW + minutes(10)), Mute("BTC", NOW + minutes(60))]
    assert policy.mute_for("BTC", mutes, NOW) == mutes[1]  # the longest
    assert policy.mute_for("SOL", mutes, NOW) == mutes[0]
    assert policy.mute_for("SOL", mutes, NOW + minutes(10)) is None  # `until` is exclusive
    assert policy.mute_for("BTC", mutes, NOW + minutes(61)) is None


def test_backoff_doubles_up_to_the_cap():
    delays = [policy.retry_delay(n, 30, 300).total_seconds() for n in range(1, 7)]
    assert delays == [30, 60, 120, 240, 300, 300]
    assert policy.retry_delay(10_000, 30, 300) == timedelta(seconds=300)
    failure = policy.after_failure(0, NOW, base_seconds=30, max_seconds=300, max_attempts=3)
    assert failure == policy.Failure("pending", 1, NOW + timedelta(seconds=30))
    assert policy.after_failure(2, NOW, base_seconds=30, max_seconds=300, max_attempts=3).status == "failed"


def _due(key: str, coin: str = "BTC", event: str = "open", tier: str = "watch", channel: str = "c1") -> Due:
    return Due(key, channel, coin, event, tier, LAST_BAR, NOW)


def test_plan_cooldown_applies_to_open_and_escalate_only():
    sent = [Sent("c1", "BTC", "watch", "open", NOW - minutes(2))]
    due = [
        _due("open-watch"),
        _due("escalate-watch", event="escalate"),
        _due("upgrade", event="upgrade", tier="action"),
        _due("close", event="close"),
        _due("open-watch-c2", channel="c2"),  # another channel has its own clock
        _due("open-eth", coin="ETH"),
    ]
    plan = plan_delivery(
        due, sent, [], NOW, cooldown=minutes(5), per_coin_per_hour=None, global_per_hour=None
    )
    assert {(d.dedup_key, at) for d, at in plan.deferred} == {
        ("open-watch", NOW + minutes(3)),
        ("escalate-watch", NOW + minutes(3)),
    }
    assert {d.dedup_key for d in plan.send} == {"upgrade", "close", "open-watch-c2", "open-eth"}
    # The upgrade just planned starts an action cooldown for the rest of the batch.
    later = plan_delivery(
        [_due("2-open-action", tier="action"), _due("1-upgrade", event="upgrade", tier="action")],
        [],
        [],
        NOW,
        cooldown=minutes(5),
        per_coin_per_hour=None,
        global_per_hour=None,
    )
    assert [d.dedup_key for d in later.send] == ["1-upgrade"]
    assert [d.dedup_key for d, _ in later.deferred] == ["2-open-action"]


def test_plan_rate_limits_fold_excess_per_channel():
    sent = [
        Sent("c1", "BTC", "watch", "open", NOW - minutes(30)),
        Sent("c1", "BTC", "watch", "open", NOW - minutes(61)),  # outside the window
    ]
    due = [_due(f"btc{i}", event="close") for i in range(3)] + [_due(f"eth{i}", coin="ETH") for i in range(3)]
    due += [_due("btc-c2", event="close", channel="c2")]
    plan = plan_delivery(due, sent, [], NOW, cooldown=minutes(0), per_coin_per_hour=2, global_per_hour=3)
    assert {d.dedup_key for d in plan.send} == {"btc0", "eth0", "btc-c2"}
    assert {c: [d.dedup_key for d in rows] for c, rows in plan.digests.items()} == {
        "c1": ["btc1", "btc2", "eth1", "eth2"]
    }


def test_plan_mutes_win_over_everything():
    plan = plan_delivery(
        [_due("a"), _due("b", coin="ETH")],
        [],
        [Mute("ETH", NOW + minutes(1))],
        NOW,
        cooldown=minutes(5),
        per_coin_per_hour=1,
        global_per_hour=1,
    )
    assert [d.dedup_key for d in plan.muted] == ["b"]
    assert [d.dedup_key for d in plan.send] == ["a"]


# -- through the outbox ----------------------------------------------------------------------------


def test_cooldown_holds_a_repeat_open_until_it_ends(engine: Engine, make_receiver):
    receiver = make_receiver()
    channels = channels_from_urls([receiver.url()])
    notifier = Notifier(channels)
    settings = DeliverySettings(cooldown_minutes=5)
    first = store(engine, make_event("BTC", "open", "watch", extra="a"))
    enqueue(engine, first, channels, NOW)
    assert deliver_due(engine, notifier, NOW, settings).delivered == 1

    # A minute later (a stream-triggered scan inside the bar): the episode closed, a new one opens
    # at the same tier, and another coin upgrades.
    t1 = NOW + minutes(1)
    close = make_event("BTC", "close", "watch", extra="a")
    reopen = make_event("BTC", "open", "watch", direction="down", extra="b")
    upgrade = make_event("ETH", "upgrade", "action", direction="down")
    store(engine, close, reopen, upgrade)
    enqueue(engine, [close, reopen, upgrade], channels, t1)
    report = deliver_due(engine, notifier, t1, settings)
    assert (report.delivered, report.deferred) == (2, 1)
    assert receiver.messages[1].startswith("BTC: all clear")
    assert receiver.messages[2].startswith("ETH upgraded to ACTION, down")
    held = outbox_rows(engine)[(reopen["dedup_key"], channels[0].id)]
    assert (held["status"], held["attempts"], held["next_attempt_at"]) == ("pending", 0, NOW + minutes(5))

    assert deliver_due(engine, notifier, NOW + minutes(4), settings).due == 0
    assert deliver_due(engine, notifier, NOW + minutes(5), settings).delivered == 1
    assert receiver.messages[3].startswith("BTC opened WATCH, down")
    assert len(receiver.received) == 4


def test_rate_limits_fold_the_excess_into_one_digest(engine: Engine, make_receiver):
    a, b = make_receiver(), make_receiver()
    channels = channels_from_urls([a.url("/a"), b.url("/b")])
    notifier = Notifier(channels)
    settings = DeliverySettings(cooldown_minutes=0, per_coin_per_hour=2, global_per_hour=3)
    btc = [make_event("BTC", extra=str(i)) for i in range(4)]
    eth = [make_event("ETH", extra=str(i)) for i in range(2)]
    store(engine, *btc, *eth)
    enqueue(engine, btc + eth, channels, NOW)

    report = deliver_due(engine, notifier, NOW, settings)
    assert (report.delivered, report.digests, report.digested) == (6, 2, 6)
    for receiver in (a, b):
        assert len(receiver.accepted) == 4  # 3 messages (the global limit) + 1 digest
        digest = receiver.accepted[-1]
        assert digest["title"] == "[sniper] digest: 3 alert(s) for BTC, ETH"
        assert digest["message"].count("\n- ") == 3
        assert "funding 12.3 bps/8h > p95 8.1" in digest["message"]
    by_status = list(statuses(engine).values())
    assert (by_status.count("delivered"), by_status.count("digested")) == (6, 6)

    # Within the hour the limit still holds; once the window slides, messages go one by one.
    more = make_event("SOL", extra="x")
    store(engine, more)
    enqueue(engine, [more], channels, NOW + minutes(30))
    assert deliver_due(engine, notifier, NOW + minutes(30), settings).digests == 2
    later = make_event("SOL", extra="y")
    store(engine, later)
    enqueue(engine, [later], channels, NOW + minutes(61))
    assert deliver_due(engine, notifier, NOW + minutes(61), settings).delivered == 2
    assert a.accepted[-1]["title"].startswith("[sniper] SOL WATCH up")


def test_a_failed_digest_is_retried_as_a_whole(engine: Engine, make_receiver):
    receiver = make_receiver()
    channels = channels_from_urls([receiver.url()])
    settings = DeliverySettings(cooldown_minutes=0, per_coin_per_hour=1, global_per_hour=None)
    events = store(engine, *(make_event("BTC", extra=str(i)) for i in range(3)))
    enqueue(engine, events, channels, NOW)
    receiver.fail_next(2)  # the single message and the digest both fail

    first = deliver_due(engine, Notifier(channels), NOW, settings)
    assert (first.delivered, first.digests, first.retrying) == (0, 0, 3)
    assert set(statuses(engine).values()) == {"pending"}

    # The failed sends did not count: one message goes, the other two are one digest.
    second = deliver_due(engine, Notifier(channels), NOW + timedelta(seconds=30), settings)
    assert (second.delivered, second.digests, second.digested) == (1, 1, 2)
    assert len(receiver.accepted) == 2
