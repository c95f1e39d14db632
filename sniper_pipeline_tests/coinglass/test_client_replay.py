"""CoinGlassClient against the replay server over real sockets: every endpoint, every error path,
retries (attempts and requested delays, not wall time), paging cost, drift, and key hygiene."""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from sniper_pipeline.coinglass import endpoints as ep
from sniper_pipeline.coinglass.client import CoinGlassClient
from sniper_pipeline.coinglass.errors import (
    ApiCodeError,
    AuthError,
    BadRequestError,
    CoinGlassError,
    InvalidParameterError,
    MalformedResponseError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
)
from sniper_pipeline.coinglass.parsing import UNIT_BASE_COIN, UNIT_USD
from sniper_pipeline.replay.server import ReplayServer
from sniper_pipeline_tests.coinglass.conftest import (
    SYNTHETIC_DRIFT_DIR,
    SYNTHETIC_ENDPOINTS_DIR,
    TEST_KEY,
    ReplayFactory,
)
from sniper_pipeline_tests.coinglass.support import RecordingSleeper, series_page

SECRET = "cg-live-key-7f3a9c2e41d84b6f"  # distinctive, so any leak is found by substring search
LAST_BAR = pd.Timestamp("2025-05-20T16:00:00Z")  # the sample's last 4h bar


def make_client(
    server: ReplayServer, key: str = TEST_KEY, **kw: Any
) -> tuple[CoinGlassClient, RecordingSleeper]:
    sleeper = RecordingSleeper()
    kw.setdefault("backoff_jitter", 0.0)
    return CoinGlassClient(server.base_url, key, sleeper=sleeper, **kw), sleeper


@pytest.fixture
def sample_client(replay_server: ReplayServer) -> CoinGlassClient:
    return make_client(replay_server)[0]


@pytest.fixture(scope="module")
def synthetic_server() -> Any:
    with ReplayServer(SYNTHETIC_ENDPOINTS_DIR) as server:
        yield server


@pytest.fixture
def synthetic_client(synthetic_server: ReplayServer) -> CoinGlassClient:
    return make_client(synthetic_server)[0]


# -- every endpoint -------------------------------------------------------------------------------


def test_layer_endpoints_on_the_recordings(sample_client: CoinGlassClient) -> None:
    c = sample_client
    funding = series_page(c, ep.FUNDING_HISTORY, exchange="Binance", symbol="BTCUSDT", interval="8h")
    assert len(funding) == 543 and funding.frame["close"].dtype == float
    assert (
        len(series_page(c, ep.FUNDING_OI_WEIGHT_HISTORY, symbol="BTC", interval="4h")) == 1000
    )  # the API's default limit
    oi = series_page(c, ep.OI_AGGREGATED_HISTORY, symbol="BTC", interval="4h", limit=5)
    assert len(oi) == 5 and oi.frame["ts"].iloc[-1] == LAST_BAR
    liq = series_page(
        c, ep.LIQUIDATION_AGGREGATED_HISTORY, symbol="BTC", interval="4h", exchange_list=["Binance"], limit=10
    )
    assert list(liq.frame.columns) == ["ts", "long_liquidation_usd", "short_liquidation_usd", "is_closed"]
    taker = series_page(c, ep.TAKER_AGGREGATED_HISTORY, symbol="BTC", interval="1d", exchange_list="Binance")
    assert len(taker) == 181 and taker.value_unit == UNIT_USD
    spot_taker = series_page(
        c, ep.SPOT_TAKER_AGGREGATED_HISTORY, symbol="ETH", interval="4h", exchange_list="Binance", limit=3
    )
    assert len(spot_taker) == 3
    legacy = series_page(
        c, ep.TAKER_PAIR_HISTORY_LEGACY, exchange="Binance", symbol="BTCUSDT", interval="4h", limit=50
    )
    assert legacy.value_unit == UNIT_BASE_COIN and set(legacy.frame["value_unit"]) == {UNIT_BASE_COIN}
    etf = ep.etf_bitcoin_flow_history(c)
    assert len(etf) == 354 and (~etf.frame["is_published"]).any()


