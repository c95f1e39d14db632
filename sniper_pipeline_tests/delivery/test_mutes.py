"""Mutes: the table, configured mutes, the outbox holding events as `muted`, and the commands."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from sniper_pipeline.commands.mute import mute_command, unmute_command
from sniper_pipeline.delivery.channels import channels_from_urls
from sniper_pipeline.delivery.mutes import active_mutes, mute, parse_duration, unmute
from sniper_pipeline.delivery.notifier import Notifier
from sniper_pipeline.delivery.outbox import deliver_due, enqueue
from sniper_pipeline.delivery.policy import Mute
from sniper_pipeline.delivery.settings import ConfiguredMute, DeliverySettings
from sniper_pipeline.settings.paths import project_dir
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.tables import mutes as mutes_table
from sniper_pipeline.warehouse.url import warehouse_location
from sniper_pipeline_tests.delivery.support import NOW, make_event, minutes, statuses, store


def test_mute_unmute_and_active(engine: Engine):
    mute(engine, "btc", NOW + timedelta(hours=2), "maintenance", now=NOW)
    mute(engine, None, NOW + minutes(10), now=NOW)
    assert active_mutes(engine, NOW) == [
        Mute("*", NOW + minutes(10)),
        Mute("BTC", NOW + timedelta(hours=2), "maintenance"),
    ]
    assert active_mutes(engine, NOW + minutes(10)) == [Mute("BTC", NOW + timedelta(hours=2), "maintenance")]
    # Muting again replaces the scope's mute.
    mute(engine, "BTC", NOW + minutes(30), now=NOW)
    assert [m.until for m in active_mutes(engine, NOW) if m.scope == "BTC"] == [NOW + minutes(30)]
    assert unmute(engine, "BTC") is True
    assert unmute(engine, "BTC") is False
    configured = [ConfiguredMute(coin="sol", until=datetime(2024, 5, 1, 14, tzinfo=UTC))]
    assert [m.scope for m in active_mutes(engine, NOW, configured)] == ["*", "SOL"]


def test_muted_events_are_never_sent_even_after_unmute(engine: Engine, make_receiver):
    receiver = make_receiver()
    channels = channels_from_urls([receiver.url()])
    settings = DeliverySettings()
    mute(engine, "BTC", NOW + timedelta(hours=2), "noisy", now=NOW)
    btc, eth = store(engine, make_event("BTC"), make_event("ETH"))
    assert enqueue(engine, [btc, eth], channels, NOW, settings=settings).by_status == {
        "muted": 1,
        "pending": 1,
    }

    unmute(engine, "BTC")
    report = deliver_due(engine, Notifier(channels), NOW, settings)
    assert report.delivered == 1
    assert [m.split(" ")[0] for m in receiver.messages] == ["ETH"]
    assert statuses(engine)[(btc["dedup_key"], channels[0].id)] == "muted"


def test_a_mute_set_while_rows_wait_holds_them(engine: Engine, make_receiver):
    receiver = make_receiver()
    channels = channels_from_urls([receiver.url()])
    events = store(engine, make_event("BTC"), make_event("ETH"))
    enqueue(engine, events, channels, NOW)
    mute(engine, "*", NOW + minutes(30), now=NOW)
    report = deliver_due(engine, Notifier(channels), NOW + minutes(1), DeliverySettings())
    assert (report.muted, report.delivered) == (2, 0)
    assert set(statuses(engine).values()) == {"muted"}
    assert receiver.received == []


def test_configured_mutes_apply(engine: Engine, make_receiver):
    receiver = make_receiver()
    channels = channels_from_urls([receiver.url()])
    settings = DeliverySettings(mutes=[ConfiguredMute(coin="BTC", until=NOW + timedelta(days=1))])
    events = store(engine, make_event("BTC"), make_event("ETH"))
    assert enqueue(engine, events, channels, NOW, settings=settings).by_status == {"muted": 1, "pending": 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2h", timedelta(hours=2)), ("90m", timedelta(minutes=90)), ("1h30m", timedelta(minutes=90))],
)
def test_parse_duration(text: str, expected: timedelta):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2", "2x", "h", "0m", "2h garbage"])
def test_parse_duration_rejects(text: str):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_mute_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    url = f"duckdb:///{tmp_path}/cli.duckdb"
    monkeypatch.setenv("SNIPER_WAREHOUSE_URL", url)
    config = tmp_path / "config"
    config.mkdir()
    (config / "delivery.yaml").write_text("mutes: [{coin: '*', until: '2999-01-01T00:00:00Z'}]\n")
    # `sniper mute --coin` checks the coin against coins.yaml.
    shutil.copyfile(project_dir() / "config" / "coins.yaml", config / "coins.yaml")
    monkeypatch.setenv("SNIPER_CONFIG_DIR", str(config))

    assert mute_command("eth", "2h", "upgrade window") == 0
    assert "muted ETH until" in capsys.readouterr().out
    assert mute_command(None, "soon", None) == 2
    assert "--for" in capsys.readouterr().err

    engine = make_engine(warehouse_location(url))
    with engine.connect() as conn:
        rows = conn.execute(select(mutes_table)).mappings().all()
    assert [(r["scope"], r["reason"]) for r in rows] == [("ETH", "upgrade window")]
    assert timedelta(hours=1, minutes=59) < rows[0]["until"] - rows[0]["created_at"] <= timedelta(hours=2)

    assert unmute_command("ETH") == 0
    out = capsys.readouterr().out
    assert "unmuted ETH" in out
    assert "every coin is still muted until 2999-01-01 00:00:00 UTC (config/delivery.yaml)" in out
    assert unmute_command("ETH") == 0
    assert "ETH was not muted" in capsys.readouterr().out
    engine.dispose()
