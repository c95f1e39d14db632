"""HTTP transport: a requests Session with a urllib3 `Retry` mounted on the API's base URL.

urllib3 does the retrying (429/500/502/503/504, connect and read timeouts, connection
resets; GET only; Retry-After honoured). `CoinGlassRetry` changes three things:

- the wait before each retry is computed once, by the pure `retry_delay` /
  `backoff_seconds`, and slept through an injectable `sleeper` (tests record delays
  instead of sleeping, and assert them, never wall time);
- a total time budget (`max_retry_seconds`): a retry whose wait would overrun it is not
  made, so a Retry-After of an hour fails at once with the server's answer;
- an `on_retry` hook per retry, which the client uses to count attempts and to take a
  rate-limiter token for each extra request; the seconds the hook already waited are not
  slept again;
- a 429 does not use up `total` (meant for failures) but its own `rate_limit_retries`:
  a storm of 429s is the server pacing us, and waiting it out within the time budget is
  the right answer.

Checked against urllib3 2.x (`Retry.increment/new/sleep`, `backoff_jitter`, `backoff_max`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})

Sleeper = Callable[[float], None]


@dataclass(frozen=True)
class RetryEvent:
    """One decided retry: why, and how long the transport asked to wait before it."""

    attempt: int  # the attempt that failed, 1-based
    delay: float
    reason: str  # "status 429", "ReadTimeoutError", ...
    retry_after: float | None  # the server's Retry-After when it set the delay


def backoff_seconds(
    failures: int,
    *,
    factor: float,
    backoff_max: float,
    jitter: float = 0.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Exponential backoff before the retry that follows `failures` consecutive failures (>= 1).

    factor x 2^(failures-1), plus uniform jitter in [0, jitter), capped at backoff_max.
    Unlike urllib3's default the first retry waits too (a 429 without Retry-After must not be
    answered by an immediate second request).
    """
    if failures < 1:
        return 0.0
    value = factor * (2 ** (failures - 1))
    if jitter > 0:
        value += rand() * jitter
    return float(max(0.0, min(backoff_max, value)))