def test_reference_and_price_endpoints_on_the_recordings(sample_client: CoinGlassClient) -> None:
    c = sample_client
    funding_list = ep.funding_rate_exchange_list(c)
    assert {"coin", "exchange", "margin", "interval_hours"} <= set(funding_list.frame.columns)
    by_exchange = ep.liquidation_exchange_list(c, "BTC", "4h").frame  # recorded with camelCase fields
    assert by_exchange["exchange"].iloc[0] == "All" and by_exchange["long_liquidation_usd"].notna().all()
    instruments = ep.pairs_markets(c, "BTC").frame
    assert ("Binance", "BTCUSDT") in set(
        zip(instruments["exchange"], instruments["instrument_id"], strict=True)
    )
    spot = series_page(c, ep.SPOT_PRICE_HISTORY, exchange="Binance", symbol="BTCUSDT", interval="1d")
    assert len(spot) == 181 and spot.frame["volume_usd"].notna().all()
    futures = series_page(
        c, ep.FUTURES_PRICE_HISTORY, exchange="Binance", symbol="BTCUSDT", interval="4h", limit=20
    )
    assert len(futures) == 20 and "volume_usd" in futures.frame


def test_endpoints_with_only_synthetic_fixtures(synthetic_client: CoinGlassClient) -> None:
    c = synthetic_client
    assert c.get(ep.SUPPORTED_COINS)[:4] == ["BTC", "ETH", "SOL", "XRP"]
    assert "Binance" in c.get(ep.SUPPORTED_EXCHANGES)
    pairs = ep.supported_exchange_pairs(c).frame
    assert (
        list(pairs.columns) == ["exchange", "instrument_id", "base", "quote"]
        and pairs["exchange"].nunique() == 8
    )
    assert set(ep.supported_exchange_pairs(c, "Binance").frame["exchange"]) == {"Binance"}
    v2 = series_page(c, ep.TAKER_PAIR_HISTORY, exchange="Binance", symbol="BTCUSDT", interval="4h")
    assert (
        len(v2) == 36 and v2.value_unit == UNIT_USD and v2.frame["buy_volume"].min() > 1e6
    )  # USD magnitudes
    pair_liq = series_page(
        c, ep.LIQUIDATION_PAIR_HISTORY, exchange="Binance", symbol="ETHUSDT", interval="4h"
    )
    assert len(pair_liq) == 36 and pair_liq.frame["ts"].iloc[-1] == LAST_BAR


def test_headers_sent_on_every_get(replay_factory: ReplayFactory) -> None:
    server = replay_factory()
    client, _ = make_client(server, SECRET)
    seen: list[Any] = []
    client.session.hooks["response"].append(lambda r, *a, **k: seen.append(r.request.headers))
    ep.pairs_markets(client, "BTC")
    assert seen[0]["CG-API-KEY"] == SECRET and seen[0]["Accept"] == "application/json"


def test_rate_limit_headers_are_recorded(replay_factory: ReplayFactory) -> None:
    server = replay_factory(rate_limit=30)
    client, _ = make_client(server)
    ep.pairs_markets(client, "BTC")
    response = client.request("/api/futures/pairs-markets", {"symbol": "ETH"})
    assert (client.rate_limit_used, client.rate_limit_max) == (2, 30)
    assert (response.rate_limit_used, response.rate_limit_max, response.attempts) == (2, 30, 1)
    assert response.http_status == 200 and response.code == "0" and response.latency_ms > 0


# -- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "cls"),
    [
        ("400:1", BadRequestError),
        ("401:1", AuthError),
        ("403:1", AuthError),
        ("404:1", NotFoundError),
        ("405:1", BadRequestError),
        ("422:1", BadRequestError),
    ],
)
def test_client_errors_are_mapped_and_not_retried(
    replay_factory: ReplayFactory, fault: str, cls: type[CoinGlassError]
) -> None:
    server = replay_factory(faults=fault)
    client, sleeper = make_client(server)
    with pytest.raises(cls) as info:
        ep.pairs_markets(client, "BTC")
    assert info.value.http_status == int(fault.split(":")[0])
    assert len(server.request_log) == 1 and sleeper.delays == []
    assert "/api/futures/pairs-markets" in str(info.value) and "'symbol': 'BTC'" in str(info.value)


