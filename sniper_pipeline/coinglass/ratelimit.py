"""Client-side rate limiting: a token bucket that adapts to the API-KEY-*-LIMIT headers.

Interface (what the client calls): `acquire()` before each request, `observe(used, max)`
with the headers of each response, `pause(seconds)` after a 429 (every sharer waits it out).
`RateLimiter` keeps its bucket in memory;
`FileRateLimiter` keeps the same bucket in a small JSON file under an `fcntl.flock`,
so several processes (Dagster runs, the CLI) share one budget per key;
`RedisRateLimiter` keeps it in one Redis key under a Redis lock, so processes on several
machines (Celery workers) share it. Another shared store only has to override `_transaction`.

The bucket works by reservation: `acquire` always takes a token, letting the count go
negative, and sleeps (outside any lock) for the debt it created. Concurrent callers
therefore queue fairly without holding the lock while they wait.

The API counts requests per fixed window (a minute; `window_s` shortens it for replay tests).
A bucket lets through at most `burst + rate x window` requests in any span of one window, so
the rate is set to `(limit - burst) x SAFETY / window`: the server's count can never reach
the limit from our side alone, and a 429 at steady state means someone else shares the key.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# Share of (limit - burst) per window actually used: headroom for late sleeps and clock skew.
SAFETY = 0.95


@dataclass
class BucketState:
    tokens: float
    updated: float  # seconds on the limiter's clock
    rate: float  # tokens per second currently granted
    server_max: int | None = None
    server_used: int | None = None


@dataclass(frozen=True)
class BucketParams:
    limit: float  # requests the plan allows per window
    window_s: float  # the server's counting window: 60 s on the real API
    burst: float
    high_water: float  # fraction of the server's max at which we start to slow down
    slow_factor: float  # rate multiplier while above high water

    def base_rate(self, server_max: int | None) -> float:
        """Tokens per second such that no window of the server sees more than its limit."""
        limit = self.limit if not server_max else min(self.limit, server_max)
        burst = min(self.burst, max(1.0, limit / 10.0))
        return max((limit - burst) * SAFETY, 0.5) / self.window_s


def refill(state: BucketState, now: float, params: BucketParams) -> None:
    elapsed = max(0.0, now - state.updated)
    state.tokens = min(params.burst, state.tokens + elapsed * state.rate)
    state.updated = now


def take(state: BucketState, now: float, params: BucketParams) -> float:
    """Take one token; return the seconds the caller must wait before sending."""
    refill(state, now, params)
    state.tokens -= 1.0
    return 0.0 if state.tokens >= 0 else -state.tokens / state.rate


def pause(state: BucketState, now: float, params: BucketParams, seconds: float) -> None:
    """Hold every sharer back `seconds` from now (the server said 429, Retry-After)."""
    refill(state, now, params)
    state.tokens = min(state.tokens, -max(0.0, seconds) * state.rate)


def adapt(
    state: BucketState, now: float, params: BucketParams, used: int | None, server_max: int | None
) -> None:
    """Fold the server's view (requests used of max in its current minute) into the bucket."""
    refill(state, now, params)
    if server_max is None or server_max <= 0:
        return
    state.server_max, state.server_used = server_max, used
    rate = params.base_rate(server_max)
    if used is not None and used >= params.high_water * server_max:
        # Close to the server's count: only what the server still allows may go out at once,
        # and the refill slows until a response shows usage below high water again.
        state.tokens = min(state.tokens, float(max(0, server_max - used)))
        rate *= params.slow_factor
    state.rate = rate


