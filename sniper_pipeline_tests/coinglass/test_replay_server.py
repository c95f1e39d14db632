"""The replay server over real HTTP: contract, errors, paging, clock and rate limit."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from sniper_pipeline.replay.server import UNLIMITED_REPORTED, ReplayServer
from sniper_pipeline_tests.coinglass.conftest import TEST_KEY, ReplayFactory

OI = "/api/futures/open-interest/aggregated-history"
OI_BTC = {"symbol": "BTC", "interval": "4h"}
ETF = "/api/etf/bitcoin/flow-history"
KEY = {"CG-API-KEY": TEST_KEY}


def get(
    server: ReplayServer, path: str, params: dict[str, Any] | None = None, key: str | None = TEST_KEY
) -> requests.Response:
    headers = {"Accept": "application/json", **({"CG-API-KEY": key} if key is not None else {})}
    return requests.get(server.base_url + path, params=params, headers=headers, timeout=10)


def recorded(data_dir: Path, endpoint: str, params: dict[str, str]) -> list[dict[str, Any]]:
    manifest = json.loads((data_dir / "manifest.json").read_text())
    entry = next(e for e in manifest["files"] if e["endpoint"] == endpoint and e["params"] == params)
    rows: list[dict[str, Any]] = json.loads((data_dir / entry["file"]).read_text())["data"]
    return rows


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def test_plain_request_answers_the_v4_envelope(replay_server: ReplayServer, sample_data_dir: Path) -> None:
    r = get(replay_server, OI, OI_BTC)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert (body["code"], body["msg"]) == ("0", "success")
    rows = recorded(sample_data_dir, OI, OI_BTC)
    assert body["data"] == rows[-1000:]  # default limit 1000, values exactly as recorded
    assert int(r.headers["API-KEY-MAX-LIMIT"]) == UNLIMITED_REPORTED
    assert int(r.headers["API-KEY-USE-LIMIT"]) >= 1
    assert abs(parsedate_to_datetime(r.headers["Date"]) - datetime.now(UTC)) < timedelta(seconds=5)


def test_snapshots_come_back_whole(replay_server: ReplayServer, sample_data_dir: Path) -> None:
    params = {"symbol": "BTC", "range": "4h"}
    r = get(replay_server, "/api/futures/liquidation/exchange-list", {**params, "limit": 2})
    assert r.json()["data"] == recorded(sample_data_dir, "/api/futures/liquidation/exchange-list", params)


def test_paging_with_end_time_walks_back_through_the_whole_series(
    replay_server: ReplayServer, sample_data_dir: Path
) -> None:
    rows = recorded(sample_data_dir, OI, OI_BTC)
    got: list[dict[str, Any]] = []
    end: int | None = None
    while True:
        page = get(replay_server, OI, {**OI_BTC, "limit": 1000, **({"end_time": end} if end else {})}).json()
        got = page["data"] + got
        if len(page["data"]) < 1000:
            break
        end = page["data"][0]["time"] - 1
    assert got == rows and len(rows) > 1000


def test_start_time_and_window(replay_server: ReplayServer, sample_data_dir: Path) -> None:
    times = [r["time"] for r in recorded(sample_data_dir, OI, OI_BTC)]
    first = get(replay_server, OI, {**OI_BTC, "start_time": times[100] - 1, "limit": 3}).json()["data"]
    assert [r["time"] for r in first] == times[100:103]
    window = get(replay_server, OI, {**OI_BTC, "start_time": times[5], "end_time": times[9]}).json()["data"]
    assert [r["time"] for r in window] == times[5:10]


def test_symbol_alias_and_param_order(replay_server: ReplayServer) -> None:
    url = replay_server.base_url + "/api/futures/funding-rate/history"
    a = requests.get(url + "?interval=8h&symbol=BTCUSDT&exchange=Bitget&limit=2", headers=KEY, timeout=10)
    b = requests.get(
        url + "?exchange=Bitget&limit=2&symbol=BTCUSDT_UMCBL&interval=8h", headers=KEY, timeout=10
    )
    assert a.status_code == b.status_code == 200
    assert a.json() == b.json() and len(a.json()["data"]) == 2


@pytest.mark.parametrize("key", [None, ""])
def test_missing_key_is_401(replay_server: ReplayServer, key: str | None) -> None:
    r = get(replay_server, OI, OI_BTC, key=key)
    assert r.status_code == 401
    assert r.json()["code"] == "401"
    assert "API-KEY-MAX-LIMIT" in r.headers and "Date" in r.headers


def test_any_non_empty_key_is_accepted(replay_server: ReplayServer) -> None:
    assert get(replay_server, OI, OI_BTC, key="x").status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "status", "needle"),
    [
        (OI, {"symbol": "NOSUCHCOIN", "interval": "4h"}, 404, "NOSUCHCOIN"),
        ("/api/futures/no-such-endpoint", {"symbol": "BTC"}, 404, "unknown endpoint"),
        ("/", None, 404, "unknown endpoint"),
        (OI, {"symbol": "BTC", "interval": "1h"}, 400, "interval=4h"),
        (OI, {"symbol": "BTC"}, 400, "recorded"),
        (ETF, {"symbol": "BTC"}, 400, "(no params)"),
        (OI, {**OI_BTC, "limit": "abc"}, 400, "limit"),
        (OI, {**OI_BTC, "limit": 1001}, 400, "limit"),
        (OI, {**OI_BTC, "limit": 0}, 400, "limit"),
        (OI, {**OI_BTC, "end_time": "yesterday"}, 400, "end_time"),
        (OI, {**OI_BTC, "start_time": "1.5"}, 400, "start_time"),
    ],
)
def test_error_answers(
    replay_server: ReplayServer, path: str, params: dict[str, Any] | None, status: int, needle: str
) -> None:
    r = get(replay_server, path, params)
    assert r.status_code == status
    body = r.json()
    assert body["code"] == str(status)
    assert needle in body["msg"]
    assert "data" not in body


def test_repeated_param_is_400(replay_server: ReplayServer) -> None:
    url = replay_server.base_url + OI + "?symbol=BTC&symbol=ETH&interval=4h"
    assert requests.get(url, headers=KEY, timeout=10).status_code == 400


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
def test_methods_other_than_get_are_405(replay_server: ReplayServer, method: str) -> None:
    r = requests.request(method, replay_server.base_url + OI, params=OI_BTC, headers=KEY, timeout=10)
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET"
    if method != "HEAD":
        assert r.json()["code"] == "405"


def test_empty_recording_answers_an_empty_list(replay_server: ReplayServer) -> None:
    r = get(replay_server, "/api/futures/funding-rate/history", {"exchange": "CME", "symbol": "BTCUSDT"})
    assert (r.status_code, r.json()["data"]) == (200, [])


def test_request_log_counts_requests_and_drops_the_key(replay_factory: ReplayFactory) -> None:
    server = replay_factory()
    get(server, OI, {**OI_BTC, "limit": 5})
    get(server, OI, {**OI_BTC, "cg-api-key": "secret-in-query"})
    get(server, "/nope", key=None)
    assert server.request_log == [
        (OI, {"symbol": "BTC", "interval": "4h", "limit": "5"}),
        (OI, {"symbol": "BTC", "interval": "4h"}),
        ("/nope", {}),
    ]
    server.clear_request_log()
    assert server.request_log == []


def test_access_log_is_quiet_by_default_and_never_shows_the_key(
    replay_factory: ReplayFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet = replay_factory()
    get(quiet, OI, OI_BTC, key="secret-key-1")
    assert capsys.readouterr().err == ""
    loud = replay_factory(quiet=False)
    get(loud, OI, {**OI_BTC, "limit": 1, "cg-api-key": "secret-key-2"}, key="secret-key-2")
    err = capsys.readouterr().err
    assert "GET " + OI in err and "-> 200" in err
    assert "secret-key" not in err


def test_date_header_follows_the_simulated_clock(replay_factory: ReplayFactory) -> None:
    start = datetime(2025, 5, 10, tzinfo=UTC)
    frozen = replay_factory(now=start, speed=0)
    assert get(frozen, OI, OI_BTC).headers["Date"] == "Sat, 10 May 2025 00:00:00 GMT"
    fast = replay_factory(now=start, speed=3600)
    d1 = parsedate_to_datetime(get(fast, OI, OI_BTC).headers["Date"])
    time.sleep(0.5)
    d2 = parsedate_to_datetime(get(fast, OI, OI_BTC).headers["Date"])
    assert d1 >= start
    assert timedelta(minutes=25) < d2 - d1 < timedelta(minutes=40)  # 0.5 s x 3600


def test_rows_after_now_are_hidden(replay_factory: ReplayFactory, sample_data_dir: Path) -> None:
    now = datetime(2025, 5, 10, 2, 0, tzinfo=UTC)
    server = replay_factory(now=now, speed=0)
    rows = get(server, OI, OI_BTC).json()["data"]
    assert rows[-1]["time"] == ms(datetime(2025, 5, 10, tzinfo=UTC))  # the 00:00 bar is open at 02:00
    expected = [r for r in recorded(sample_data_dir, OI, OI_BTC) if r["time"] <= ms(now)][-1000:]
    assert rows == expected
    later = get(server, OI, {**OI_BTC, "start_time": ms(now)}).json()["data"]
    assert later == []
    etf = get(server, ETF).json()["data"]
    assert etf[-1]["timestamp"] <= ms(now)
    # a bar opening exactly at the simulated time is already there
    on_bar = replay_factory(now=datetime(2025, 5, 10, 4, 0, tzinfo=UTC), speed=0)
    assert get(on_bar, OI, {**OI_BTC, "limit": 1}).json()["data"][0]["time"] == ms(on_bar.clock.now())


def test_rate_limit_429_with_retry_after_then_recovers(replay_factory: ReplayFactory) -> None:
    server = replay_factory(rate_limit=3, rate_window_s=1.0)
    uses = []
    for _ in range(3):
        r = get(server, OI, {**OI_BTC, "limit": 1})
        assert r.status_code == 200
        assert r.headers["API-KEY-MAX-LIMIT"] == "3"
        uses.append(r.headers["API-KEY-USE-LIMIT"])
    assert uses == ["1", "2", "3"]
    r = get(server, OI, {**OI_BTC, "limit": 1})
    assert r.status_code == 429
    assert r.json()["code"] == "429"
    assert r.headers["Retry-After"] == "1"
    assert r.headers["API-KEY-USE-LIMIT"] == "3"
    time.sleep(1.05)
    r = get(server, OI, {**OI_BTC, "limit": 1})
    assert (r.status_code, r.headers["API-KEY-USE-LIMIT"]) == (200, "1")


def test_retry_after_counts_whole_seconds_to_the_window_end(replay_factory: ReplayFactory) -> None:
    server = replay_factory(rate_limit=1, rate_window_s=30.0)
    assert get(server, OI, OI_BTC).status_code == 200
    r = get(server, OI, OI_BTC)
    assert r.status_code == 429 and 29 <= int(r.headers["Retry-After"]) <= 30


def test_rate_limit_is_thread_safe(replay_factory: ReplayFactory) -> None:
    server = replay_factory(rate_limit=10, rate_window_s=60.0)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: get(server, OI, {**OI_BTC, "limit": 1}).status_code, range(25)))
    assert statuses.count(200) == 10 and statuses.count(429) == 15


def test_requests_without_key_do_not_use_the_quota(replay_factory: ReplayFactory) -> None:
    server = replay_factory(rate_limit=2, rate_window_s=60.0)
    for _ in range(3):
        assert get(server, OI, OI_BTC, key=None).status_code == 401
    assert [get(server, OI, OI_BTC).status_code for _ in range(3)] == [200, 200, 429]


def test_stop_closes_kept_alive_connections(replay_factory: ReplayFactory) -> None:
    server = replay_factory()
    with requests.Session() as session:
        url = server.base_url + OI
        assert session.get(url, params=OI_BTC, headers=KEY, timeout=5).status_code == 200
        server.stop()
        with pytest.raises(requests.ConnectionError):
            session.get(url, params=OI_BTC, headers=KEY, timeout=5)


def test_synthetic_folder_is_served(replay_factory: ReplayFactory) -> None:
    from sniper_pipeline_tests.coinglass.conftest import SYNTHETIC_DRIFT_DIR, SYNTHETIC_ENDPOINTS_DIR

    endpoints = replay_factory(SYNTHETIC_ENDPOINTS_DIR)
    assert "BTC" in get(endpoints, "/api/futures/supported-coins").json()["data"]
    orders = get(
        endpoints,
        "/api/futures/liquidation/order",
        {"exchange": "Binance", "symbol": "BTC", "min_liquidation_amount": "10000"},
    ).json()["data"]
    assert [o["time"] for o in orders] == sorted(o["time"] for o in orders)  # recorded newest first
    drift = replay_factory(SYNTHETIC_DRIFT_DIR)
    liq = get(
        drift,
        "/api/futures/liquidation/aggregated-history",
        {"symbol": "BTC", "exchange_list": "Binance", "interval": "4h"},
    )
    times = [r["time"] for r in liq.json()["data"]]
    assert times == sorted(times) and len(times) - len(set(times)) == 3