def retry_delay(
    failures: int,
    retry_after: float | None,
    *,
    factor: float,
    backoff_max: float,
    jitter: float = 0.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """The server's Retry-After wins when present; otherwise exponential backoff."""
    if retry_after is not None:
        return max(0.0, retry_after)
    return backoff_seconds(failures, factor=factor, backoff_max=backoff_max, jitter=jitter, rand=rand)


class CoinGlassRetry(Retry):
    """urllib3 Retry with injectable sleep, recorded delays and a total time budget."""

    def __init__(
        self,
        *args: Any,
        sleeper: Sleeper | None = None,
        max_retry_seconds: float = 120.0,
        monotonic: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        on_retry: Callable[[RetryEvent], float | None] | None = None,
        rate_limit_retries: int = 20,
        budget_spent: float = 0.0,
        budget_started: float | None = None,
        next_delay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.sleeper: Sleeper = sleeper or time.sleep
        self.max_retry_seconds = max_retry_seconds
        self.monotonic = monotonic
        self.rand = rand
        self.on_retry = on_retry
        self.rate_limit_retries = rate_limit_retries
        # Budget bookkeeping travels with the immutable Retry copies urllib3 makes per attempt.
        self.budget_spent = budget_spent
        self.budget_started = budget_started
        self.next_delay = next_delay

    def new(self, **kw: Any) -> CoinGlassRetry:
        for name in (
            "sleeper",
            "max_retry_seconds",
            "monotonic",
            "rand",
            "on_retry",
            "rate_limit_retries",
            "budget_spent",
            "budget_started",
            "next_delay",
        ):
            kw.setdefault(name, getattr(self, name))
        return super().new(**kw)

    def get_backoff_time(self) -> float:
        failures = sum(1 for _ in self._consecutive_errors())
        return backoff_seconds(
            failures,
            factor=self.backoff_factor,
            backoff_max=self.backoff_max,
            jitter=self.backoff_jitter,
            rand=self.rand,
        )

    def _consecutive_errors(self) -> list[Any]:
        errors = []
        for entry in reversed(self.history):
            if entry.redirect_location is not None:
                break
            errors.append(entry)
        return errors

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> CoinGlassRetry:
        rate_limited = response is not None and error is None and response.status == 429
        counted: CoinGlassRetry = self
        if rate_limited:
            if self.rate_limit_retries <= 0:
                used_up = ResponseError("status 429: rate-limit retries used up")
                raise MaxRetryError(_pool, url, used_up) from used_up  # type: ignore[arg-type]
            # Hand urllib3 one extra `total` so its decrement leaves the failure count as it was.
            counted = self.new(
                total=None if self.total is None else self.total + 1,
                rate_limit_retries=self.rate_limit_retries - 1,
            )
        new_retry = super(CoinGlassRetry, counted).increment(method, url, response, error, _pool, _stacktrace)
        retry_after = None
        if response is not None and self.respect_retry_after_header:
            try:
                retry_after = new_retry.get_retry_after(response)
            except InvalidHeader:
                retry_after = None  # an unreadable Retry-After falls back to backoff, not to a crash
        delay = retry_delay(
            len(new_retry._consecutive_errors()),
            retry_after,
            factor=self.backoff_factor,
            backoff_max=self.backoff_max,
            jitter=self.backoff_jitter,
            rand=self.rand,
        )
        started = self.budget_started if self.budget_started is not None else self.monotonic()
        used = max(self.budget_spent, self.monotonic() - started)
        if used + delay > self.max_retry_seconds:
            # Out of time: stop like an exhausted count. For a status retry urllib3 then returns
            # the last response (raise_on_status=False), so the caller sees the real 429/5xx.
            reason = error or _budget_reason(response, delay, self.max_retry_seconds - used)
            raise MaxRetryError(_pool, url, reason) from reason  # type: ignore[arg-type]
        attempt = len(new_retry.history)
        waited = 0.0
        if self.on_retry is not None:
            cause = (
                f"status {response.status}"
                if response is not None and error is None
                else type(error).__name__
            )
            event = RetryEvent(attempt=attempt, delay=delay, reason=cause, retry_after=retry_after)
            waited = self.on_retry(event) or 0.0
        return new_retry.new(
            budget_spent=self.budget_spent + delay,
            budget_started=started,
            next_delay=max(0.0, delay - waited),
        )

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        # The delay was decided (and checked against the budget) in increment().
        if self.next_delay > 0:
            self.sleeper(self.next_delay)

    def sleep_for_retry(self, response: BaseHTTPResponse) -> bool:
        # Only reached on redirects (the API has none); keep urllib3's contract, injectable sleep.
        retry_after = self.get_retry_after(response)
        if retry_after:
            self.sleeper(retry_after)
            return True
        return False

    def _sleep_backoff(self) -> None:
        backoff = self.get_backoff_time()
        if backoff > 0:
            self.sleeper(backoff)


def _budget_reason(response: BaseHTTPResponse | None, delay: float, left: float) -> Exception:
    status = response.status if response is not None else "?"
    return ResponseError(
        f"status {status}: next retry would wait {delay:g} s, retry budget left {max(left, 0):g} s"
    )


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5  # failures (5xx, resets, timeouts) retried per call
    max_rate_limit_retries: int = 20  # 429s waited out per call, within the time budget
    max_retry_seconds: float = 120.0
    backoff_factor: float = 0.5
    backoff_max: float = 30.0
    backoff_jitter: float = 0.25
    status_forcelist: Collection[int] = RETRY_STATUSES

    def build(
        self,
        *,
        sleeper: Sleeper | None = None,
        rand: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
        on_retry: Callable[[RetryEvent], float | None] | None = None,
    ) -> CoinGlassRetry:
        return CoinGlassRetry(
            total=self.max_retries,
            connect=None,
            read=None,
            status=None,
            redirect=0,
            allowed_methods=frozenset({"GET"}),
            status_forcelist=frozenset(self.status_forcelist),
            backoff_factor=self.backoff_factor,
            backoff_max=self.backoff_max,
            backoff_jitter=self.backoff_jitter,
            respect_retry_after_header=True,
            # Return the last 429/5xx response instead of raising RetryError, so the caller maps
            # its status and body (Retry-After, msg) into the right CoinGlassError.
            raise_on_status=False,
            raise_on_redirect=False,
            sleeper=sleeper,
            max_retry_seconds=self.max_retry_seconds,
            monotonic=monotonic,
            rand=rand,
            on_retry=on_retry,
            rate_limit_retries=self.max_rate_limit_retries,
        )


def mount_prefix(base_url: str) -> str:
    """The adapter prefix for `base_url`: scheme://host[:port]/ (other hosts keep their own adapters)."""
    parts = urlsplit(base_url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"base_url must be absolute (scheme://host[:port]), got {base_url!r}")
    return f"{parts.scheme}://{parts.netloc}/"


def build_session(
    base_url: str,
    retry: Retry,
    *,
    session: requests.Session | None = None,
    pool_maxsize: int = 10,
) -> requests.Session:
    """Mount an adapter with `retry` for `base_url` on `session` (a new one when None)."""
    session = session or requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=pool_maxsize)
    session.mount(mount_prefix(base_url), adapter)
    return session