class RateLimiter:
    """In-process token bucket: below `limit` requests per `window_s`, `burst` at once."""

    def __init__(
        self,
        limit: float,
        *,
        window_s: float = 60.0,
        burst: float | None = None,
        high_water: float = 0.8,
        slow_factor: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        sleeper: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit <= 0 or window_s <= 0:
            raise ValueError("limit and window_s must be > 0")
        if not 0 < high_water <= 1 or not 0 < slow_factor <= 1:
            raise ValueError("high_water and slow_factor must be in (0, 1]")
        self.params = BucketParams(
            limit=float(limit),
            window_s=float(window_s),
            # A tenth of the window's quota at once: bursty enough for paging, small enough to
            # leave most of the quota to the steady rate (see base_rate).
            burst=float(burst) if burst is not None else max(1.0, limit / 10.0),
            high_water=high_water,
            slow_factor=slow_factor,
        )
        self._clock = clock
        self._sleeper = sleeper
        self._lock = threading.Lock()
        self._state = self._initial_state()

    def _fresh_state(self) -> BucketState:
        return BucketState(tokens=self.params.burst, updated=self._clock(), rate=self.params.base_rate(None))

    def _initial_state(self) -> BucketState:
        # FileRateLimiter never reads it: its state lives in the file (see _load).
        return self._fresh_state()

    @contextmanager
    def _transaction(self) -> Iterator[BucketState]:
        """Exclusive access to the bucket state; subclasses share it across processes."""
        with self._lock:
            yield self._state

    def _with_state(self, fn: Callable[[BucketState, float], T]) -> T:
        with self._transaction() as state:
            return fn(state, self._clock())

    def acquire(self) -> float:
        """Block until a request may be sent; returns the seconds waited."""
        wait = self._with_state(lambda s, now: take(s, now, self.params))
        if wait > 0:
            self._sleeper(wait)
        return wait

    def pause(self, seconds: float) -> None:
        """After a 429: no request of any sharer goes out for `seconds` (Retry-After)."""
        self._with_state(lambda s, now: pause(s, now, self.params, seconds))

    def observe(self, used: int | None, max_: int | None) -> None:
        """Report API-KEY-USE-LIMIT / API-KEY-MAX-LIMIT of a response (None when absent)."""
        if max_ is None and used is None:
            return
        self._with_state(lambda s, now: adapt(s, now, self.params, used, max_))

    def snapshot(self) -> BucketState:
        """A copy of the bucket, refilled to now (for tests and health output)."""

        def copy(state: BucketState, now: float) -> BucketState:
            refill(state, now, self.params)
            return BucketState(**asdict(state))

        return self._with_state(copy)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(limit={self.params.limit:g} per {self.params.window_s:g} s)"


class FileRateLimiter(RateLimiter):
    """The same bucket, shared by every process that uses the same state file.

    State lives in a small JSON file guarded by an exclusive `fcntl.flock` on a sibling
    `.lock` file (POSIX only). The clock defaults to wall time (`time.time`), which all
    processes on the host agree on.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        limit: float,
        *,
        window_s: float = 60.0,
        burst: float | None = None,
        high_water: float = 0.8,
        slow_factor: float = 0.5,
        clock: Callable[[], float] = time.time,
        sleeper: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(
            limit,
            window_s=window_s,
            burst=burst,
            high_water=high_water,
            slow_factor=slow_factor,
            clock=clock,
            sleeper=sleeper,
        )

    @contextmanager
    def _transaction(self) -> Iterator[BucketState]:
        # One open file description per transaction: flock then also excludes threads of this process.
        with open(self.lock_path, "a+") as lock_file:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            try:
                state = self._load()
                yield state
                self._save(state)
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

    def _load(self) -> BucketState:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return self._fresh_state()
        return decode_state(text, self.params) or self._fresh_state()

    def _save(self, state: BucketState) -> None:
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        tmp.write_text(encode_state(state, self.params))
        os.replace(tmp, self.path)  # atomic: a reader never sees half a file


def encode_state(state: BucketState, params: BucketParams) -> str:
    """The bucket as stored by the shared limiters, with the plan it was computed for."""
    return json.dumps({**asdict(state), "limit": params.limit, "window_s": params.window_s})


def decode_state(raw_text: str | bytes | None, params: BucketParams) -> BucketState | None:
    """The stored bucket, or None when missing, damaged (start fresh rather than fail the fetch)
    or computed for another plan (a changed setting: its rate and tokens do not apply to ours)."""
    if raw_text is None:
        return None
    try:
        raw = json.loads(raw_text)
        if (raw["limit"], raw["window_s"]) != (params.limit, params.window_s):
            return None
        return BucketState(**{k: raw[k] for k in ("tokens", "updated", "rate", "server_max", "server_used")})
    except (ValueError, KeyError, TypeError):
        return None


class RedisRateLimiter(RateLimiter):
    """The same bucket in one Redis key, shared by processes on any machine that reaches the
    server (Celery workers on several hosts, one API key).

    A Redis lock guards each transaction (read, update, write: a few round trips per request,
    nothing next to an HTTP call). The lock expires after `lock_timeout_s`, so a holder killed
    mid-transaction (kill -9, a lost host) holds the others back that long at most. The clock is
    the Redis server's (`TIME`): hosts whose clocks differ still agree on the bucket's time.
    """

    def __init__(
        self,
        url: str,
        limit: float,
        *,
        key: str = "sniper:coinglass-rate-limit",
        window_s: float = 60.0,
        burst: float | None = None,
        high_water: float = 0.8,
        slow_factor: float = 0.5,
        lock_timeout_s: float = 5.0,
        clock: Callable[[], float] | None = None,
        sleeper: Callable[[float], None] = time.sleep,
    ) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        self.key = key
        self.lock_timeout_s = lock_timeout_s
        super().__init__(
            limit,
            window_s=window_s,
            burst=burst,
            high_water=high_water,
            slow_factor=slow_factor,
            clock=clock or self._server_time,
            sleeper=sleeper,
        )

    def _server_time(self) -> float:
        seconds, micros = self.redis.time()
        return float(seconds) + float(micros) / 1e6

    def _initial_state(self) -> BucketState:
        # Never read: the state lives in Redis (see _transaction); no round trip at construction.
        return BucketState(tokens=self.params.burst, updated=0.0, rate=self.params.base_rate(None))

    @contextmanager
    def _transaction(self) -> Iterator[BucketState]:
        with self.redis.lock(f"{self.key}:lock", timeout=self.lock_timeout_s, blocking_timeout=60):
            state = decode_state(self.redis.get(self.key), self.params) or self._fresh_state()
            yield state
            self.redis.set(self.key, encode_state(state, self.params))
