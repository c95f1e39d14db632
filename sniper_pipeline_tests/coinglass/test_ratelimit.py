"""Token bucket: waits asked for (never wall time), adaptation to the API-KEY-* headers, and the
file-backed bucket shared by two processes."""

from __future__ import annotations

import bisect
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sniper_pipeline.coinglass import endpoints as ep
from sniper_pipeline.coinglass.client import CoinGlassClient
from sniper_pipeline.coinglass.ratelimit import SAFETY, FileRateLimiter, RateLimiter
from sniper_pipeline_tests.coinglass.conftest import TEST_KEY, ReplayFactory
from sniper_pipeline_tests.coinglass.support import RecordingSleeper


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def limiter(rpm: float, burst: float | None = None) -> tuple[RateLimiter, FakeTime, RecordingSleeper]:
    clock, sleeper = FakeTime(), RecordingSleeper()
    return RateLimiter(rpm, burst=burst, clock=clock, sleeper=sleeper), clock, sleeper


def interval(lim: RateLimiter) -> float:
    """Seconds between two tokens at the limiter's current rate."""
    return 1.0 / lim.snapshot().rate


def test_burst_then_one_token_per_interval() -> None:
    lim, clock, sleeper = limiter(60, burst=2)
    step = interval(lim)
    waits = [lim.acquire() for _ in range(4)]
    assert waits == [0.0, 0.0, pytest.approx(step), pytest.approx(2 * step)]  # reservations queue up
    assert sleeper.delays == [pytest.approx(step), pytest.approx(2 * step)]
    clock.t += 100  # debt repaid and bucket refilled, but never above the burst
    assert [lim.acquire() for _ in range(3)] == [0.0, 0.0, pytest.approx(step)]


def test_rate_leaves_the_burst_and_a_margin_inside_the_window() -> None:
    lim, _, _ = limiter(60, burst=6)
    # burst + rate x window = 6 + (60 - 6) x SAFETY < 60: a fixed window never fills from our side.
    assert lim.snapshot().rate * 60 == pytest.approx((60 - 6) * SAFETY)


def test_default_burst_is_a_tenth_of_the_window() -> None:
    assert limiter(30)[0].params.burst == 3
    assert limiter(3)[0].params.burst == 1


def busiest_window(limit: int, window: float, gaps: list[float]) -> int:
    """Most send times (acquire time + wait) in any span of one window, callers arriving `gaps`
    (in tenths of a window) apart."""
    clock = FakeTime()
    lim = RateLimiter(limit, window_s=window, clock=clock, sleeper=RecordingSleeper())
    sent = []
    for gap in gaps:
        clock.t += gap * window / 10
        sent.append(clock.t + lim.acquire())
    sent.sort()
    return max(bisect.bisect_left(sent, t + window) - i for i, t in enumerate(sent))


@pytest.mark.parametrize("limit", [30, 80, 300, 1200])
def test_callers_all_at_once_never_fill_a_window(limit: int) -> None:
    assert limit - limit // 10 <= busiest_window(limit, 60.0, [0.0] * (3 * limit)) <= limit


@settings(max_examples=80, deadline=None)
@given(
    limit=st.integers(min_value=2, max_value=300),
    window=st.sampled_from([1.0, 6.0, 60.0]),
    gaps=st.lists(
        st.one_of(st.just(0.0), st.floats(min_value=0, max_value=3, allow_nan=False)),
        min_size=1,
        max_size=700,
    ),
)
def test_no_window_ever_sees_more_than_the_limit(limit: int, window: float, gaps: list[float]) -> None:
    """Whatever the callers' pattern, no span of one window holds more than `limit` sends:
    a server counting in fixed windows never answers 429 to us alone."""
    assert busiest_window(limit, window, gaps) <= limit


