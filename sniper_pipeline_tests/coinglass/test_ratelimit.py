"""Token bucket: waits asked for (never wall time), adaptation to the API-KEY-* headers, and the
file-backed bucket shared by two processes."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from sniper_pipeline.coinglass import endpoints as ep
from sniper_pipeline.coinglass.client import CoinGlassClient
from sniper_pipeline.coinglass.ratelimit import FileRateLimiter, RateLimiter
from sniper_pipeline.coinglass.transport import RecordingSleeper
from sniper_pipeline_tests.coinglass.conftest import TEST_KEY, ReplayFactory


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def limiter(rpm: float, burst: float | None = None) -> tuple[RateLimiter, FakeTime, RecordingSleeper]:
    clock, sleeper = FakeTime(), RecordingSleeper()
    return RateLimiter(rpm, burst=burst, clock=clock, sleeper=sleeper), clock, sleeper


def test_burst_then_one_token_per_interval() -> None:
    lim, clock, sleeper = limiter(60, burst=2)  # 1 request per second on average
    waits = [lim.acquire() for _ in range(4)]
    assert waits == [0.0, 0.0, pytest.approx(1.0), pytest.approx(2.0)]  # reservations queue up
    assert sleeper.delays == [pytest.approx(1.0), pytest.approx(2.0)]
    clock.t += 10  # debt repaid and bucket refilled, but never above the burst
    assert [lim.acquire() for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]


def test_default_burst_is_a_sixth_of_a_minute() -> None:
    lim, _, _ = limiter(30)
    assert lim.params.burst == 5
    assert limiter(3)[0].params.burst == 1


def test_slows_down_near_the_servers_limit() -> None:
    lim, _, _ = limiter(60, burst=10)
    lim.observe(used=55, max_=60)  # above 80 % of the server's max
    state = lim.snapshot()
    assert state.tokens == 5 and state.rate == pytest.approx(0.5)  # only what is left, at half speed
    waits = [lim.acquire() for _ in range(6)]
    assert waits[:5] == [0.0] * 5 and waits[5] == pytest.approx(2.0)


def test_exhausted_server_budget_means_waiting() -> None:
    lim, _, sleeper = limiter(60, burst=10)
    lim.observe(used=60, max_=60)
    assert lim.acquire() == pytest.approx(2.0)
    assert sleeper.delays == [pytest.approx(2.0)]


def test_recovers_when_usage_drops() -> None:
    lim, _, _ = limiter(60, burst=10)
    lim.observe(used=59, max_=60)
    lim.observe(used=3, max_=60)
    assert lim.snapshot().rate == pytest.approx(1.0)


def test_server_max_below_configured_rate_wins() -> None:
    lim, _, _ = limiter(600)
    lim.observe(used=1, max_=30)
    state = lim.snapshot()
    assert state.rate == pytest.approx(0.5) and state.server_max == 30 and state.server_used == 1


def test_missing_headers_change_nothing() -> None:
    lim, _, _ = limiter(60, burst=2)
    before = lim.snapshot()
    lim.observe(None, None)
    lim.observe(5, None)
    after = lim.snapshot()
    assert (before.tokens, before.rate) == (after.tokens, after.rate)


def test_invalid_settings() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0)
    with pytest.raises(ValueError):
        RateLimiter(60, high_water=1.5)


def test_repr_names_the_rate() -> None:
    assert repr(RateLimiter(120)) == "RateLimiter(requests_per_minute=120)"


def test_client_acquires_per_request_and_observes_headers(replay_factory: ReplayFactory) -> None:
    server = replay_factory(rate_limit=50)
    lim, _, _ = limiter(600, burst=100)
    client = CoinGlassClient(server.base_url, TEST_KEY, rate_limiter=lim, sleeper=RecordingSleeper())
    for _ in range(3):
        ep.pairs_markets(client, "BTC")
    state = lim.snapshot()
    assert state.tokens == pytest.approx(97)  # one token per request, clock frozen
    assert (state.server_used, state.server_max) == (3, 50)
    assert (client.rate_limit_used, client.rate_limit_max) == (3, 50)


def test_client_takes_a_token_for_each_retry(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="500:2")
    lim, _, _ = limiter(600, burst=100)
    client = CoinGlassClient(server.base_url, TEST_KEY, rate_limiter=lim, sleeper=RecordingSleeper())
    ep.pairs_markets(client, "BTC")
    assert len(server.request_log) == 3
    assert lim.snapshot().tokens == pytest.approx(97)


# -- shared across processes ------------------------------------------------------------------------


def test_file_limiter_instances_share_one_bucket(tmp_path: Path) -> None:
    clock, sleeper = FakeTime(), RecordingSleeper()
    a = FileRateLimiter(tmp_path / "bucket.json", 60, burst=1, clock=clock, sleeper=sleeper)
    b = FileRateLimiter(tmp_path / "bucket.json", 60, burst=1, clock=clock, sleeper=sleeper)
    assert [a.acquire(), b.acquire(), a.acquire()] == [0.0, pytest.approx(1.0), pytest.approx(2.0)]
    b.observe(used=10, max_=30)
    assert a.snapshot().server_max == 30


def test_file_limiter_survives_a_damaged_state_file(tmp_path: Path) -> None:
    path = tmp_path / "bucket.json"
    path.write_text("{not json")
    lim = FileRateLimiter(path, 60, burst=1, sleeper=RecordingSleeper())
    assert lim.acquire() == 0.0


def _child(path: str, n: int, queue: Any) -> None:
    sleeper = RecordingSleeper()
    lim = FileRateLimiter(path, 6, burst=1, sleeper=sleeper)  # one request per 10 s: real time barely moves
    for _ in range(n):
        queue.put(lim.acquire())


def test_two_processes_draw_from_one_budget(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    path = str(tmp_path / "shared-bucket.json")
    procs = [ctx.Process(target=_child, args=(path, 5, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=20)
        assert p.exitcode == 0
    waits = sorted(queue.get(timeout=5) for _ in range(10))
    # One bucket: the ten reservations queue one after another (0, 10, 20, ... 90 s).
    # Two separate buckets would each have answered 0, 10, 20, 30, 40.
    assert waits == pytest.approx([10.0 * i for i in range(10)], abs=0.5)