def test_unknown_symbol_is_not_found(sample_client: CoinGlassClient) -> None:
    with pytest.raises(NotFoundError) as info:
        series_page(sample_client, ep.OI_AGGREGATED_HISTORY, symbol="NOPE", interval="4h")
    assert info.value.http_status == 404 and "NOPE" in str(info.value)


def test_unrecorded_combination_is_a_bad_request(sample_client: CoinGlassClient) -> None:
    with pytest.raises(BadRequestError) as info:
        series_page(sample_client, ep.OI_AGGREGATED_HISTORY, symbol="BTC", interval="1h")
    assert info.value.http_status == 400 and not isinstance(info.value, NotFoundError)


def test_code_not_zero_with_http_200_is_an_api_code_error(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="code=40001:1")
    client, sleeper = make_client(server)
    with pytest.raises(ApiCodeError) as info:
        ep.pairs_markets(client, "BTC")
    assert (info.value.http_status, info.value.code) == (200, "40001")
    assert len(server.request_log) == 1 and sleeper.delays == []


def test_5xx_is_retried_with_backoff_then_succeeds(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="500:1,502:1,503:1")
    client, sleeper = make_client(server)
    ep.pairs_markets(client, "BTC")
    assert len(server.request_log) == 4 and sleeper.delays == [0.5, 1.0, 2.0]
    assert client.last_response is not None and client.last_response.attempts == 4


def test_5xx_until_the_retry_count_runs_out(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="500:*")
    client, sleeper = make_client(server, max_retries=3)
    with pytest.raises(ServerError) as info:
        ep.pairs_markets(client, "BTC")
    assert len(server.request_log) == 4 and sleeper.delays == [0.5, 1.0, 2.0]
    assert info.value.attempts == 4 and "after 4 attempts" in str(info.value)


def test_retry_after_is_honoured(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="429=3:2")
    client, sleeper = make_client(server)
    ep.pairs_markets(client, "BTC")
    assert len(server.request_log) == 3 and sleeper.delays == [3.0, 3.0]
    assert client.last_response is not None
    assert [e.retry_after for e in client.last_response.retry_events] == [3.0, 3.0]


def test_429_without_retry_after_backs_off(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="noretryafter429:2")
    client, sleeper = make_client(server)
    ep.pairs_markets(client, "BTC")
    assert len(server.request_log) == 3 and sleeper.delays == [0.5, 1.0]


def test_retry_after_beyond_the_budget_fails_at_once(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="429=600:1")
    client, sleeper = make_client(server, max_retry_seconds=120)
    with pytest.raises(RateLimitError) as info:
        ep.pairs_markets(client, "BTC")
    assert info.value.retry_after == 600 and len(server.request_log) == 1 and sleeper.delays == []


def test_the_servers_own_rate_limit(replay_factory: ReplayFactory) -> None:
    server = replay_factory(rate_limit=2)
    client, sleeper = make_client(server, max_retry_seconds=10)
    ep.pairs_markets(client, "BTC")
    ep.pairs_markets(client, "ETH")
    with pytest.raises(RateLimitError) as info:
        ep.pairs_markets(client, "SOL")
    assert info.value.retry_after is not None and info.value.retry_after > 10
    assert sleeper.delays == [] and client.rate_limit_max == 2


def test_html_error_page_is_retried(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="html:1")
    client, sleeper = make_client(server)
    assert len(ep.pairs_markets(client, "BTC")) == 91
    assert len(server.request_log) == 2 and sleeper.delays == [0.5]


def test_html_error_page_until_exhausted(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="html=503:*")
    client, _ = make_client(server, max_retries=1)
    with pytest.raises(ServerError) as info:
        ep.pairs_markets(client, "BTC")
    assert "503 Service Unavailable" in info.value.body_excerpt


def test_truncated_json_is_retried_once(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="truncated:1")
    client, sleeper = make_client(server)
    assert len(ep.pairs_markets(client, "BTC")) == 91
    assert len(server.request_log) == 2 and sleeper.delays == [0.5]
    assert client.last_response is not None and client.last_response.retry_events[0].reason.startswith(
        "body:"
    )


