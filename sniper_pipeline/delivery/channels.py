"""Alert channels: apprise URLs, each known to the warehouse and the logs by a redacted id.

A URL carries secrets in places that depend on the service: the password, the user name
(`matrix://token@host`), the host (`tgram://bot_token/chat`), path segments
(`discord://id/token`) or query values. The id therefore names the host only for schemes
whose host is a network address, and adds a short hash of the whole URL so two channels on
one host stay apart: `json@127.0.0.1:8080#1a2b3c4d`, `tgram#5e6f7a8b`.

The same parts are scrubbed from any text we store or log (`Channel.redact`), and from the
records of apprise's and urllib3's loggers (`protect_logs`), whose debug output includes the
request URL path.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from sniper_pipeline.delivery.settings import DeliverySettings

ALERT_URLS_ENV = "SNIPER_ALERT_URLS"
OPS_URLS_ENV = "SNIPER_OPS_ALERT_URLS"
MASK = "***"

# Schemes whose host part is a server address, not a token.
_HOST_SCHEMES = frozenset(
    {
        "json",
        "jsons",
        "xml",
        "xmls",
        "form",
        "forms",
        "gotify",
        "gotifys",
        "mailto",
        "mailtos",
        "matrix",
        "matrixs",
        "mmost",
        "mmosts",
        "rocket",
        "rockets",
        "apprise",
        "apprises",
    }
)
# Schemes that can carry an `Idempotency-Key` header: apprise's generic webhooks, whose
# `+Name=value` URL parameters become request headers (apprise 2.x `custom_json`, `custom_form`,
# `custom_xml`), and whose receiver is ours to make dedupe. The other schemes (Telegram, Discord,
# Slack, e-mail, ntfy, Gotify, Matrix, ...) talk to a service API with no idempotency field that
# apprise could fill, so for them the `in_doubt` status is the only guard against a double send.
IDEMPOTENCY_HEADER = "Idempotency-Key"
_IDEMPOTENCY_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})
# Shorter fragments are not worth masking and would garble unrelated text ("a", "v1").
_MIN_SECRET_LEN = 4
# Split on whitespace, and on commas that start a new URL (commas inside a URL's query, as in
# `mailto://...?to=a@x,b@y`, stay).
_URL_SPLIT = re.compile(r"\s+|,(?=\s*[A-Za-z][A-Za-z0-9+.-]*://)")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def split_urls(text: str | None) -> list[str]:
    """URLs from an environment value separated by commas and/or whitespace."""
    if not text:
        return []
    return [part.strip().strip(",") for part in _URL_SPLIT.split(text) if part and part.strip(" ,")]


def _secret_parts(url: str, scheme: str) -> set[str]:
    parts = urlsplit(url)
    rest = url.split("://", 1)[1] if "://" in url else url
    netloc = parts.netloc or rest.split("/", 1)[0]
    userinfo, _, hostport = netloc.rpartition("@")
    found: set[str] = set()
    if userinfo:
        found.update(userinfo.split(":", 1))
        found.add(userinfo)
    if scheme not in _HOST_SCHEMES:
        found.add(hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport)
    found.update(segment for segment in parts.path.split("/") if segment)
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        found.add(value)
        found.add(f"{key}={value}")
    if parts.fragment:
        found.add(parts.fragment)
    # Apprise and the services see the decoded form, so mask both spellings.
    found |= {unquote(s) for s in found}
    return {s for s in found if len(s) >= _MIN_SECRET_LEN}


def channel_id(url: str) -> str:
    """A stable id without secrets: scheme, the host where it is an address, a short hash."""
    match = _SCHEME.match(url.strip())
    scheme = match.group(1).lower() if match else "unknown"
    digest = hashlib.sha256(url.strip().encode()).hexdigest()[:8]
    if scheme in _HOST_SCHEMES:
        parts = urlsplit(url.strip())
        try:
            host, port = parts.hostname, parts.port
        except ValueError:  # a malformed port: leave the host out rather than guess
            host, port = None, None
        if host:
            return f"{scheme}@{host}{f':{port}' if port else ''}#{digest}"
    return f"{scheme}#{digest}"


@dataclass(frozen=True)
class Channel:
    """One apprise URL. `repr` and `str` show the id only."""

    id: str
    url: str = field(repr=False, compare=False)
    secrets: frozenset[str] = field(repr=False, compare=False)

    @classmethod
    def from_url(cls, url: str) -> Channel:
        url = url.strip()
        match = _SCHEME.match(url)
        scheme = match.group(1).lower() if match else ""
        return cls(channel_id(url), url, frozenset(_secret_parts(url, scheme) | {url}))

    def __str__(self) -> str:
        return self.id

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)


def redact(text: str, secrets: Iterable[str]) -> str:
    # Longest first, so a whole user:password is masked before its halves.
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, MASK)
    return text


def supports_idempotency_key(url: str) -> bool:
    match = _SCHEME.match(url.strip())
    return match is not None and match.group(1).lower() in _IDEMPOTENCY_SCHEMES


def with_idempotency_key(url: str, key: str) -> str:
    """`url` with an `Idempotency-Key: key` request header, where the scheme can carry one;
    else `url` unchanged. `key` must be URL-safe (the outbox uses hex digests)."""
    if not supports_idempotency_key(url):
        return url
    url = url.strip()
    base, hash_sign, fragment = url.partition("#")  # the parameter goes before any fragment
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}+{IDEMPOTENCY_HEADER}={key}{hash_sign}{fragment}"


def channels_from_urls(urls: Iterable[str]) -> list[Channel]:
    """Channels in order, duplicates (same URL) dropped; their secrets join the log scrubber."""
    seen: dict[str, Channel] = {}
    for url in urls:
        channel = Channel.from_url(url)
        seen.setdefault(channel.id, channel)
    channels = list(seen.values())
    protect_logs(channels)
    return channels


def resolve_channels(settings: DeliverySettings, env: Mapping[str, str] | None = None) -> list[Channel]:
    """Alert channels: `SNIPER_ALERT_URLS` when set and non-empty, else `channels` in config."""
    env = os.environ if env is None else env
    from_env = split_urls(env.get(ALERT_URLS_ENV))
    return channels_from_urls(from_env or settings.channels)


def resolve_ops_channels(settings: DeliverySettings, env: Mapping[str, str] | None = None) -> list[Channel]:
    """Ops channels: `SNIPER_OPS_ALERT_URLS`, else `ops_channels`, else the alert channels (a run
    failure must reach someone)."""
    env = os.environ if env is None else env
    urls = split_urls(env.get(OPS_URLS_ENV)) or settings.ops_channels
    return channels_from_urls(urls) if urls else resolve_channels(settings, env)


# -- log scrubbing ---------------------------------------------------------------------------------

# Loggers that see request URLs or configured URLs (apprise masks passwords, not path tokens).
_SCRUBBED_LOGGERS = ("apprise", "urllib3.connectionpool", "urllib3", "requests")


class _SecretFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._secrets.update(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logger's problem, not ours
            return True
        cleaned = redact(message, secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = _SecretFilter()
_installed = False
_install_lock = threading.Lock()


def protect_logs(channels: Sequence[Channel]) -> None:
    """Mask these channels' secrets in every record of the loggers that can see them."""
    global _installed
    for channel in channels:
        _FILTER.add(channel.secrets)
    with _install_lock:
        if not _installed:
            for name in _SCRUBBED_LOGGERS:
                logging.getLogger(name).addFilter(_FILTER)
            _installed = True
