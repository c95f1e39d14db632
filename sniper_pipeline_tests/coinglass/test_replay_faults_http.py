"""Each fault kind as a client sees it on the socket."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from typing import Any

import pytest
import requests

from sniper_pipeline.replay.faults import DATA_FAULTS, Fault
from sniper_pipeline.replay.server import ReplayServer
from sniper_pipeline_tests.coinglass.conftest import TEST_KEY, ReplayFactory

OI = "/api/futures/open-interest/aggregated-history"
OI_BTC: dict[str, Any] = {"symbol": "BTC", "interval": "4h", "limit": 10}
FUNDING = "/api/futures/funding-rate/oi-weight-history"
KEY = {"CG-API-KEY": TEST_KEY}


def get(server: ReplayServer, path: str = OI, timeout: float = 10, **kw: Any) -> requests.Response:
    params = kw.pop("params", OI_BTC if path == OI else {"symbol": "BTC", "interval": "4h", "limit": 10})
    return requests.get(server.base_url + path, params=params, headers=KEY, timeout=timeout, **kw)


def test_429_with_retry_after_then_normal(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="429:2", rate_limit=100)
    first, second, third = get(server), get(server), get(server)
    assert [r.status_code for r in (first, second, third)] == [429, 429, 200]
    assert first.json() == {"code": "429", "msg": first.json()["msg"]}
    assert first.headers["Retry-After"] == "1"
    assert first.headers["API-KEY-MAX-LIMIT"] == "100"
    assert third.headers["API-KEY-USE-LIMIT"] == "1"  # injected faults do not use the quota


def test_429_retry_after_argument(replay_factory: ReplayFactory) -> None:
    assert get(replay_factory(faults="429=7")).headers["Retry-After"] == "7"


def test_429_without_retry_after(replay_factory: ReplayFactory) -> None:
    r = get(replay_factory(faults="noretryafter429:1"))
    assert r.status_code == 429 and "Retry-After" not in r.headers
    assert r.json()["code"] == "429"


def test_5xx_sequence(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="500:2,503:1")
    got = [get(server) for _ in range(4)]
    assert [r.status_code for r in got] == [500, 500, 503, 200]
    assert [r.json()["code"] for r in got] == ["500", "500", "503", "0"]


def test_path_scoped_fault(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults=f"429@{OI}:1")
    assert get(server, FUNDING).status_code == 200
    assert get(server, OI).status_code == 429
    assert get(server, OI).status_code == 200


def test_401_fault_even_with_a_key(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="401:1")
    r = get(server)
    assert (r.status_code, r.json()["code"]) == (401, "401")
    assert get(server).status_code == 200


def test_timeout_beyond_the_read_timeout(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="timeout=1s:1")
    t0 = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        get(server, timeout=0.2)
    assert time.monotonic() - t0 < 0.9
    assert get(server).status_code == 200  # only one request was delayed


def test_short_timeout_is_a_slow_but_complete_answer(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="timeout=300ms:1")
    t0 = time.monotonic()
    r = get(server, timeout=5)
    assert r.status_code == 200 and len(r.json()["data"]) == 10
    assert time.monotonic() - t0 >= 0.3


def test_stop_wakes_a_sleeping_timeout(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="timeout=30s:1")
    errors: list[BaseException] = []

    def call() -> None:
        try:
            get(server, timeout=10)
        except requests.RequestException as exc:
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    server.stop()
    worker.join(timeout=5)
    assert time.monotonic() - t0 < 2
    assert not worker.is_alive() and errors


def test_reset_closes_without_response(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="reset:1")
    with requests.Session() as session:
        with pytest.raises(requests.ConnectionError):
            session.get(server.base_url + OI, params=OI_BTC, headers=KEY, timeout=5)
        # the next request gets a fresh connection and a normal answer
        assert session.get(server.base_url + OI, params=OI_BTC, headers=KEY, timeout=5).status_code == 200


def test_reset_at_the_raw_socket(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="reset:1")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(f"GET {OI}?symbol=BTC&interval=4h HTTP/1.1\r\nHost: x\r\nCG-API-KEY: k\r\n\r\n".encode())
        try:
            data = sock.recv(1024)
        except ConnectionResetError:
            data = b""
        assert data == b""  # no status line, no bytes at all


def test_truncated_body(replay_factory: ReplayFactory) -> None:
    r = get(replay_factory(faults="truncated:1"))
    assert r.status_code == 200
    assert int(r.headers["Content-Length"]) == len(r.content)
    assert r.content.startswith(b'{"code":"0"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)


@pytest.mark.parametrize(("spec", "status"), [("html:1", 502), ("html=503:1", 503)])
def test_html_error_page(replay_factory: ReplayFactory, spec: str, status: int) -> None:
    r = get(replay_factory(faults=spec))
    assert r.status_code == status
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.text.startswith("<html>") and str(status) in r.text
    with pytest.raises(ValueError):
        r.json()


@pytest.mark.parametrize(("spec", "code"), [("code:1", "50001"), ("code=40001:1", "40001")])
def test_error_code_with_http_200(replay_factory: ReplayFactory, spec: str, code: str) -> None:
    r = get(replay_factory(faults=spec))
    assert r.status_code == 200
    assert r.json()["code"] == code and "data" not in r.json()


def test_random_faults_are_reproducible_with_the_seed(replay_factory: ReplayFactory) -> None:
    def statuses(seed: int) -> list[int]:
        server = replay_factory(faults="random=0.5/500+503+429", seed=seed)
        return [get(server).status_code for _ in range(30)]

    first = statuses(7)
    assert first == statuses(7)
    assert set(first) == {200, 429, 500, 503}


def test_set_faults_restarts_counts(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="500:1")
    assert get(server).status_code == 500
    server.set_faults("503:1")
    assert [get(server).status_code for _ in range(2)] == [503, 200]
    server.set_faults(None)
    assert get(server).status_code == 200


def test_data_fault_hook_edits_the_envelope(
    replay_factory: ReplayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def drop_first(envelope: dict[str, Any], fault: Fault, rng: random.Random) -> dict[str, Any]:
        return {**envelope, "data": envelope["data"][1:]}

    monkeypatch.setitem(DATA_FAULTS, "dropfirst", drop_first)
    server = replay_factory(faults="dropfirst:1")
    assert [len(get(server).json()["data"]) for _ in range(2)] == [9, 10]


def test_faulted_requests_are_logged(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="500:2")
    for _ in range(3):
        get(server)
    assert len(server.request_log) == 3
    assert [f.describe() for _, f in server.injector.fired] == ["500", "500"]
