"""Exactly once across a real crash: `deliver_due` runs in a child process that is killed with
SIGKILL mid-send, then the outbox worker runs again here. Counted as messages the receiver got,
not as outbox rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from sniper_pipeline.delivery.channels import channels_from_urls
from sniper_pipeline.delivery.notifier import Notifier
from sniper_pipeline.delivery.outbox import (
    IN_DOUBT_ERROR,
    MIN_LEASE,
    deliver_due,
    enqueue,
    resolve_in_doubt,
)
from sniper_pipeline.delivery.settings import DeliverySettings
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.url import warehouse_location
from sniper_pipeline_tests.conftest import REPO_ROOT
from sniper_pipeline_tests.delivery.support import NOW, Receiver, make_event, outbox_rows, store

# One message per event, in dedup_key order (BTC, ETH, SOL): no cooldown, no rate limit.
SETTINGS = DeliverySettings(cooldown_minutes=0, per_coin_per_hour=None, global_per_hour=None)
COINS = ("BTC", "ETH", "SOL")
HOLD_SECONDS = 8  # the slow receiver answers this late (the child is killed long before)
LEASE_END = NOW + MIN_LEASE  # SETTINGS' 30 s send timeout gives the 2-minute minimum lease


def received_per_coin(receiver: Receiver) -> dict[str, int]:
    """Messages the receiver got, per coin (from the title), whatever it answered."""
    return {coin: sum(coin in str(r.body.get("title", "")) for r in receiver.received) for coin in COINS}


def run_and_kill(warehouse: str, channel_url: str, mode: str, receiver: Receiver) -> str:
    """Start the worker; in `slow` mode kill it once the receiver holds its first request."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sniper_pipeline_tests.delivery.crash_worker",
            warehouse,
            channel_url,
            NOW.isoformat(),
            SETTINGS.model_dump_json(),
            mode,
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        if mode == "slow":
            if not receiver.wait_for(1, timeout=90):
                child.kill()
                pytest.fail(f"the worker sent nothing: {child.communicate(timeout=30)[0]}")
            os.kill(child.pid, signal.SIGKILL)  # the receiver still holds the request: no answer yet
        output = child.communicate(timeout=90)[0]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL, output
    return output


@pytest.mark.parametrize("mode", ["slow", "after_send"])
def test_sigkill_mid_send_never_sends_twice(tmp_path: Path, make_receiver, mode: str):
    """`slow`: killed while the receiver holds the request; `after_send`: killed after the
    receiver answered 200, before the `delivered` mark was committed."""
    receiver = make_receiver()
    channel_url = receiver.url("/hook") + "?rto=30"  # apprise's 4 s read timeout < the hold
    channels = channels_from_urls([channel_url])
    (channel,) = (c.id for c in channels)
    warehouse = f"duckdb:///{tmp_path / 'crash.duckdb'}"
    engine = make_engine(warehouse_location(warehouse))
    events = store(engine, *(make_event(coin) for coin in COINS))
    btc, eth, sol = (e["dedup_key"] for e in events)
    assert enqueue(engine, events, channels, NOW).new == 3
    if mode == "slow":
        receiver.hold(HOLD_SECONDS)

    output = run_and_kill(warehouse, channel_url, mode, receiver)
    receiver.release()

    # The child died inside its first send: BTC committed `attempting`, the rest never started.
    assert received_per_coin(receiver) == {"BTC": 1, "ETH": 0, "SOL": 0}, output
    rows = outbox_rows(engine)
    started = rows[(btc, channel)]
    assert (started["status"], started["attempted_at"], started["next_attempt_at"]) == (
        "attempting",
        NOW,
        LEASE_END,
    )
    assert started["idempotency_key"] == receiver.received[0].idempotency_key  # the header went out
    assert rows[(eth, channel)]["status"] == rows[(sol, channel)]["status"] == "pending"

    # A worker within the lease: sends the rows never started, leaves BTC alone.
    notifier = Notifier(channels)
    during = deliver_due(engine, notifier, NOW + timedelta(minutes=1), SETTINGS)
    assert (during.due, during.delivered, during.in_doubt, during.in_doubt_open) == (2, 2, 0, 0)

    # After the lease: BTC is in doubt and reported, not re-sent.
    after = deliver_due(engine, notifier, LEASE_END, SETTINGS)
    assert (after.due, after.delivered, after.in_doubt, after.in_doubt_open) == (0, 0, 1, 1)
    assert after.in_doubt_keys == [f"{btc} -> {channel}"]
    metadata = after.as_metadata()
    assert (metadata["in_doubt"], metadata["in_doubt_open"]) == (1, 1)
    assert metadata["in_doubt_keys"] == f"{btc} -> {channel}"
    assert not after.ok
    row = outbox_rows(engine)[(btc, channel)]
    assert (row["status"], row["last_error"], row["delivered_at"]) == ("in_doubt", IN_DOUBT_ERROR, None)

    # And never again automatically; it stays reported until an operator settles it.
    later = deliver_due(engine, notifier, NOW + timedelta(days=1), SETTINGS)
    assert (later.due, later.in_doubt, later.in_doubt_open) == (0, 0, 1)

    # Messages the receiver got: each event exactly once, with three distinct idempotency keys.
    assert received_per_coin(receiver) == {"BTC": 1, "ETH": 1, "SOL": 1}
    assert len(receiver.received) == 3
    assert len({r.idempotency_key for r in receiver.received}) == 3
    statuses = {key: r["status"] for (key, _), r in outbox_rows(engine).items()}
    assert statuses == {btc: "in_doubt", eth: "delivered", sol: "delivered"}

    # The operator's way out: resend carries the attempt's key, so the receiver can drop it.
    assert resolve_in_doubt(engine, btc, channel, action="resend") == [(btc, channel)]
    resent = deliver_due(engine, notifier, NOW + timedelta(days=1), SETTINGS)
    assert (resent.delivered, resent.in_doubt_open) == (1, 0)
    btc_requests = [r for r in receiver.received if "BTC" in str(r.body.get("title", ""))]
    assert len(btc_requests) == 2
    assert btc_requests[0].idempotency_key == btc_requests[1].idempotency_key == started["idempotency_key"]
    engine.dispose()
