"""The replay WebSocket server on its own, with a bare websockets client: the protocol it speaks."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from sniper_pipeline.stream.replay_ws import ReplayFileError, ReplayWsServer, load_pushes
from sniper_pipeline_tests.stream.conftest import FIXTURE, SECRET


async def _status(url: str) -> int:
    try:
        async with connect(url, open_timeout=5):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def test_the_key_is_required_and_the_path_checked() -> None:
    with ReplayWsServer(FIXTURE) as server:
        assert asyncio.run(_status(server.url)) == 401
        assert asyncio.run(_status(server.url + "?cg-api-key=")) == 401
        assert asyncio.run(_status(server.url + "?cg-api-key=any")) == 101
        assert asyncio.run(_status(f"ws://127.0.0.1:{server.port}/other?cg-api-key=any")) == 404
    assert server.rejected == 2


def test_pushes_follow_the_subscription_and_ping_gets_pong() -> None:
    async def talk(url: str) -> list[str]:
        async with connect(url, open_timeout=5) as ws:
            await ws.send("ping")
            first = await asyncio.wait_for(ws.recv(), 5)  # nothing is pushed before subscribing
            await ws.send(json.dumps({"method": "subscribe", "channels": ["liquidationOrders"]}))
            got = [str(first)]
            for _ in range(7):
                got.append(str(await asyncio.wait_for(ws.recv(), 5)))
            return got

    with ReplayWsServer(FIXTURE) as server:
        got = asyncio.run(talk(server.url_with_key(SECRET)))
        assert server.all_sent.wait(5)
    assert got[0] == "pong"
    assert [json.loads(m) for m in got[1:]] == load_pushes(FIXTURE)
    assert server.pings == 1 and server.pushes_sent == 7


def test_a_drop_is_a_cut_and_the_next_connection_resumes() -> None:
    async def one_connection(url: str) -> tuple[int, str]:
        received = 0
        async with connect(url, open_timeout=5) as ws:
            await ws.send(json.dumps({"method": "subscribe", "channels": ["liquidationOrders"]}))
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
                    received += 1
            except Exception as exc:
                return received, type(exc).__name__

    with ReplayWsServer(FIXTURE, drop_after=3, resend_on_reconnect=1) as server:
        first = asyncio.run(one_connection(server.url_with_key("k")))
        second = asyncio.run(one_connection(server.url_with_key("k")))
    assert first == (3, "ConnectionClosedError") and second == (3, "ConnectionClosedError")
    assert server.pushes_sent == 6 and server.drops == 2


def test_resend_stays_below_drop_after_so_the_stream_moves_on() -> None:
    assert ReplayWsServer(FIXTURE, drop_after=1, resend_on_reconnect=5).resend_on_reconnect == 0
    assert ReplayWsServer(FIXTURE, drop_after=4, resend_on_reconnect=5).resend_on_reconnect == 3


def test_retime_moves_the_first_push_to_now() -> None:
    async def first_push(url: str) -> dict[str, object]:
        async with connect(url, open_timeout=5) as ws:
            await ws.send(json.dumps({"method": "subscribe", "channels": ["liquidationOrders"]}))
            return dict(json.loads(await asyncio.wait_for(ws.recv(), 5)))

    before = time.time() * 1000
    with ReplayWsServer(FIXTURE, retime=True) as server:
        push = asyncio.run(first_push(server.url_with_key("k")))
    rows = push["data"]
    assert isinstance(rows, list)
    assert before - 1000 <= rows[0]["time"] <= time.time() * 1000 + 1000
    assert rows[1]["time"] - rows[0]["time"] == 1751299085500 - 1751299080000  # gaps kept


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json}\n", ":1: not JSON"), ('\n{"data": []}\n', ':2: not a push object with a "channel"')],
)
def test_a_bad_file_names_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(ReplayFileError, match=message):
        load_pushes(path)
    with pytest.raises(ReplayFileError, match="no such file"):
        load_pushes(tmp_path / "missing.jsonl")
