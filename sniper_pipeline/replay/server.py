"""CoinGlass v4 replay server: serves a folder of recorded responses over the real HTTP contract.

Behaviour (design.md section 7), in the order a GET request is handled:

1. a fault from ``--faults`` for this request, if any (see ``faults.py``); faults do
   not count against the rate limit;
2. ``CG-API-KEY`` header missing or blank -> HTTP 401, code "401" (any other key is fine);
3. rate limit (``rate_limit`` per ``rate_window_s`` fixed window, real time) -> HTTP 429,
   code "429", ``Retry-After`` = whole seconds until the window resets (>= 1);
4. paging params: ``limit`` must be an integer 1..1000 (above 1000 is refused with 400
   rather than clamped, so a client bug shows), ``start_time``/``end_time`` integers;
5. lookup: unknown endpoint -> 404 code "404"; a ``symbol`` no recording of that endpoint
   has (nor its ``symbol_aliases``) -> 404 code "404" (coinglass-v4.md: 404 = no such
   resource, e.g. unknown symbol); other unrecorded param combinations -> 400 code "400"
   listing what is recorded;
6. the recorded envelope, time series paged (``paging.py``) and cut at the simulated clock.

Faults can change while the server runs: ``set_faults`` / ``add_faults(spec, path=)`` /
``clear_faults(path)`` in process, or ``/_replay/faults`` over HTTP from loopback (GET lists
the rules and their remaining counts, POST appends the spec sent as body, DELETE clears;
``?path=/api/...`` targets one endpoint), e.g.
``curl -d '503:2' 'http://127.0.0.1:PORT/_replay/faults?path=/api/futures/open-interest/aggregated-history'``.

Every response carries ``Date`` (from the simulated clock when ``now`` is given),
``API-KEY-MAX-LIMIT`` and ``API-KEY-USE-LIMIT``. Without a rate limit the max header reports
``UNLIMITED_REPORTED``. Methods other than GET answer 405.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import socket
import struct
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from sniper_pipeline.replay import data_faults as _data_faults  # noqa: F401  (registers them)
from sniper_pipeline.replay.faults import (
    DATA_FAULTS,
    Fault,
    FaultInjector,
    FaultSpecError,
    parse_faults,
)
from sniper_pipeline.replay.paging import MAX_LIMIT, page_sorted
from sniper_pipeline.replay.recordings import LookupFailed, load_index
from sniper_pipeline.settings.timeutil import to_epoch_ms

log = logging.getLogger(__name__)

KEY_HEADER = "CG-API-KEY"
# Reported as API-KEY-MAX-LIMIT when no limit is enforced, so clients that pace on it run free.
UNLIMITED_REPORTED = 1_000_000
REQUEST_LOG_MAX = 100_000
# Fault control of a running server (loopback clients only): GET lists the rules, POST appends
# the spec in the body (``?path=`` targets items without "@"), DELETE clears (``?path=``: those).
CONTROL_PATH = "/_replay/faults"
_LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
_KEY_PARAM_NAMES = frozenset({"cg-api-key", "cg_api_key", "api_key", "apikey"})


class SimClock:
    """Simulated clock: starts at ``now`` and advances at ``speed`` x real time.

    Without ``now`` it is the real clock and hides nothing.
    """

    def __init__(self, now: datetime | None = None, speed: float = 1.0) -> None:
        if speed < 0 or not math.isfinite(speed):
            raise ValueError(f"speed must be a finite number >= 0, got {speed}")
        if now is not None and now.tzinfo is None:
            now = now.replace(tzinfo=UTC)  # naive times are read as UTC, like the API's epoch ms
        self.start = now
        self.speed = speed
        self._t0 = time.monotonic()

    @property
    def simulated(self) -> bool:
        return self.start is not None

    def now(self) -> datetime:
        if self.start is None:
            return datetime.now(UTC)
        elapsed = (time.monotonic() - self._t0) * self.speed
        return datetime.fromtimestamp(self.start.timestamp() + elapsed, UTC)

    def now_ms(self) -> int | None:
        """Epoch ms of the simulated clock, None when rows are not hidden (real clock)."""
        return None if self.start is None else to_epoch_ms(self.now())


class RateLimiter:
    """Fixed window counter: a window opens at the first request after the previous one expired."""

    def __init__(self, limit: int | None, window_s: float = 60.0) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"rate limit must be >= 1, got {limit}")
        if window_s <= 0:
            raise ValueError(f"rate window must be > 0 s, got {window_s}")
        self.limit = limit
        self.window_s = window_s
        self._lock = threading.Lock()
        self._start = float("-inf")  # the first request opens the first window
        self._used = 0
        self.refused = 0  # requests answered 429 by this limit (injected 429s not included)
        self.peak = 0  # most requests allowed in one window so far

    def _roll(self, now: float) -> None:
        if now - self._start >= self.window_s:
            self._start, self._used = now, 0

    def hit(self) -> tuple[bool, int, float]:
        """Count one request: (allowed, used in window, seconds until the window resets)."""
        with self._lock:
            now = time.monotonic()
            self._roll(now)
            reset_in = self._start + self.window_s - now
            if self.limit is not None and self._used >= self.limit:
                self.refused += 1
                return False, self._used, reset_in
            self._used += 1
            self.peak = max(self.peak, self._used)
            return True, self._used, reset_in

    def used(self) -> int:
        with self._lock:
            self._roll(time.monotonic())
            return self._used

    @property
    def max_reported(self) -> int:
        return UNLIMITED_REPORTED if self.limit is None else self.limit


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json_body(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def error_response(status: int, msg: str, code: str | None = None) -> Response:
    return Response(status, _json_body({"code": code or str(status), "msg": msg}))


_HTML_PAGE = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 drops bursts of connects (1 s SYN retry)
    replay: ReplayServer

    def __init__(self, addr: tuple[str, int], replay: ReplayServer) -> None:
        self.replay = replay
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        # Kept-alive connections would otherwise keep answering after stop().
        with self._open_lock:
            socks = list(self._open)
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the client went away (e.g. after a timeout fault): nothing to report
        log.exception("replay server: unhandled error for %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API behind requests sessions
    server_version = "sniper-replay/1"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are dropped after this

    def do_GET(self) -> None:
        self.server.replay._handle_get(self)

    def _not_allowed(self) -> None:
        self.server.replay._handle_not_allowed(self)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed

    def date_time_string(self, timestamp: float | None = None) -> str:
        return format_datetime(self.server.replay.clock.now(), usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # our own access log (without the query's secrets) is in ReplayServer._send


class ReplayServer:
    """A real socket server answering like CoinGlass v4 from a recordings folder.

    Use as a context manager (starts in a background thread) or call start()/stop().
    """

    def __init__(
        self,
        data_dir: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        now: datetime | None = None,
        speed: float = 1.0,
        faults: str | None = None,
        rate_limit: int | None = None,
        rate_window_s: float = 60.0,
        seed: int = 0,
        quiet: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.index = load_index(self.data_dir)
        self.host = host
        self._requested_port = port
        self.clock = SimClock(now, speed)
        self.rate = RateLimiter(rate_limit, rate_window_s)
        self.seed = seed
        self.injector = FaultInjector(faults, seed=seed)
        self.quiet = quiet
        self._log_lock = threading.Lock()
        # Bounded so a long-running CLI server does not grow without end; tests see far fewer.
        self._request_log: deque[tuple[str, dict[str, str]]] = deque(maxlen=REQUEST_LOG_MAX)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # lifecycle

    def start(self) -> ReplayServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="replay-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping in a timeout fault
        httpd.shutdown()
        httpd.close_open_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def serve_forever(self) -> None:
        """Start and block until stop() (from another thread) or KeyboardInterrupt."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("replay server not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    # inspection

    @property
    def request_log(self) -> list[tuple[str, dict[str, str]]]:
        """(path, params without any key) of every GET received, faulted ones included (last 100k)."""
        with self._log_lock:
            return list(self._request_log)

    def clear_request_log(self) -> None:
        with self._log_lock:
            self._request_log.clear()

    def set_faults(self, spec: str | None) -> None:
        """Replace the fault spec (counts restart)."""
        self.injector = FaultInjector(spec, seed=self.seed)

    def add_faults(self, spec: str, path: str | None = None) -> None:
        """Append faults while running, after the current ones (whose counts go on).

        `path` targets the items that name none, e.g. ``add_faults("503:2", path=OI_PATH)``.
        """
        rules = parse_faults(spec)
        if path is not None:
            if not path.startswith("/"):
                raise FaultSpecError(f"path must start with '/': {path!r}")
            rules = [r if r.path is not None else replace(r, path=path) for r in rules]
        self.injector.add(rules)

    def clear_faults(self, path: str | None = None) -> int:
        """Drop the faults targeting exactly `path` (None: all); returns how many were dropped."""
        return self.injector.clear(path)

    # request handling

    @staticmethod
    def _parse_target(target: str) -> tuple[str, list[tuple[str, str]], dict[str, str], str]:
        """(path, all query pairs, params without key-like names, loggable form)."""
        split = urlsplit(target)
        pairs = parse_qsl(split.query, keep_blank_values=True)
        params = {k: v for k, v in pairs if k.lower() not in _KEY_PARAM_NAMES}
        shown = f"{split.path}?{urlencode(sorted(params.items()))}" if params else split.path
        return split.path, pairs, params, shown

    def _handle_control(self, h: _Handler, params: dict[str, str], shown: str) -> None:
        if h.client_address[0] not in _LOOPBACK:
            self._send(h, error_response(403, "fault control is for loopback clients only"), shown)
            return
        path = params.get("path") or None
        try:
            if h.command == "POST":
                length = int(h.headers.get("Content-Length") or 0)
                spec = h.rfile.read(length).decode("utf-8") if length else params.get("spec", "")
                self.add_faults(spec, path=path)
            elif h.command == "DELETE":
                self.clear_faults(path)
        except (FaultSpecError, ValueError) as exc:
            self._send(h, error_response(400, str(exc)), shown)
            return
        body = {"code": "0", "data": self.injector.describe()}
        self._send(h, Response(200, _json_body(body)), shown, f"fault control {h.command}")

    def _handle_not_allowed(self, h: _Handler) -> None:
        path, _, params, shown = self._parse_target(h.path)
        if path == CONTROL_PATH and h.command in ("POST", "DELETE"):
            self._handle_control(h, params, shown)
            return
        resp = error_response(405, f"method {h.command} not allowed, use GET")
        resp.headers["Allow"] = "GET"
        self._send(h, resp, shown, head_only=h.command == "HEAD")

    def _handle_get(self, h: _Handler) -> None:
        path, pairs, params, shown = self._parse_target(h.path)
        if path == CONTROL_PATH:  # not API traffic: no fault, no request log
            self._handle_control(h, params, shown)
            return
        with self._log_lock:
            self._request_log.append((path, dict(params)))
        try:
            fault = self.injector.next_fault(path)
            if fault is None:
                self._send(h, self._answer(h, path, pairs, params), shown)
            else:
                self._apply_fault(h, fault, path, pairs, params, shown)
        except (ConnectionError, TimeoutError):
            h.close_connection = True
        except Exception:
            log.exception("replay server: error answering %s", shown)
            self._send(h, error_response(500, "internal replay server error"), shown)

    def _apply_fault(
        self,
        h: _Handler,
        fault: Fault,
        path: str,
        pairs: list[tuple[str, str]],
        params: dict[str, str],
        shown: str,
    ) -> None:
        note = f"fault {fault.describe()}"
        kind = fault.kind
        if kind == "reset":
            # SO_LINGER 0 makes close() send a TCP RST: the client sees a reset, not a clean EOF.
            self._access(h, shown, None, note)
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
            h.close_connection = True
            return
        if kind == "timeout":
            if self._stopping.wait(fault.seconds or 0.0):
                h.close_connection = True
                return
            self._send(h, self._answer(h, path, pairs, params), shown, note)
            return
        if kind == "status":
            status = fault.status or 500
            resp = error_response(status, f"simulated {status} {_phrase(status)}")
            if status == 429:
                resp.headers["Retry-After"] = str(max(1, int(fault.seconds or 1)))
        elif kind == "noretryafter429":
            resp = error_response(429, "simulated rate limit without Retry-After")
        elif kind == "html":
            status = fault.status or 502
            page = _HTML_PAGE.format(status=status, phrase=_phrase(status))
            resp = Response(status, page.encode(), content_type="text/html")
        elif kind == "code":
            resp = Response(200, _json_body({"code": fault.code, "msg": "simulated API error"}))
        elif kind == "truncated":
            resp = self._answer(h, path, pairs, params)
            resp.body = resp.body[: max(1, len(resp.body) // 2)] if len(resp.body) > 1 else b""
        elif kind in DATA_FAULTS:
            resp = self._answer(h, path, pairs, params)
            if resp.status == 200 and resp.content_type == "application/json":
                envelope = json.loads(resp.body)
                if envelope.get("code") == "0":
                    resp.body = _json_body(DATA_FAULTS[kind](envelope, fault, self.injector.rng))
        else:  # parse_faults only lets known kinds through; this guards a registry removed later
            resp = error_response(500, f"unknown fault {kind}")
        self._send(h, resp, shown, note)

    def _answer(
        self, h: _Handler, path: str, pairs: list[tuple[str, str]], params: dict[str, str]
    ) -> Response:
        """The normal (fault-free) answer to a GET."""
        key = h.headers.get(KEY_HEADER)
        if key is None or not key.strip():
            return error_response(401, f"missing API key: send header {KEY_HEADER}")
        allowed, _, reset_in = self.rate.hit()
        if not allowed:
            resp = error_response(429, "Too Many Requests: rate limit exceeded")
            resp.headers["Retry-After"] = str(max(1, math.ceil(reset_in)))
            return resp
        dupes = sorted(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
        if dupes:
            return error_response(400, f"parameter given more than once: {', '.join(dupes)}")
        try:
            limit = _int_param(params, "limit", 1, MAX_LIMIT)
            start_time = _int_param(params, "start_time")
            end_time = _int_param(params, "end_time")
        except ValueError as exc:
            return error_response(400, str(exc))
        try:
            rec = self.index.lookup(path, params)
        except LookupFailed as exc:
            return error_response(exc.status, str(exc))
        data = rec.data
        if rec.series is not None:
            data = page_sorted(
                rec.series,
                limit=limit,
                start_time=start_time,
                end_time=end_time,
                not_after=self.clock.now_ms(),
            )
        envelope: dict[str, Any] = {"code": rec.code}
        if rec.msg is not None:
            envelope["msg"] = rec.msg
        if rec.code == "0" or data is not None:  # recorded error envelopes often carry no data
            envelope["data"] = data
        return Response(200, _json_body(envelope))

    def _send(self, h: _Handler, resp: Response, shown: str, note: str = "", head_only: bool = False) -> None:
        # Logged first: once the body is out, the client (a test) may already be reading the log.
        self._access(h, shown, resp.status, note)
        try:
            h.send_response(resp.status)
            ctype = resp.content_type + ("; charset=utf-8" if "charset" not in resp.content_type else "")
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(resp.body)))
            h.send_header("API-KEY-MAX-LIMIT", str(self.rate.max_reported))
            h.send_header("API-KEY-USE-LIMIT", str(self.rate.used()))
            for name, value in resp.headers.items():
                h.send_header(name, value)
            h.end_headers()
            if not head_only:
                h.wfile.write(resp.body)
            h.wfile.flush()
        except (ConnectionError, TimeoutError):
            h.close_connection = True  # the client gave up first (e.g. its read timeout)

    def _access(self, h: _Handler, shown: str, status: int | None, note: str = "") -> None:
        if self.quiet:
            return
        stamp = self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        extra = f" [{note}]" if note else ""
        print(f"{stamp} {h.command} {shown} -> {status or 'no response'}{extra}", file=sys.stderr, flush=True)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _int_param(
    params: Mapping[str, str], name: str, lo: int | None = None, hi: int | None = None
) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name} must be between {lo} and {hi}, got {value}")
    return value
