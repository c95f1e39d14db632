"""The rate limiter shared through Redis (Celery workers on several hosts): one bucket for every
instance on the same key, a pause reaching every sharer, two processes drawing from one budget,
and a holder that died inside a transaction blocking the others only until its lock expires."""

from __future__ import annotations

import itertools
import multiprocessing
import time
from typing import Any

import pytest

from sniper_pipeline.coinglass.ratelimit import RedisRateLimiter
from sniper_pipeline_tests.coinglass.support import RecordingSleeper

pytestmark = pytest.mark.redis


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_instances_on_one_key_share_one_bucket(redis_url: str) -> None:
    clock, sleeper = FakeTime(), RecordingSleeper()
    a = RedisRateLimiter(redis_url, 60, burst=1, clock=clock, sleeper=sleeper)
    b = RedisRateLimiter(redis_url, 60, burst=1, clock=clock, sleeper=sleeper)
    step = 1.0 / a.snapshot().rate
    assert [a.acquire(), b.acquire(), a.acquire()] == [0.0, pytest.approx(step), pytest.approx(2 * step)]
    b.observe(used=10, max_=30)
    assert a.snapshot().server_max == 30
    # Another key is another budget (another API key).
    other = RedisRateLimiter(redis_url, 60, burst=1, key="other", clock=clock, sleeper=sleeper)
    assert other.acquire() == 0.0


def test_a_pause_reaches_every_sharer(redis_url: str) -> None:
    clock = FakeTime()
    a = RedisRateLimiter(redis_url, 600, clock=clock, sleeper=RecordingSleeper())
    b = RedisRateLimiter(redis_url, 600, clock=clock, sleeper=RecordingSleeper())
    a.pause(5.0)
    assert b.acquire() == pytest.approx(5.0 + 1.0 / b.snapshot().rate)


def test_another_plan_starts_a_fresh_bucket(redis_url: str) -> None:
    old = RedisRateLimiter(redis_url, 30, burst=1, sleeper=RecordingSleeper())
    old.pause(60.0)
    new = RedisRateLimiter(redis_url, 1200, sleeper=RecordingSleeper())
    assert new.acquire() == 0.0


def _child(url: str, n: int, queue: Any) -> None:
    # One request per ~12.6 s on the Redis server's clock: real time barely moves meanwhile.
    # Each reservation as a moment on the Redis clock, so a child that starts late (a loaded
    # machine) still lines up with the other's.
    lim = RedisRateLimiter(url, 6, burst=1, sleeper=RecordingSleeper())
    for _ in range(n):
        wait = lim.acquire()
        queue.put(lim._server_time() + wait)


def test_two_processes_draw_from_one_budget(redis_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(redis_url, 5, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    moments = sorted(queue.get(timeout=5) for _ in range(10))
    step = 1.0 / RedisRateLimiter(redis_url, 6, burst=1, key="fresh").snapshot().rate
    # One bucket: the ten reservations queue one step apart; two buckets would pair them up.
    gaps = [later - earlier for earlier, later in itertools.pairwise(moments)]
    assert gaps == pytest.approx([step] * 9, abs=0.5)


def test_a_dead_holder_blocks_the_others_until_its_lock_expires(redis_url: str) -> None:
    lim = RedisRateLimiter(redis_url, 600, lock_timeout_s=1.0, sleeper=RecordingSleeper())
    # What a process killed inside `_transaction` leaves behind: the lock, never released.
    assert lim.redis.lock(f"{lim.key}:lock", timeout=1.0).acquire(blocking=False)
    started = time.monotonic()
    assert lim.acquire() == 0.0
    assert 0.5 < time.monotonic() - started < 5
