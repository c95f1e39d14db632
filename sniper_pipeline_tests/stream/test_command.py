"""`stream_command` / `stream_serve_command` (the lead wires them into `sniper stream`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sniper_pipeline.commands import stream as stream_cmd
from sniper_pipeline.commands.stream import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    coin_symbols,
    default_exchanges,
    stream_command,
    stream_serve_command,
)
from sniper_pipeline.stream.replay_ws import ReplayWsServer
from sniper_pipeline.stream.store import make_store_engine
from sniper_pipeline_tests.stream.conftest import DISTINCT_KEPT, FIXTURE, SECRET
from sniper_pipeline_tests.stream.support import count_orders, read_orders


@pytest.fixture
def stream_env(project_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SNIPER_STREAM_URL", raising=False)
    monkeypatch.delenv("CG_API_KEY", raising=False)
    return project_env / "data" / "stream.sqlite"  # the default store under SNIPER_DATA_DIR


def _stored(path: Path) -> int:
    engine = make_store_engine(f"sqlite:///{path}")
    try:
        return count_orders(engine)
    finally:
        engine.dispose()


def test_defaults_come_from_the_config() -> None:
    assert default_exchanges() == ["OKX", "Binance", "Bybit"]
    assert "POL" in coin_symbols(["matic"]) and "MATIC" in coin_symbols(["MATIC"])
    assert coin_symbols(["PEPE"]) == ["PEPE"]  # not configured: taken as a symbol
    assert {"BTC", "ETH", "POL", "XRP"} <= set(coin_symbols(None))


def test_streams_a_replay_server_into_the_default_store(
    stream_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ReplayWsServer(FIXTURE) as server:
        code = stream_command(live=False, url=server.url, coins=None, exchanges=None, max_seconds=1.0)
    assert code == EXIT_OK
    assert _stored(stream_env) == DISTINCT_KEPT  # default exchanges OKX, Binance, Bybit
    out = capsys.readouterr().out
    assert "exchanges: OKX, Binance, Bybit" in out and "11 new in the store" in out
    assert "cg-api-key=***" in out


def test_coins_and_exchanges_narrow_the_stream(stream_env: Path) -> None:
    with ReplayWsServer(FIXTURE) as server:
        code = stream_command(
            live=False, url=server.url, coins=["MATIC", "ETH"], exchanges=["Binance"], max_seconds=1.0
        )
    assert code == EXIT_OK
    engine = make_store_engine(f"sqlite:///{stream_env}")
    assert {(o.base_asset, o.exchange) for o in read_orders(engine)} == {
        ("POL", "Binance"),
        ("ETH", "Binance"),
    }
    engine.dispose()


def test_live_takes_the_key_from_the_environment(
    stream_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CG_API_KEY", SECRET)
    with ReplayWsServer(FIXTURE, accept_keys={SECRET}) as server:
        # The real URL builder, pointed at the local server instead of open-ws.coinglass.com.
        monkeypatch.setattr(stream_cmd, "websocket_url", server.url_with_key)
        code = stream_command(live=True, url=None, coins=None, exchanges=None, max_seconds=1.0)
    assert code == EXIT_OK and server.rejected == 0
    assert _stored(stream_env) == DISTINCT_KEPT
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err


def test_a_refused_key_exits_1_without_showing_it(
    stream_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ReplayWsServer(FIXTURE, accept_keys={"another"}) as server:
        code = stream_command(
            live=False, url=server.url_with_key(SECRET), coins=None, exchanges=None, max_seconds=5
        )
    assert code == EXIT_FAILED
    captured = capsys.readouterr()
    assert "refused the API key (HTTP 401)" in captured.err
    assert SECRET not in captured.out + captured.err


@pytest.mark.parametrize(
    ("live", "url", "message"),
    [
        (False, None, "give --live, or --url"),
        (True, None, "--live needs CG_API_KEY"),
        (True, "ws://127.0.0.1:1/ws-api", "exclude each other"),
        (False, "http://127.0.0.1:1/ws-api", "expected ws:// or wss://"),
        (False, "wss://stream.example.com/ws-api", "needs CG_API_KEY"),
    ],
)
def test_usage_errors_exit_2(
    stream_env: Path, capsys: pytest.CaptureFixture[str], live: bool, url: str | None, message: str
) -> None:
    assert stream_command(live=live, url=url, coins=None, exchanges=None, max_seconds=0.1) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_a_duckdb_store_url_is_a_usage_error(
    stream_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SNIPER_STREAM_URL", "duckdb:///data/sniper.duckdb")
    code = stream_command(
        live=False, url="ws://127.0.0.1:1/ws-api", coins=None, exchanges=None, max_seconds=0.1
    )
    assert code == EXIT_USAGE and "cannot be DuckDB" in capsys.readouterr().err


def test_serve_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert stream_serve_command(FIXTURE, 0, max_seconds=0.1) == EXIT_OK
    out = capsys.readouterr().out
    assert "replay stream of 7 pushes" in out and "ws://127.0.0.1:" in out
    assert stream_serve_command(tmp_path / "missing.jsonl", 0) == EXIT_USAGE