def test_truncated_json_twice_is_malformed(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="truncated:2")
    client, _ = make_client(server)
    with pytest.raises(MalformedResponseError) as info:
        ep.pairs_markets(client, "BTC")
    assert "truncated JSON" in str(info.value) and info.value.attempts == 2
    assert "/api/futures/pairs-markets" in str(info.value)


def test_body_retries_can_be_switched_off(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="truncated:1")
    client, _ = make_client(server, body_retries=0)
    with pytest.raises(MalformedResponseError):
        ep.pairs_markets(client, "BTC")
    assert len(server.request_log) == 1


def test_read_timeout_is_retried(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="timeout=3s:1")
    client, sleeper = make_client(server, timeout=(2, 0.25))
    assert len(ep.pairs_markets(client, "BTC")) == 91
    assert len(server.request_log) == 2 and sleeper.delays == [0.5]


def test_read_timeouts_until_exhausted(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="timeout=3s:*")
    client, sleeper = make_client(server, timeout=(2, 0.2), max_retries=1)
    with pytest.raises(TransportError) as info:
        ep.pairs_markets(client, "BTC")
    assert info.value.retryable and "timeout" in str(info.value)
    assert len(server.request_log) == 2 and sleeper.delays == [0.5]


def test_connection_reset_is_retried(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="reset:2")
    client, sleeper = make_client(server)
    assert len(ep.pairs_markets(client, "BTC")) == 91
    assert len(server.request_log) == 3 and sleeper.delays == [0.5, 1.0]


def test_connection_refused_is_a_retryable_transport_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the request: nothing listens there
    sleeper = RecordingSleeper()
    client = CoinGlassClient(
        f"http://127.0.0.1:{port}", TEST_KEY, sleeper=sleeper, max_retries=2, backoff_jitter=0
    )
    with pytest.raises(TransportError) as info:
        client.get(ep.SUPPORTED_COINS)
    assert info.value.retryable and info.value.http_status is None
    assert sleeper.delays == [0.5, 1.0]


class _CutBodyHandler(socketserver.BaseRequestHandler):
    """Headers promise a longer body than is sent, then the connection closes (first `cuts` requests)."""

    calls = 0
    cuts = 1

    def handle(self) -> None:
        self.request.recv(65536)
        type(self).calls += 1
        body = b'{"code":"0","msg":"success","data":["BTC","ETH"]}'
        sent = body[:10] if type(self).calls <= type(self).cuts else body
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.request.sendall((head + "Connection: close\r\n\r\n").encode() + sent)


