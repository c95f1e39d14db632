"""Sending through apprise: one `apprise.Apprise()` per channel, so every outcome (and every
error) belongs to exactly one channel. Errors are redacted before they leave this module."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import apprise

from sniper_pipeline.delivery.channels import (
    Channel,
    protect_logs,
    resolve_ops_channels,
    supports_idempotency_key,
    with_idempotency_key,
)
from sniper_pipeline.delivery.messages import Message, ops_message
from sniper_pipeline.delivery.settings import DeliverySettings

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class SendOutcome:
    channel: str
    ok: bool
    error: str | None = None  # redacted
    # Apprise stopped waiting (its TIMEOUT) while the service call still runs in the background:
    # the message may yet arrive, so the outbox must not retry it blindly.
    in_doubt: bool = False


class Sender(Protocol):
    """What the outbox worker needs; `Notifier` is the apprise implementation."""

    @property
    def channel_ids(self) -> list[str]: ...

    def send(self, channel_id: str, message: Message, *, idempotency_key: str | None = None) -> SendOutcome:
        """`idempotency_key` is the same for every attempt of one message to one channel."""
        ...


class Notifier:
    def __init__(self, channels: Sequence[Channel], *, timeout_seconds: float = 30.0) -> None:
        protect_logs(channels)  # before apprise parses (and may log) the URLs
        self._channels = {c.id: c for c in channels}
        self._timeout = timeout_seconds
        self._apprise: dict[str, apprise.Apprise] = {}
        self.invalid_channels: list[str] = []
        for channel in channels:
            instance = apprise.Apprise()
            if instance.add(channel.url):
                self._apprise[channel.id] = instance
            else:
                # Kept as a channel, so its rows fail and retry visibly instead of vanishing.
                self.invalid_channels.append(channel.id)
                log.error("alert channel %s: apprise cannot use this URL (scheme or tokens)", channel.id)

    @property
    def channel_ids(self) -> list[str]:
        return list(self._channels)

    def send(self, channel_id: str, message: Message, *, idempotency_key: str | None = None) -> SendOutcome:
        """Send once. Where the channel's scheme can carry it (see `channels.IDEMPOTENCY_HEADER`),
        `idempotency_key` goes out as an `Idempotency-Key` header so the receiver can drop a repeat."""
        channel = self._channels.get(channel_id)
        if channel is None:
            return SendOutcome(channel_id, False, "channel not configured")
        instance = self._apprise.get(channel_id)
        if instance is None:
            return SendOutcome(channel_id, False, "apprise cannot use this URL (unknown scheme or tokens)")
        if idempotency_key and supports_idempotency_key(channel.url):
            # A per-send instance: the header is a URL parameter, parsed when the URL is added.
            keyed = apprise.Apprise()
            if keyed.add(with_idempotency_key(channel.url, idempotency_key)):
                instance = keyed
            else:  # cannot happen for a URL apprise accepted without it; send unkeyed rather than not
                log.warning("alert channel %s: idempotency header not applied", channel_id)
        try:
            result = instance.notify(
                body=message.body,
                title=message.title,
                notify_type=message.notify_type,
                timeout=self._timeout,
            )
        except Exception as exc:  # one channel's crash must not stop the others
            return SendOutcome(channel_id, False, _clip(channel.redact(f"{type(exc).__name__}: {exc}")))
        if result:
            return SendOutcome(channel_id, True)
        details = "; ".join(entry.message for entry in result.logs() if entry.message)
        error = details or f"apprise status {getattr(result.status, 'name', result.status)}"
        timed_out = result.status == apprise.AppriseResultStatus.TIMEOUT
        return SendOutcome(channel_id, False, _clip(channel.redact(error)), in_doubt=timed_out)

    def broadcast(self, message: Message) -> list[SendOutcome]:
        return [self.send(channel_id, message) for channel_id in self._channels]


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def send_ops_alert(
    target: Notifier | DeliverySettings,
    title: str,
    body: str,
    *,
    env: Mapping[str, str] | None = None,
) -> list[SendOutcome]:
    """Send an ops alert (run failure, data-quality failure) now, to every ops channel.

    `target` is a ready notifier, or settings whose ops channels are resolved (see
    `channels.resolve_ops_channels`). One attempt, no outbox: the caller (a sensor) decides
    what to repeat. Never raises; failures are logged by channel id and returned."""
    notifier = (
        target
        if isinstance(target, Notifier)
        else Notifier(resolve_ops_channels(target, env), timeout_seconds=target.send_timeout_seconds)
    )
    if not notifier.channel_ids:
        log.warning("ops alert %r not sent: no ops or alert channel configured", title)
        return []
    outcomes = notifier.broadcast(ops_message(title, body))
    for outcome in outcomes:
        if not outcome.ok:
            log.warning("ops alert to %s failed: %s", outcome.channel, outcome.error)
    return outcomes
