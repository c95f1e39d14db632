"""Message text: layers against thresholds with units, bar time, run, and the all-clear."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import Engine

from sniper_pipeline.delivery.channels import channels_from_urls
from sniper_pipeline.delivery.messages import digest_message, event_message, layer_line, parse_layers
from sniper_pipeline.delivery.notifier import Notifier
from sniper_pipeline.delivery.outbox import deliver_due, enqueue
from sniper_pipeline.delivery.settings import DeliverySettings
from sniper_pipeline_tests.delivery.support import NOW, make_event, store


@pytest.mark.parametrize(
    ("layer", "entry", "expected"),
    [
        (
            "funding",
            {"value": 12.34, "threshold": 8.1, "level": 2, "unit": "bps_8h"},
            "funding 12.34 bps/8h > p95 8.1",
        ),
        (
            "oi",
            {"value": 7.25, "threshold": 5.0, "level": "extreme", "unit": "pct"},
            "OI change 7.25% > p99 5",
        ),
        ("liq", {"value": 1.5e9, "threshold": 2.5e8, "level": 3}, "liquidations $1.5B > p99 $250.0M"),
        ("taker", {"value": 0.55, "threshold": 0.7, "level": 2, "side": "down"}, "taker ratio 0.55 < p5 0.7"),
        (
            "taker",
            {"value": 1.9, "threshold": 1.4, "level": 1, "percentile": 90},
            "taker ratio 1.9 > p90 1.4",
        ),
        ("funding", {"value": None, "threshold": 8.1, "level": 1}, "funding: level 1"),
    ],
)
def test_layer_line(layer: str, entry: dict, expected: str):
    assert layer_line(layer, entry) == expected


def test_parse_layers_tolerates_bad_input():
    assert parse_layers(None) == {}
    assert parse_layers("not json") == {}
    assert parse_layers("[1, 2]") == {}
    assert parse_layers(json.dumps({"liq": {"value": 1}})) == {"liq": {"value": 1}}


def test_event_message_contents():
    event = make_event("ETH", "escalate", "watch", direction="mixed", run_id="abc")
    message = event_message(event)
    assert message.title == "[sniper] ETH WATCH mixed (escalate)"
    assert message.notify_type == "warning"
    lines = message.body.splitlines()
    assert lines[0] == "ETH sustained WATCH, mixed direction (event: escalate)"
    assert "- funding 12.3 bps/8h > p95 8.1" in lines
    assert "Bar: 2024-05-01 08:00-12:00 UTC (4h bar)" in lines
    assert "Episode since 2024-05-01 08:00 UTC" in lines
    assert lines[-1] == "Run: abc"
    assert event_message(event, run_url="http://ui/runs/x").body.splitlines()[-1] == "Run: http://ui/runs/x"
    assert "Run:" not in event_message({**event, "run_id": None}).body
    assert event_message(make_event(tier="action")).notify_type == "failure"


def test_close_is_a_short_all_clear():
    event = make_event("BTC", "close", "action", episode_start=datetime(2024, 4, 30, 16), layers={})
    message = event_message(event, run_url="http://ui/runs/{run_id}")
    assert message.title == "[sniper] BTC all clear"
    assert message.notify_type == "success"
    assert message.body.splitlines() == [
        "BTC: all clear, episode since 2024-04-30 16:00 UTC closed",
        "Last bar: 2024-05-01 08:00-12:00 UTC (4h bar)",
        "Run: http://ui/runs/run-123",
    ]


def test_digest_caps_its_list():
    events = [make_event("BTC", extra=str(i)) for i in range(45)]
    message = digest_message(events)
    assert message.body.count("\n- ") == 40
    assert "... and 5 more" in message.body
    assert message.body.splitlines()[-1] == "Run: run-123"


def test_all_clear_is_delivered(engine: Engine, make_receiver):
    receiver = make_receiver()
    channels = channels_from_urls([receiver.url()])
    close = make_event("BTC", "close", "watch", episode_start=datetime(2024, 5, 1, 0), layers={})
    store(engine, close)
    enqueue(engine, [close], channels, NOW)
    assert deliver_due(engine, Notifier(channels), NOW, DeliverySettings()).delivered == 1
    (body,) = receiver.accepted
    assert body["title"] == "[sniper] BTC all clear"
    assert body["message"].startswith("BTC: all clear, episode since 2024-05-01 00:00 UTC closed")
    assert body["type"] == "success"