def test_slows_down_near_the_servers_limit() -> None:
    lim, _, _ = limiter(60, burst=10)
    full = lim.snapshot().rate
    lim.observe(used=55, max_=60)  # above 80 % of the server's max
    state = lim.snapshot()
    assert state.tokens == 5 and state.rate == pytest.approx(full / 2)  # only what is left, at half speed
    waits = [lim.acquire() for _ in range(6)]
    assert waits[:5] == [0.0] * 5 and waits[5] == pytest.approx(1 / state.rate)


def test_exhausted_server_budget_means_waiting() -> None:
    lim, _, sleeper = limiter(60, burst=10)
    lim.observe(used=60, max_=60)
    step = interval(lim)
    assert lim.acquire() == pytest.approx(step)
    assert sleeper.delays == [pytest.approx(step)]


def test_recovers_when_usage_drops() -> None:
    lim, _, _ = limiter(60, burst=10)
    full = lim.snapshot().rate
    lim.observe(used=59, max_=60)
    lim.observe(used=3, max_=60)
    assert lim.snapshot().rate == pytest.approx(full)


def test_server_max_below_configured_rate_wins() -> None:
    lim, _, _ = limiter(600)
    lim.observe(used=1, max_=30)
    state = lim.snapshot()
    assert state.rate == pytest.approx((30 - 3) * SAFETY / 60) and state.server_max == 30
    assert state.server_used == 1


def test_pause_holds_back_every_caller_for_the_retry_after() -> None:
    lim, clock, _ = limiter(600, burst=50)
    lim.pause(7.0)
    assert lim.acquire() == pytest.approx(7.0 + interval(lim))
    clock.t += 100
    assert lim.acquire() == 0.0  # the pause is over and the bucket refilled


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
        RateLimiter(60, window_s=0)
    with pytest.raises(ValueError):
        RateLimiter(60, high_water=1.5)


def test_repr_names_the_limit_and_window() -> None:
    assert repr(RateLimiter(120)) == "RateLimiter(limit=120 per 60 s)"


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
    step = interval(a)
    assert [a.acquire(), b.acquire(), a.acquire()] == [0.0, pytest.approx(step), pytest.approx(2 * step)]
    b.observe(used=10, max_=30)
    assert a.snapshot().server_max == 30


def test_a_pause_reaches_every_sharer(tmp_path: Path) -> None:
    clock = FakeTime()
    a = FileRateLimiter(tmp_path / "bucket.json", 600, clock=clock, sleeper=RecordingSleeper())
    b = FileRateLimiter(tmp_path / "bucket.json", 600, clock=clock, sleeper=RecordingSleeper())
    a.pause(5.0)
    assert b.acquire() == pytest.approx(5.0 + interval(b))


def test_file_limiter_with_another_limit_starts_a_fresh_bucket(tmp_path: Path) -> None:
    clock = FakeTime()
    old = FileRateLimiter(tmp_path / "bucket.json", 30, burst=1, clock=clock, sleeper=RecordingSleeper())
    old.pause(60.0)
    new = FileRateLimiter(tmp_path / "bucket.json", 1200, clock=clock, sleeper=RecordingSleeper())
    assert new.acquire() == 0.0 and new.snapshot().rate == pytest.approx(new.params.base_rate(None))


def test_file_limiter_survives_a_damaged_state_file(tmp_path: Path) -> None:
    path = tmp_path / "bucket.json"
    path.write_text("{not json")
    lim = FileRateLimiter(path, 60, burst=1, sleeper=RecordingSleeper())
    assert lim.acquire() == 0.0


def _child(path: str, n: int, queue: Any) -> None:
    sleeper = RecordingSleeper()
    # One request per ~12.6 s: real time barely moves while the reservations queue.
    lim = FileRateLimiter(path, 6, burst=1, sleeper=sleeper)
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
    step = interval(FileRateLimiter(tmp_path / "other.json", 6, burst=1))
    # One bucket: the ten reservations queue one after another (0, step, 2 step, ... 9 step).
    # Two separate buckets would each have answered 0 .. 4 step.
    assert waits == pytest.approx([step * i for i in range(10)], abs=0.5)
