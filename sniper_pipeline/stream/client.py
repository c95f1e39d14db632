"""The `liquidationOrders` WebSocket client: connect, subscribe, keep alive, reconnect, store.

Protocol (docs/coinglass-v4.md, "Transport"): the URL carries the key
(`wss://open-ws.coinglass.com/ws-api?cg-api-key=<key>`); after connecting the client sends
`{"method": "subscribe", "channels": ["liquidationOrders"]}`, then the text `ping` every
`ping_interval` seconds (20) and expects the text `pong` within `pong_timeout`. Pushes are
`{"channel": "liquidationOrders", "data": [orders]}`. Any failure but a refused key reconnects
with capped exponential backoff and jitter; HTTP 401/403 at the handshake is final.

The key never leaves this module in clear: every log line (ours and the websockets library's,
which logs the request path at DEBUG) and every exception message goes through `redact`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, InvalidURI

from sniper_pipeline.coinglass.errors import redact
from sniper_pipeline.stream.orders import (
    CHANNEL,
    LiquidationOrder,
    MalformedPushError,
    OrderFilter,
    parse_push,
)

SUBSCRIBE: dict[str, Any] = {"method": "subscribe", "channels": [CHANNEL]}
PING, PONG = "ping", "pong"
KEY_PARAM = "cg-api-key"
MAX_PENDING = 50_000  # orders kept in memory while the store is unreachable

Sink = Callable[[list[LiquidationOrder]], int]  # stores a batch, returns how many were new
Sleep = Callable[[float], Awaitable[None]]

_log = logging.getLogger("sniper_pipeline.stream")


class StreamError(Exception):
    """The stream cannot go on; the message never carries the key."""


class StreamAuthError(StreamError):
    """The server refused the key (HTTP 401/403 at the handshake): reconnecting will not help."""


class PongTimeoutError(StreamError):
    """No `pong` after a `ping`: the connection is presumed dead and is replaced."""


class RedactingLogger(logging.LoggerAdapter[logging.Logger]):
    """Formats each record itself and removes the key before it reaches any handler.

    Given to the websockets library as its logger too: it logs `> GET /ws-api?cg-api-key=...`
    at DEBUG, and a traceback of an error may quote the URL."""

    def __init__(self, logger: logging.Logger, secret: str | None) -> None:
        super().__init__(logger, {})
        self.secret = secret

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = f"{msg} {args}"
        exc_info = kwargs.pop("exc_info", None)
        if exc_info:
            if isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            elif not isinstance(exc_info, tuple):
                exc_info = sys.exc_info()
            if exc_info[0] is not None:
                text += "\n" + "".join(traceback.format_exception(*exc_info)).rstrip()
        kwargs.setdefault("stacklevel", 2)
        self.logger.log(level, redact(text, self.secret), **kwargs)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return msg, kwargs


def key_from_url(url: str) -> str | None:
    """The `cg-api-key` query value of a stream URL (decoded), for redaction."""
    values = parse_qs(urlsplit(url).query).get(KEY_PARAM)
    return values[0] if values else None


@dataclass(frozen=True)
class Backoff:
    """Delay before reconnect attempt n (0-based): min(cap, initial * factor**n), of which the
    `jitter` share is random, so many clients dropped together do not reconnect together."""

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    jitter: float = 0.5

    def delay(self, attempt: int, rand: float) -> float:
        base = min(self.cap, self.initial * self.factor ** min(attempt, 64))
        return base * (1.0 - self.jitter + self.jitter * rand)


@dataclass
class StreamStats:
    connections: int = 0
    reconnects: int = 0
    pushes: int = 0
    orders_received: int = 0
    orders_kept: int = 0  # after the exchange/coin filter
    orders_stored: int = 0  # new in the store (duplicates not counted)
    rows_malformed: int = 0
    messages_malformed: int = 0
    messages_ignored: int = 0  # acks, other channels
    pings_sent: int = 0
    pongs: int = 0
    pong_timeouts: int = 0
    store_failures: int = 0
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LiquidationStreamClient:
    """Streams `liquidationOrders` from `url` into `sink` until stopped.

    `sink` runs in a worker thread, fed by a queue (the store may be a remote PostgreSQL), so
    pings and pushes keep flowing while it writes; refused batches are retried.
    `sleep` and `rand` are the backoff's, injectable so tests need not wait.
    """

    def __init__(
        self,
        url: str,
        sink: Sink,
        *,
        exchanges: Iterable[str] | None = None,
        coins: Iterable[str] | None = None,
        ping_interval: float = 20.0,
        pong_timeout: float | None = None,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        open_timeout: float = 10.0,
        close_timeout: float = 2.0,
        record_to: Path | None = None,
        store_retry_s: float = 5.0,
        logger: logging.Logger | None = None,
    ) -> None:
        if ping_interval <= 0:
            raise ValueError("ping_interval must be > 0")
        self._url = url
        self._secret = key_from_url(url)
        self._sink = sink
        self.filter = OrderFilter(exchanges, coins)
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout if pong_timeout is not None else min(10.0, ping_interval)
        self.backoff = backoff or Backoff()
        self._sleep = sleep
        self._rand = rand
        self._open_timeout = open_timeout
        self._close_timeout = close_timeout
        self._record_to = record_to
        base = logger or _log
        self.log = RedactingLogger(base, self._secret)
        self._ws_log = RedactingLogger(base.getChild("ws"), self._secret)
        self.stats = StreamStats()
        self.store_retry_s = store_retry_s
        self._pending: list[LiquidationOrder] = []
        self.shutdown_timeout_s = 30.0
        self._queue: asyncio.Queue[list[LiquidationOrder] | None] = asyncio.Queue()

    @property
    def safe_url(self) -> str:
        return redact(self._url, self._secret)

    def __repr__(self) -> str:
        return f"LiquidationStreamClient({self.safe_url!r}, {self.filter!r})"

    # running

    async def run(
        self, *, stop: asyncio.Event | None = None, max_seconds: float | None = None
    ) -> StreamStats:
        """Stream until `stop` is set or `max_seconds` passed; StreamAuthError/StreamError when the
        stream cannot go on. Orders not yet stored are flushed once more before returning."""
        self._queue = asyncio.Queue()
        writer = asyncio.create_task(self._write_forever(), name="liquidation-stream-writer")
        main = asyncio.create_task(self._run_forever(), name="liquidation-stream")
        waiters: set[asyncio.Task[Any]] = {main}
        if stop is not None:
            waiters.add(asyncio.create_task(stop.wait(), name="liquidation-stream-stop"))
        try:
            done, _ = await asyncio.wait(waiters, timeout=max_seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waiters:
                task.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
            # The writer stores what was received, then stops: stats stay exact, nothing is dropped
            # unless the store itself refuses (then logged).
            self._queue.put_nowait(None)
            try:
                await asyncio.wait_for(writer, timeout=self.shutdown_timeout_s)
            except TimeoutError:
                self.log.error("store writes did not finish within %g s", self.shutdown_timeout_s)
            if self._pending:
                self.log.error("%d orders could not be stored before stopping", len(self._pending))
        if main in done and not main.cancelled():
            main.result()  # raises the fatal error, if any
        return self.stats

    async def _run_forever(self) -> None:
        attempt = 0
        while True:
            pushes_before = self.stats.pushes
            try:
                await self._session()
                self.log.info("connection closed by the server")
            except PongTimeoutError as exc:
                self.stats.last_error = str(exc)
                self.log.warning("%s; reconnecting", exc)
            except StreamError:
                raise  # a refused key or a bad URL: retrying cannot help
            except Exception as exc:
                # Network errors, refused or broken handshakes, abnormal closes: all worth a retry.
                self.stats.last_error = redact(f"{type(exc).__name__}: {exc}", self._secret)
                self.log.warning("stream connection failed: %s", self.stats.last_error)
            # A connection that delivered data was healthy: start the backoff over.
            if self.stats.pushes > pushes_before:
                attempt = 0
            delay = self.backoff.delay(attempt, self._rand())
            attempt += 1
            self.stats.reconnects += 1
            self.log.info("reconnecting in %.2f s (attempt %d)", delay, attempt)
            await self._sleep(delay)

    async def _open(self) -> ClientConnection:
        try:
            return await connect(
                self._url,
                ping_interval=None,  # the API's keepalive is the text ping below, not protocol pings
                open_timeout=self._open_timeout,
                close_timeout=self._close_timeout,
                logger=self._ws_log,
                max_size=2**22,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise StreamAuthError(
                    f"the server at {self.safe_url} refused the API key (HTTP {status}); "
                    "check CG_API_KEY (set, not revoked, Standard plan or above for WebSocket)"
                ) from None
            # Other statuses (429, 5xx, a proxy's page) are usually passing: retried with backoff.
            raise ConnectionError(
                f"the server at {self.safe_url} refused the handshake (HTTP {status})"
            ) from None
        except InvalidURI:
            raise StreamError(f"not a WebSocket URL: {self.safe_url} (expected ws:// or wss://)") from None

    async def _session(self) -> None:
        """One connection: subscribe, then receive and ping until either fails or the server closes."""
        ws = await self._open()
        try:
            self.stats.connections += 1
            self.log.info("connected to %s (subscribing to %s)", self.safe_url, CHANNEL)
            await ws.send(json.dumps(SUBSCRIBE))
            pong = asyncio.Event()
            tasks = {
                asyncio.create_task(self._receive(ws, pong), name="stream-receive"),
                asyncio.create_task(self._keepalive(ws, pong), name="stream-ping"),
            }
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            for task in done:
                task.result()
        finally:
            # Also on stop (cancellation): a normal closure (1000), not an internal error (1011).
            await ws.close()

    async def _keepalive(self, ws: ClientConnection, pong: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            pong.clear()
            await ws.send(PING)
            self.stats.pings_sent += 1
            try:
                async with asyncio.timeout(self.pong_timeout):
                    await pong.wait()
            except TimeoutError:
                self.stats.pong_timeouts += 1
                raise PongTimeoutError(f"no pong within {self.pong_timeout:g} s of a ping") from None

    async def _receive(self, ws: ClientConnection, pong: asyncio.Event) -> None:
        async for message in ws:
            text = message.decode("utf-8", errors="replace") if isinstance(message, bytes) else message
            if text.strip() == PONG:
                self.stats.pongs += 1
                pong.set()
                continue
            try:
                parsed = parse_push(text)
            except MalformedPushError as exc:
                self.stats.messages_malformed += 1
                self.log.warning("unreadable message (%s): %.200s", exc, text)
                continue
            if parsed is None:
                self.stats.messages_ignored += 1
                # Acks and error notices are rare and the API does not document them: show them.
                self.log.info("message ignored: %.200s", text)
                continue
            orders, bad = parsed
            self.stats.pushes += 1
            self.stats.orders_received += len(orders)
            self.stats.rows_malformed += bad
            if bad:
                self.log.warning("%d unusable order rows in a push: %.200s", bad, text)
            if self._record_to is not None:
                self._record(text)
            kept = [o for o in orders if self.filter(o)]
            self.stats.orders_kept += len(kept)
            if kept:
                # Stored by the writer task: a slow store must not hold up pongs and pushes.
                self._queue.put_nowait(kept)

    async def _write_forever(self) -> None:
        """Store queued batches, several at once when they pile up; None in the queue means stop."""
        stopping = False
        while not stopping:
            if self._pending:
                # Retry the orders the store refused: with the next push, or after store_retry_s.
                try:
                    items = [await asyncio.wait_for(self._queue.get(), self.store_retry_s)]
                except TimeoutError:
                    items = []
            else:
                items = [await self._queue.get()]
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            stopping = None in items
            await self._flush([o for item in items if item for o in item])

    async def _flush(self, batch: list[LiquidationOrder]) -> None:
        orders = self._pending + batch
        if not orders:
            return
        try:
            new = await asyncio.to_thread(self._sink, orders)
        except asyncio.CancelledError:
            self._pending = orders[-MAX_PENDING:]
            raise
        except Exception as exc:
            # Keep the orders for the writer's next try: a store outage loses nothing.
            self.stats.store_failures += 1
            self._pending = orders[-MAX_PENDING:]
            self.log.error(
                "store write failed, %d orders kept for retry: %s",
                len(self._pending),
                redact(f"{type(exc).__name__}: {exc}", self._secret),
            )
            return
        self._pending = []
        self.stats.orders_stored += new

    def _record(self, text: str) -> None:
        assert self._record_to is not None
        # One push per line: a pretty-printed push is compacted, a one-line push kept byte for byte.
        line = json.dumps(json.loads(text)) if "\n" in text or "\r" in text else text
        with contextlib.suppress(OSError), self._record_to.open("a", encoding="utf-8") as fh:
            fh.write(redact(line, self._secret) + "\n")
