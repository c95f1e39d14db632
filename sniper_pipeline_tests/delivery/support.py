"""Test support for delivery: a real HTTP receiver on loopback (apprise `json://` URLs post to
it; it can be slow on demand), alert event rows and outbox readers."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import Engine, select

from sniper_pipeline.warehouse.tables import alert_events, outbox
from sniper_pipeline.warehouse.upsert import upsert

# 12:30 UTC: the last closed 4h bar opened at 08:00 (closed 12:00).
NOW = datetime(2024, 5, 1, 12, 30)
LAST_BAR = datetime(2024, 5, 1, 8, 0)


@dataclass
class Received:
    path: str
    authorization: str | None
    body: dict[str, Any]
    status: int  # what the receiver answered (or was about to, if the sender died first)
    idempotency_key: str | None = None  # the Idempotency-Key header


class Receiver:
    """A loopback HTTP server recording every POST; `fail_next(n)` answers 500 to the next n;
    `hold(seconds)` makes it slow: each request is recorded on arrival, then answered only after
    `seconds` (or at `release()`), as a receiver still working when the sender dies."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._failures = 0
        self._hold_seconds = 0.0
        self._released = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with receiver._lock:
                    status = 500 if receiver._failures > 0 else 200
                    receiver._failures = max(receiver._failures - 1, 0)
                    try:
                        body = json.loads(raw or b"{}")
                    except ValueError:
                        body = {"raw": raw.decode(errors="replace")}
                    receiver.received.append(
                        Received(
                            self.path,
                            self.headers.get("Authorization"),
                            body,
                            status,
                            self.headers.get("Idempotency-Key"),
                        )
                    )
                    hold = receiver._hold_seconds
                if hold:
                    receiver._released.wait(hold)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the sender is gone (killed while we held its request)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/hook", userinfo: str = "", scheme: str = "json") -> str:
        return f"{scheme}://{userinfo}127.0.0.1:{self.port}{path}"

    def fail_next(self, n: int) -> None:
        with self._lock:
            self._failures = n

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._hold_seconds = seconds
            self._released.clear()

    def release(self) -> None:
        """Answer the held requests now; later ones are answered at once."""
        with self._lock:
            self._hold_seconds = 0.0
        self._released.set()

    def wait_for(self, n: int, timeout: float) -> bool:
        """True once `n` requests have arrived, False after `timeout` seconds without."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= n:
                    return True
            time.sleep(0.02)
        return False

    @property
    def accepted(self) -> list[dict[str, Any]]:
        """Bodies of the requests answered 200 (the messages the channel got)."""
        return [r.body for r in self.received if r.status == 200]

    @property
    def messages(self) -> list[str]:
        return [str(b.get("message", "")) for b in self.accepted]

    def close(self) -> None:
        self.release()  # a held handler thread must not outlive the test
        self._server.shutdown()
        self._server.server_close()


LAYERS = {
    "funding": {"value": 12.3, "threshold": 8.1, "level": 2, "unit": "bps_8h"},
    "liq": {"value": 45_600_000.0, "threshold": 30_100_000.0, "level": 1, "unit": "usd"},
    "taker": {"value": 0.61, "threshold": 0.72, "level": 1, "unit": "ratio"},
}


def make_event(
    coin: str = "BTC",
    event: str = "open",
    tier: str = "watch",
    *,
    direction: str = "up",
    bar_ts: datetime = LAST_BAR,
    episode_start: datetime | None = None,
    layers: dict[str, Any] | None = None,
    run_id: str | None = "run-123",
    extra: str = "",
) -> dict[str, Any]:
    """An `alert_events` row; `extra` makes otherwise equal events distinct."""
    start = episode_start or bar_ts
    episode_id = f"{coin}|{start.isoformat()}+00:00{extra}"
    return {
        "dedup_key": f"{coin}|{episode_id}|{event}|{tier}",
        "coin": coin,
        "episode_id": episode_id,
        "event": event,
        "tier": tier,
        "direction": direction,
        "bar_ts": bar_ts,
        "interval": "4h",
        "layers_json": json.dumps(LAYERS if layers is None else layers),
        "decided_at": NOW,
        "run_id": run_id,
    }


def store(engine: Engine, *events: dict[str, Any]) -> list[dict[str, Any]]:
    """Write events to alert_events (as the engine's asset does) and return them."""
    upsert(engine, alert_events, list(events))
    return list(events)


def outbox_rows(engine: Engine) -> dict[tuple[str, str], dict[str, Any]]:
    with engine.connect() as conn:
        return {
            (r["dedup_key"], r["channel"]): dict(r) for r in conn.execute(select(outbox)).mappings().all()
        }


def statuses(engine: Engine) -> dict[tuple[str, str], str]:
    return {pk: row["status"] for pk, row in outbox_rows(engine).items()}


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