@pytest.mark.parametrize(("cuts", "ok"), [(1, True), (5, False)])
def test_body_cut_after_the_headers_is_retried_by_the_client(cuts: int, ok: bool) -> None:
    handler: type[_CutBodyHandler] = type("Handler", (_CutBodyHandler,), {"calls": 0, "cuts": cuts})
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler) as tcp:
        threading.Thread(target=tcp.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        sleeper = RecordingSleeper()
        client = CoinGlassClient(f"http://127.0.0.1:{tcp.server_address[1]}", SECRET, sleeper=sleeper)
        try:
            if ok:
                assert client.get(ep.SUPPORTED_COINS) == ["BTC", "ETH"]
            else:
                with pytest.raises(TransportError) as info:
                    client.get(ep.SUPPORTED_COINS)
                assert info.value.body_level and info.value.retryable and SECRET not in str(info.value)
        finally:
            tcp.shutdown()
    assert handler.calls == 2 and sleeper.delays == [0.5]


def test_client_side_validation_sends_nothing(replay_factory: ReplayFactory) -> None:
    server = replay_factory()
    client, _ = make_client(server)
    with pytest.raises(InvalidParameterError, match="1m 3m 5m"):
        ep.fetch_series(
            client,
            ep.FUNDING_HISTORY,
            {"exchange": "Binance", "symbol": "BTCUSDT", "interval": "2h"},
            since=None,
            history_days=1,
        )
    with pytest.raises(InvalidParameterError, match="exchange_list"):
        ep.fetch_series(
            client,
            ep.LIQUIDATION_AGGREGATED_HISTORY,
            {"symbol": "BTC", "interval": "4h", "exchange_list": []},
            since=None,
            history_days=1,
        )
    with pytest.raises(InvalidParameterError, match="missing"):
        ep.fetch_series(
            client,
            ep.FUNDING_HISTORY,
            {"exchange": "", "symbol": "BTCUSDT", "interval": "8h"},
            since=None,
            history_days=1,
        )
    with pytest.raises(InvalidParameterError, match="limit"):
        ep.fetch_series(
            client,
            ep.OI_AGGREGATED_HISTORY,
            {"symbol": "BTC", "interval": "4h", "limit": 5000},
            since=None,
            history_days=1,
        )
    with pytest.raises(InvalidParameterError, match="range"):
        ep.liquidation_exchange_list(client, "BTC", "2h")
    with pytest.raises(InvalidParameterError, match="unit"):
        ep.fetch_series(
            client,
            ep.OI_AGGREGATED_HISTORY,
            {"symbol": "BTC", "interval": "4h", "unit": "eur"},
            since=None,
            history_days=1,
        )
    with pytest.raises(AuthError, match="CG_API_KEY"):
        CoinGlassClient(server.base_url, "  ")
    assert server.request_log == []


# -- paging -----------------------------------------------------------------------------------------


def test_backfill_beyond_1000_bars_costs_two_requests(replay_factory: ReplayFactory) -> None:
    server = replay_factory(now=datetime(2025, 5, 21, tzinfo=UTC))
    client, _ = make_client(server)
    client.sync_clock()
    server.clear_request_log()
    got = ep.fetch_series(
        client, ep.OI_AGGREGATED_HISTORY, {"symbol": "BTC", "interval": "4h"}, since=None, history_days=365
    )
    assert len(server.request_log) == 2 == got.history.requests
    assert [p["limit"] for _, p in server.request_log] == ["1000", "1000"]
    assert len(got.parsed) == 1080 and got.parsed.frame["ts"].is_unique
    assert got.parsed.frame["ts"].iloc[-1] == LAST_BAR and got.parsed.frame["is_closed"].all()


def test_backfill_with_an_exact_horizon(replay_factory: ReplayFactory) -> None:
    server = replay_factory(now=datetime(2025, 5, 21, tzinfo=UTC))
    client, _ = make_client(server)
    params = {"symbol": "BTC", "interval": "4h", "exchange_list": ["Binance"]}
    got = ep.fetch_series(
        client,
        ep.LIQUIDATION_AGGREGATED_HISTORY,
        params,
        since=None,
        history_days=170,
        now=datetime(2025, 5, 21, tzinfo=UTC),
    )
    assert got.history.requests == 2 and got.history.reached_start
    # bars opening from now - 170 d on; the recording stops at 16:00, one bar short of now
    assert len(got.parsed) == 170 * 6 - 1


def test_incremental_scan_is_one_request(replay_factory: ReplayFactory) -> None:
    now = datetime(2025, 5, 21, tzinfo=UTC)
    server = replay_factory(now=now)
    client, _ = make_client(server)
    since = datetime(2025, 5, 20, 12, tzinfo=UTC)  # last stored closed bar
    got = ep.fetch_series(
        client,
        ep.FUNDING_OI_WEIGHT_HISTORY,
        {"symbol": "ETH", "interval": "4h"},
        since=since,
        history_days=365,
        overlap_bars=2,
        now=now,
    )
    assert len(server.request_log) == 1 and got.history.requests == 1
    assert got.parsed.frame["ts"].iloc[0] == pd.Timestamp("2025-05-20T04:00:00Z")  # 2 bars of overlap
    assert got.parsed.frame["ts"].iloc[-1] == LAST_BAR


def test_simulated_now_hides_later_bars_and_flags_the_open_one(replay_factory: ReplayFactory) -> None:
    server = replay_factory(now=datetime(2025, 5, 20, 18, tzinfo=UTC))  # inside the 16:00 bar
    client, _ = make_client(server)
    client.sync_clock()
    parsed = series_page(client, ep.OI_AGGREGATED_HISTORY, symbol="BTC", interval="4h", limit=3)
    assert parsed.frame["ts"].iloc[-1] == LAST_BAR
    assert parsed.frame["is_closed"].tolist() == [True, True, False] and parsed.open_bars == 1


# -- drift through the server ------------------------------------------------------------------------


def test_drift_folder_through_the_server() -> None:
    with ReplayServer(SYNTHETIC_DRIFT_DIR) as server:
        client, _ = make_client(server)
        liq = series_page(
            client, ep.LIQUIDATION_AGGREGATED_HISTORY, symbol="BTC", interval="4h", exchange_list="Binance"
        )
        assert liq.rows_received == 33 and liq.duplicates_dropped == 3 and len(liq) == 30
        oi = series_page(client, ep.OI_AGGREGATED_HISTORY, symbol="BTC", interval="4h")
        assert oi.frame["close"].isna().sum() == 2 and oi.frame["open"].dtype == float
        funding = series_page(
            client, ep.FUNDING_HISTORY, exchange="Gate", symbol="BTC_USDT", interval="8h"
        )  # renamed exchange
        assert len(funding) == 25 and funding.frame["close"].isna().sum() == 1
        etf = ep.etf_bitcoin_flow_history(client)
        assert etf.frame["price_usd"].isna().sum() == 2
        snake = ep.liquidation_exchange_list(client, "BTC", "4h").frame
        assert snake["exchange"].iloc[0] == "All" and snake["short_liquidation_usd"].notna().all()


def test_renamed_field_through_the_server_is_schema_drift(tmp_path: Path) -> None:
    (tmp_path / "oi.json").write_text(
        '{"code":"0","msg":"success","data":[{"time":1747699200000,"o":1,"hi":2,"lo":0,"c":1}]}'
    )
    (tmp_path / "manifest.json").write_text(
        '{"files":[{"file":"oi.json","endpoint":"/api/futures/open-interest/aggregated-history",'
        '"params":{"symbol":"BTC","interval":"4h"},"time_field":"time","synthetic":true}]}'
    )
    with ReplayServer(tmp_path) as server:
        client, _ = make_client(server)
        with pytest.raises(MalformedResponseError) as info:
            series_page(client, ep.OI_AGGREGATED_HISTORY, symbol="BTC", interval="4h")
    text = str(info.value)
    assert "'high'" in text and "'hi'" in text and ep.OI_AGGREGATED_HISTORY in text


# -- the key never leaks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        "401:1",
        "404:1",
        "422:1",
        "429=900:1",
        "500:*",
        "code:1",
        "truncated:*",
        "html=502:*",
        "timeout=3s:*",
        "reset:*",
    ],
)
def test_the_key_never_appears_in_errors(
    replay_factory: ReplayFactory, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = replay_factory(faults=fault)
    client, _ = make_client(server, SECRET, timeout=(2, 0.2), max_retries=1)
    with pytest.raises(CoinGlassError) as info:
        ep.pairs_markets(client, "BTC")
    exc = info.value
    texts = [str(exc), repr(exc), *map(repr, exc.args), repr(vars(exc)), *traceback.format_exception(exc)]
    chained = exc.__cause__ or exc.__context__
    while chained is not None:
        texts += [str(chained), repr(chained)]
        chained = chained.__cause__ or chained.__context__
    texts += [r.getMessage() for r in caplog.records]
    texts += [repr(client), str(client)]
    assert not [t for t in texts if SECRET in t]


def test_the_key_is_not_in_what_the_client_returns(replay_factory: ReplayFactory) -> None:
    server = replay_factory()
    client, _ = make_client(server, SECRET)
    response = client.request("/api/futures/pairs-markets", {"symbol": "BTC"})
    assert SECRET not in repr(response) and SECRET not in repr(client)
    assert client.api_key_masked == "***4b6f"
    assert client.redact(f"wss://x?cg-api-key={SECRET}") == "wss://x?cg-api-key=***"
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(client)


def test_requests_without_a_key_header_get_401(replay_server: ReplayServer) -> None:
    # The client never sends an empty key (see test_client_side_validation_sends_nothing);
    # this documents what the server would answer.
    r = requests.get(replay_server.base_url + ep.PAIRS_MARKETS, params={"symbol": "BTC"}, timeout=5)
    assert r.status_code == 401
