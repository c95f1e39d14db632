"""`CoinGlassClient`: one GET path for every v4 endpoint.

It sends the key header, waits for the rate limiter, lets the urllib3 transport retry
what is retryable, records the rate-limit headers and the server's `Date`, and turns
every failure into one `CoinGlassError` subclass (see errors.py). It knows nothing of
Dagster; `CoinGlassResource` wraps it.

Bodies that are not a complete JSON envelope with HTTP 200 (truncated, HTML, cut
stream) are invisible to urllib3's retry, which only sees statuses and socket errors.
The client retries those itself `body_retries` times (default once) with the same
backoff, sleeper and time budget, then raises MalformedResponseError; the ingest layer
may retry the whole asset after that.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import requests
from urllib3.exceptions import ConnectTimeoutError, ReadTimeoutError

from sniper_pipeline.coinglass.clock import Clock, ServerDateClock
from sniper_pipeline.coinglass.errors import (
    AuthError,
    CoinGlassError,
    InvalidParameterError,
    MalformedResponseError,
    TransportError,
    classify,
    mask_key,
    redact,
    safe_params,
)
from sniper_pipeline.coinglass.ratelimit import RateLimiter
from sniper_pipeline.coinglass.transport import (
    RetryEvent,
    RetryPolicy,
    Sleeper,
    backoff_seconds,
    build_session,
)
from sniper_pipeline.settings.timeutil import to_epoch_ms, to_utc

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://open-api-v4.coinglass.com"
WEBSOCKET_URL = "wss://open-ws.coinglass.com/ws-api"
HEADER_KEY = "CG-API-KEY"
HEADER_MAX = "API-KEY-MAX-LIMIT"
HEADER_USED = "API-KEY-USE-LIMIT"


def websocket_url(api_key: str, base: str = WEBSOCKET_URL) -> str:
    """The stream URL. It carries the key: pass it through `redact(url, key)` before logging it."""
    return f"{base}?cg-api-key={quote(api_key, safe='')}"


@dataclass(frozen=True)
class ApiResponse:
    """A successful call: the envelope's data plus what the health check and logs need."""

    endpoint: str
    params: dict[str, Any]
    data: Any
    http_status: int
    code: str
    msg: str | None
    latency_ms: float  # whole call, retries and their waits included
    attempts: int
    retry_events: tuple[RetryEvent, ...] = ()
    rate_limit_used: int | None = None
    rate_limit_max: int | None = None
    server_date: datetime | None = None


@dataclass
class _CallLog:
    events: list[RetryEvent] = field(default_factory=list)


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now())
    except (TypeError, ValueError, IndexError):
        return None


