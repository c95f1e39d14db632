"""Channels and settings: redacted ids, no URL secret in errors or logs, config loading, ops alerts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sniper_pipeline.delivery.channels import (
    ALERT_URLS_ENV,
    OPS_URLS_ENV,
    Channel,
    channel_id,
    channels_from_urls,
    resolve_channels,
    resolve_ops_channels,
    split_urls,
)
from sniper_pipeline.delivery.notifier import Notifier, send_ops_alert
from sniper_pipeline.delivery.outbox import deliver_due, enqueue
from sniper_pipeline.delivery.settings import DeliverySettings, load_delivery_settings
from sniper_pipeline.settings.errors import ConfigError
from sniper_pipeline.settings.paths import PROJECT_DIR
from sniper_pipeline_tests.delivery.support import NOW, make_event, outbox_rows, store

SECRETS = ("s3cret", "t0kenPath42")


def test_channel_ids_are_stable_and_secret_free():
    url = "json://user:s3cret@127.0.0.1:8080/hooks/t0kenPath42"
    assert channel_id(url) == channel_id(url)
    assert channel_id(url).startswith("json@127.0.0.1:8080#")
    assert channel_id(url) != channel_id("json://user:other@127.0.0.1:8080/hooks/t0kenPath42")
    # Where the host slot holds a token, the id keeps only the scheme.
    assert channel_id("tgram://123456789:AAHsecretbottoken/987654").startswith("tgram#")
    assert channel_id("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js").startswith("discord#")
    for text in (repr(Channel.from_url(url)), str(Channel.from_url(url))):
        assert not any(s in text for s in SECRETS)


def test_split_urls_keeps_commas_inside_a_url():
    text = "json://a/x, mailto://u:p@host?to=a@x.org,b@y.org  tgram://t/c,json://b/y"
    assert split_urls(text) == [
        "json://a/x",
        "mailto://u:p@host?to=a@x.org,b@y.org",
        "tgram://t/c",
        "json://b/y",
    ]
    assert split_urls("") == [] and split_urls(None) == []


def test_environment_overrides_config():
    settings = DeliverySettings(channels=["json://cfg/x"], ops_channels=[])
    assert [c.url for c in resolve_channels(settings, {})] == ["json://cfg/x"]
    env = {ALERT_URLS_ENV: "json://env/a json://env/b,json://env/a"}
    assert [c.url for c in resolve_channels(settings, env)] == ["json://env/a", "json://env/b"]
    # Ops: their own env or config, else the alert channels.
    assert [c.url for c in resolve_ops_channels(settings, env)] == ["json://env/a", "json://env/b"]
    assert [c.url for c in resolve_ops_channels(settings, {**env, OPS_URLS_ENV: "json://ops/z"})] == [
        "json://ops/z"
    ]


def test_no_secret_in_last_error_channel_id_or_logs(
    engine: Engine, make_receiver, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)  # apprise and urllib3 log request URLs at debug level
    receiver = make_receiver()
    url = receiver.url("/hooks/t0kenPath42", userinfo="user:s3cret@")
    channels = channels_from_urls([url, "bogus://user:s3cret@example.org/t0kenPath42"])
    notifier = Notifier(channels)
    assert notifier.invalid_channels == [channels[1].id]
    events = store(engine, make_event())
    enqueue(engine, events, channels, NOW)
    receiver.fail_next(1)

    report = deliver_due(engine, notifier, NOW, DeliverySettings())
    assert report.retrying == 2
    # The password did reach the receiver (Basic auth), so the masking below is not vacuous.
    assert receiver.received[0].authorization == "Basic dXNlcjpzM2NyZXQ="
    assert receiver.received[0].path == "/hooks/t0kenPath42"
    stored = " ".join(f"{pk} {row}" for pk, row in outbox_rows(engine).items())
    assert "500" in stored
    assert "apprise cannot use this URL" in stored
    texts = [stored, *report.errors, caplog.text, *(c.id for c in channels)]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
    assert any("apprise" in r.name for r in caplog.records)  # apprise did log, through the filter


def test_repository_config_loads():
    settings = load_delivery_settings(PROJECT_DIR / "config")
    assert settings.channels == [] and settings.cooldown_minutes == 5
    assert settings.deliver_since_bars == 2 and settings.max_attempts >= 1


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("cooldown_minutes: -1\n", "cooldown_minutes"),
        ("per_coin_per_hour: 0\n", "per_coin_per_hour"),
        ("retry_base_seconds: 60\nretry_max_seconds: 10\n", "retry_max_seconds"),
        ("mutes: [{coin: BTC}]\n", "mutes.0.until"),
        ("cooldown_minute: 5\n", "cooldown_minute"),
        ("channels: ['json://u:s3cret@h/x', '']\n", "channels"),
    ],
)
def test_config_errors_name_file_and_key(tmp_path: Path, text: str, key: str):
    (tmp_path / "delivery.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_delivery_settings(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "delivery.yaml") in message and key in message
    assert "s3cret" not in message


def test_ops_alert_goes_to_ops_channels(make_receiver):
    ops, alerts = make_receiver(), make_receiver()
    settings = DeliverySettings(channels=[alerts.url()], ops_channels=[ops.url("/ops")])
    outcomes = send_ops_alert(settings, "run failed", "coin_scan BTC: step fetch failed", env={})
    assert [o.ok for o in outcomes] == [True]
    (body,) = ops.accepted
    assert body["title"] == "[sniper] ops: run failed" and "step fetch failed" in body["message"]
    assert alerts.received == []

    # Without ops channels the alert channels get it; a failure is reported, not raised.
    alerts.fail_next(1)
    outcomes = send_ops_alert(DeliverySettings(channels=[alerts.url()]), "dq failed", "x", env={})
    assert [o.ok for o in outcomes] == [False] and "500" in (outcomes[0].error or "")
    assert send_ops_alert(DeliverySettings(), "nobody", "x", env={}) == []
