"""A replay WebSocket server speaking the CoinGlass `liquidationOrders` protocol.

It serves pushes from a JSON lines file, one push per line exactly as the API sends it
(`{"channel": "liquidationOrders", "data": [...]}`): either a stream recorded by
`sniper stream --record FILE` or a hand-written one. Nothing here is live data. The protocol
is the real one (docs/coinglass-v4.md, "Transport"):

- path `/ws-api`, query `cg-api-key` required and non-empty (HTTP 401 otherwise; with
  `accept_keys` only those keys pass, to test a wrong key);
- pushes start after `{"method": "subscribe", "channels": ["liquidationOrders"]}`;
- the text `ping` is answered with `pong` (unless `answer_pings=False`, to test pong timeouts).

Testing aids: `drop_after=N` aborts each connection (no close frame, like a network cut) after N
pushes; the next connection resumes where the dropped one stopped, re-sending the last
`resend_on_reconnect` pushes, as a real feed may at the seam. `retime=True` shifts every order's
time so the first push is "now", which makes a recorded stream look live to the sensor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from sniper_pipeline.stream.client import KEY_PARAM, PING, PONG, RedactingLogger
from sniper_pipeline.stream.orders import CHANNEL

PATH = "/ws-api"
_log = logging.getLogger("sniper_pipeline.stream.replay_ws")


class ReplayFileError(ValueError):
    """The pushes file is missing or not JSON lines of push objects."""


def load_pushes(source: Path | str) -> list[dict[str, Any]]:
    """Pushes of a JSON lines file (blank lines skipped); ReplayFileError names the bad line."""
    path = Path(source)
    if not path.is_file():
        raise ReplayFileError(f"{path}: no such file")
    pushes: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReplayFileError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(obj, dict) or "channel" not in obj:
            raise ReplayFileError(f'{path}:{number}: not a push object with a "channel"')
        pushes.append(obj)
    return pushes


def _retimed(pushes: Sequence[dict[str, Any]], now_ms: int) -> list[dict[str, Any]]:
    times = [
        int(float(row["time"]))
        for push in pushes
        for row in (push.get("data") or [])
        if isinstance(row, dict) and "time" in row
    ]
    if not times:
        return list(pushes)
    offset = now_ms - min(times)
    out = []
    for push in pushes:
        rows = push.get("data")
        if isinstance(rows, list):
            rows = [
                {**row, "time": int(float(row["time"])) + offset}
                if isinstance(row, dict) and "time" in row
                else row
                for row in rows
            ]
            push = {**push, "data": rows}
        out.append(push)
    return out


class ReplayWsServer:
    """Serves pushes over a real socket, in a background thread. Context manager or start()/stop()."""

    def __init__(
        self,
        pushes: Path | str | Iterable[dict[str, Any]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        interval: float = 0.0,
        drop_after: int | None = None,
        resend_on_reconnect: int = 1,
        answer_pings: bool = True,
        accept_keys: Iterable[str] | None = None,
        retime: bool = False,
    ) -> None:
        if drop_after is not None and drop_after < 1:
            raise ValueError("drop_after must be >= 1")
        self._source = load_pushes(pushes) if isinstance(pushes, str | Path) else list(pushes)
        self.host = host
        self._requested_port = port
        self.interval = interval
        self.drop_after = drop_after
        # Fewer re-sent than sent per connection, or a dropping server would never get further.
        limit = drop_after - 1 if drop_after is not None else resend_on_reconnect
        self.resend_on_reconnect = max(0, min(resend_on_reconnect, limit))
        self.answer_pings = answer_pings
        self.accept_keys = frozenset(accept_keys) if accept_keys is not None else None
        self.retime = retime
        self.port: int | None = None
        # What happened, for tests and the CLI (written by the server thread only).
        self.connections = 0
        self.rejected = 0
        self.subscriptions: list[Any] = []
        self.other_messages: list[str] = []
        self.pings = 0
        self.pushes_sent = 0
        self.drops = 0
        self._messages: list[str] = []
        self._next = 0  # index of the next push to send, across connections
        self.all_sent = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._logger = RedactingLogger(_log, None)  # no key known: redact() strips any cg-api-key=

    @property
    def push_count(self) -> int:
        return len(self._source)

    @property
    def url(self) -> str:
        """The stream URL without a key (the client adds `?cg-api-key=...`)."""
        if self.port is None:
            raise RuntimeError("the server is not started")
        return f"ws://{self.host}:{self.port}{PATH}"

    def url_with_key(self, key: str) -> str:
        from sniper_pipeline.coinglass.client import websocket_url

        return websocket_url(key, base=self.url)

    # lifecycle

    def start(self) -> ReplayWsServer:
        if self._thread is not None:
            return self
        pushes = self._source
        if self.retime:
            pushes = _retimed(pushes, int(time.time() * 1000))
        self._messages = [json.dumps(p, separators=(",", ":")) for p in pushes]
        if not self._messages:
            self.all_sent.set()
        self._ready.clear()
        self._thread = threading.Thread(target=self._main, name="replay-ws", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)
        if self._startup_error is not None:
            self._thread.join(timeout=5)
            self._thread = None
            raise self._startup_error
        return self

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        thread.join(timeout=10)

    def __enter__(self) -> ReplayWsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._startup_error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(
            self._handler,
            self.host,
            self._requested_port,
            process_request=self._check_request,
            ping_interval=None,  # the protocol's keepalive is the text ping
            logger=self._logger,
            close_timeout=1,
        ) as server:
            self.port = int(next(iter(server.sockets)).getsockname()[1])
            self._ready.set()
            await self._stop.wait()

    # protocol

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        if parts.path != PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, f"no such path; the stream is at {PATH}\n")
        key = (parse_qs(parts.query).get(KEY_PARAM) or [""])[0].strip()
        if not key or (self.accept_keys is not None and key not in self.accept_keys):
            self.rejected += 1
            return connection.respond(HTTPStatus.UNAUTHORIZED, f"missing or invalid {KEY_PARAM}\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        subscribed = asyncio.Event()
        pusher = asyncio.create_task(self._push(ws, subscribed))
        try:
            async for message in ws:
                text = message.decode("utf-8", errors="replace") if isinstance(message, bytes) else message
                if text.strip() == PING:
                    self.pings += 1
                    if self.answer_pings:
                        await ws.send(PONG)
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError:
                    self.other_messages.append(text)
                    continue
                if isinstance(obj, dict) and obj.get("method") == "subscribe":
                    self.subscriptions.append(obj)
                    if CHANNEL in (obj.get("channels") or []):
                        subscribed.set()
                else:
                    self.other_messages.append(text)
        except ConnectionClosed:
            pass
        finally:
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pusher

    async def _push(self, ws: ServerConnection, subscribed: asyncio.Event) -> None:
        await subscribed.wait()
        sent_here = 0
        while self._next < len(self._messages):
            try:
                await ws.send(self._messages[self._next])
            except ConnectionClosed:
                return
            self._next += 1
            self.pushes_sent += 1
            sent_here += 1
            if self._next >= len(self._messages):
                self.all_sent.set()
            if self.drop_after is not None and sent_here >= self.drop_after:
                self.drops += 1
                self._next = max(0, self._next - self.resend_on_reconnect)
                if self._next < len(self._messages):
                    self.all_sent.clear()
                ws.transport.abort()  # a cut, not a close: the client sees an abnormal closure
                return
            if self.interval > 0:
                await asyncio.sleep(self.interval)