def clean_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Drop None, send datetimes as epoch ms and sequences (exchange_list) comma-joined."""
    out: dict[str, Any] = {}
    for name, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, datetime):
            out[name] = to_epoch_ms(value)
        elif isinstance(value, (list, tuple)):
            out[name] = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            out[name] = str(value).lower()
        elif isinstance(value, float) and value.is_integer():
            out[name] = int(value)  # 10000.0 -> "10000": the API (and recordings) spell amounts that way
        else:
            out[name] = value
    return out


class CoinGlassClient:
    """Plain-Python CoinGlass v4 client (thread-safe for concurrent GETs)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: tuple[float, float] = (5, 30),
        max_retries: int = 5,
        max_rate_limit_retries: int = 20,
        max_retry_seconds: float = 120,
        backoff_factor: float = 0.5,
        backoff_max: float = 30.0,
        backoff_jitter: float = 0.25,
        body_retries: int = 1,
        rate_limiter: RateLimiter | None = None,
        clock: Clock | None = None,
        session: requests.Session | None = None,
        sleeper: Sleeper | None = None,
        rand: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not api_key or not api_key.strip():
            raise AuthError(
                "no API key given", endpoint=None, remedy="set CG_API_KEY (any non-empty key for replay)"
            )
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout
        self.policy = RetryPolicy(
            max_retries=max_retries,
            max_rate_limit_retries=max_rate_limit_retries,
            max_retry_seconds=max_retry_seconds,
            backoff_factor=backoff_factor,
            backoff_max=backoff_max,
            backoff_jitter=backoff_jitter,
        )
        self.body_retries = body_retries
        self.rate_limiter = rate_limiter
        self.clock: Clock = clock if clock is not None else ServerDateClock()
        self._sleeper: Sleeper = sleeper or time.sleep
        self._rand = rand
        self._monotonic = monotonic
        self._local = threading.local()
        self._lock = threading.Lock()
        self._owns_session = session is None
        retry = self.policy.build(
            sleeper=self._sleeper, rand=rand, monotonic=monotonic, on_retry=self._on_retry
        )
        self.session = build_session(self.base_url, retry, session=session)
        self.rate_limit_used: int | None = None
        self.rate_limit_max: int | None = None
        self.last_response: ApiResponse | None = None

    # -- public -------------------------------------------------------------------------------

    @property
    def api_key_masked(self) -> str:
        return mask_key(self._api_key)

    def redact(self, text: str) -> str:
        return redact(text, self._api_key)

    def now(self) -> datetime:
        return to_utc(self.clock.now())

    def get(self, endpoint: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET `endpoint` and return the envelope's `data`."""
        return self.request(endpoint, params).data

    def request(self, endpoint: str, params: Mapping[str, Any] | None = None) -> ApiResponse:
        """GET `endpoint`; return data with status, latency, attempts and rate-limit usage."""
        if not endpoint.startswith("/api/"):
            raise InvalidParameterError(
                "endpoint must be a v4 path",
                endpoint=endpoint,
                params=params,
                remedy="pass the path only, e.g. '/api/futures/supported-coins'",
            )
        sent = clean_params(params)
        shown = safe_params(sent)
        calllog = _CallLog()
        self._local.calllog = calllog
        started = self._monotonic()
        body_failures = 0
        try:
            while True:
                try:
                    status, content, headers = self._send(endpoint, sent, shown)
                except TransportError as exc:
                    if exc.body_level and self._may_retry_body(body_failures, calllog, started):
                        body_failures += 1
                        self._body_backoff(calllog, body_failures, len(calllog.events) + 1, "broken body")
                        continue
                    # Every retry (urllib3's and ours) left one event; the failed attempt is one more.
                    raise exc.with_attempts(len(calllog.events) + 1) from None
                err, envelope = classify(
                    status,
                    content,
                    endpoint=endpoint,
                    params=shown,
                    retry_after=parse_retry_after(headers.get("Retry-After")),
                    secret=self._api_key,
                )
                if err is None:
                    break
                if isinstance(err, MalformedResponseError) and self._may_retry_body(
                    body_failures, calllog, started
                ):
                    body_failures += 1
                    self._body_backoff(calllog, body_failures, len(calllog.events) + 1, "malformed body")
                    continue
                raise err.with_attempts(len(calllog.events) + 1)
        finally:
            self._local.calllog = None
        assert envelope is not None  # classify() returned no error: a decoded envelope with data
        response = ApiResponse(
            endpoint=endpoint,
            params=shown,
            data=envelope["data"],
            http_status=status,
            code=str(envelope.get("code")),
            msg=None if envelope.get("msg") is None else str(envelope.get("msg")),
            latency_ms=(self._monotonic() - started) * 1000.0,
            attempts=len(calllog.events) + 1,
            retry_events=tuple(calllog.events),
            rate_limit_used=self.rate_limit_used,
            rate_limit_max=self.rate_limit_max,
            server_date=_parse_date(headers.get("Date")),
        )
        self.last_response = response
        log.debug(
            "GET %s %s -> %d in %.0f ms (%d attempts, rate limit %s/%s)",
            endpoint,
            shown,
            status,
            response.latency_ms,
            response.attempts,
            self.rate_limit_used,
            self.rate_limit_max,
        )
        return response

    def sync_clock(self) -> datetime | None:
        """One cheap request so a ServerDateClock knows the server's time; returns the server date."""
        date: datetime | None = None
        try:
            date = self.request("/api/futures/supported-coins").server_date
        except CoinGlassError:
            # Any answer carries a Date header (already observed in _send); an error is fine here.
            date = self._last_date
        return date

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> CoinGlassClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"CoinGlassClient(base_url={self.base_url!r}, api_key={self.api_key_masked!r}, "
            f"timeout={self.timeout}, max_retries={self.policy.max_retries}, "
            f"max_retry_seconds={self.policy.max_retry_seconds:g})"
        )

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("CoinGlassClient is not picklable (it holds the API key and a session)")

    # -- internals ----------------------------------------------------------------------------

    _last_date: datetime | None = None

    def _on_retry(self, event: RetryEvent) -> float:
        """Count the retry and take its rate-limit token; returns the seconds already waited."""
        calllog: _CallLog | None = getattr(self._local, "calllog", None)
        if calllog is not None:
            calllog.events.append(event)
        log.info("coinglass retry %d after %s, waiting %.2f s", event.attempt, event.reason, event.delay)
        if self.rate_limiter is None:
            return 0.0
        if event.reason == "status 429":
            # Every process sharing the key holds back, not only this call: the server's
            # window is shared, and retrying alone while others keep sending prolongs the storm.
            self.rate_limiter.pause(event.delay)
        # Each retry is another request against the key's budget; after a pause this waits it out.
        return self.rate_limiter.acquire()

    def _may_retry_body(self, failures: int, calllog: _CallLog, started: float) -> bool:
        if failures >= self.body_retries:
            return False
        spent = sum(e.delay for e in calllog.events)
        used = max(spent, self._monotonic() - started)
        return used + self._next_body_delay(failures + 1) <= self.policy.max_retry_seconds

    def _next_body_delay(self, failures: int) -> float:
        return backoff_seconds(
            failures,
            factor=self.policy.backoff_factor,
            backoff_max=self.policy.backoff_max,
            jitter=0.0,
            rand=self._rand,
        )

    def _body_backoff(self, calllog: _CallLog, failures: int, attempt: int, reason: str) -> None:
        delay = self._next_body_delay(failures)
        calllog.events.append(
            RetryEvent(attempt=attempt, delay=delay, reason=f"body: {reason}", retry_after=None)
        )
        log.info("coinglass body retry after %s, waiting %.2f s", reason, delay)
        if delay > 0:
            self._sleeper(delay)

    def _send(self, endpoint: str, sent: dict[str, Any], shown: dict[str, Any]) -> tuple[int, bytes, Any]:
        if self.rate_limiter is not None:
            self.rate_limiter.acquire()
        headers = {HEADER_KEY: self._api_key, "Accept": "application/json"}
        url = self.base_url + endpoint
        try:
            # stream=True: the body is read below, so a body that breaks off is told apart from
            # a request that never got an answer (the latter urllib3 has already retried).
            resp = self.session.get(url, params=sent, headers=headers, timeout=self.timeout, stream=True)
        except requests.RequestException as exc:
            raise self._transport_error(exc, endpoint, shown, body_level=False) from None
        try:
            self._observe(resp.headers)
            content = resp.content
        except requests.RequestException as exc:
            raise self._transport_error(exc, endpoint, shown, body_level=True) from None
        finally:
            resp.close()
        return resp.status_code, content, resp.headers

    def _observe(self, headers: Mapping[str, str]) -> None:
        used, max_ = _header_int(headers, HEADER_USED), _header_int(headers, HEADER_MAX)
        with self._lock:
            if used is not None or max_ is not None:
                self.rate_limit_used, self.rate_limit_max = used, max_
            date = _parse_date(headers.get("Date"))
            if date is not None:
                self._last_date = date
        if self.rate_limiter is not None and (used is not None or max_ is not None):
            self.rate_limiter.observe(used, max_)
        observe_date = getattr(self.clock, "observe_date", None)
        if callable(observe_date):
            observe_date(headers.get("Date"))

    def _transport_error(
        self, exc: requests.RequestException, endpoint: str, shown: dict[str, Any], *, body_level: bool
    ) -> TransportError:
        retryable = not isinstance(
            exc,
            (
                requests.exceptions.SSLError,
                requests.exceptions.InvalidURL,
                requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema,
            ),
        )
        root = _root_cause(exc)
        # urllib3 wraps a timeout it gave up on (MaxRetryError.reason): look along the whole chain.
        chain = _chain(exc)
        if any(isinstance(e, (ReadTimeoutError, requests.exceptions.ReadTimeout)) for e in chain):
            kind = "read timeout"
        elif any(isinstance(e, (ConnectTimeoutError, requests.exceptions.ConnectTimeout)) for e in chain):
            kind = "connect timeout"
        else:
            kind = "broken response body" if body_level else "connection failed"
        remedy = None
        if "timeout" in kind:
            remedy = (
                f"the server did not answer within timeout={self.timeout} (connect, read) s after retries; "
                "raise the timeout or try later"
            )
        return TransportError(
            f"{kind} ({type(exc).__name__}: {root})",
            retryable=retryable,
            body_level=body_level,
            endpoint=endpoint,
            params=shown,
            remedy=remedy,
            secret=self._api_key,
        )


def _chain(exc: BaseException) -> list[BaseException]:
    """A requests/urllib3 exception and its reasons and causes, outermost first."""
    seen: list[BaseException] = [exc]
    current: BaseException | None = exc
    while current is not None and len(seen) < 8:
        nxt = getattr(current, "reason", None) or current.__cause__ or current.__context__
        if isinstance(nxt, BaseException) and nxt not in seen:
            seen.append(nxt)
            current = nxt
        else:
            break
    return seen


def _root_cause(exc: BaseException) -> str:
    """The innermost reason of a requests/urllib3 exception chain, as short text."""
    last = _chain(exc)[-1]
    return f"{type(last).__name__}: {last}"[:300]


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return to_utc(parsedate_to_datetime(value))
    except (TypeError, ValueError, IndexError):
        return None
