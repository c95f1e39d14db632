"""Retry policy: pure delay functions, the urllib3 Retry subclass, a real session on the replay server.

Delays are asserted as requested through a recording sleeper, never as wall time.
"""

from __future__ import annotations

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ReadTimeoutError
from urllib3.response import HTTPResponse

from sniper_pipeline.coinglass.transport import (
    RETRY_STATUSES,
    CoinGlassRetry,
    RetryEvent,
    RetryPolicy,
    backoff_seconds,
    build_session,
    mount_prefix,
    retry_delay,
)
from sniper_pipeline_tests.coinglass.conftest import TEST_KEY, ReplayFactory
from sniper_pipeline_tests.coinglass.support import RecordingSleeper

PAIRS = "/api/futures/pairs-markets"


def test_backoff_doubles_from_the_factor_and_caps() -> None:
    delays = [backoff_seconds(n, factor=0.5, backoff_max=3.0) for n in range(0, 6)]
    assert delays == [0.0, 0.5, 1.0, 2.0, 3.0, 3.0]


def test_backoff_jitter_is_injectable() -> None:
    assert backoff_seconds(2, factor=0.5, backoff_max=30, jitter=0.4, rand=lambda: 0.5) == pytest.approx(1.2)
    assert backoff_seconds(2, factor=0.5, backoff_max=1.1, jitter=0.4, rand=lambda: 0.99) == 1.1


def test_retry_after_wins_over_backoff() -> None:
    assert retry_delay(3, 7.0, factor=0.5, backoff_max=30) == 7.0
    assert retry_delay(3, None, factor=0.5, backoff_max=30) == 2.0
    assert retry_delay(1, 0.0, factor=0.5, backoff_max=30) == 0.0


@pytest.mark.parametrize("status", sorted(RETRY_STATUSES))
def test_should_retry_the_forcelist_on_get_only(status: int) -> None:
    retry = RetryPolicy().build()
    assert retry.is_retry("GET", status)
    assert not retry.is_retry("POST", status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 422, 200])
def test_should_not_retry_client_errors(status: int) -> None:
    assert not RetryPolicy().build().is_retry("GET", status)


def _response(status: int, retry_after: str | None = None) -> HTTPResponse:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return HTTPResponse(body=b"", headers=headers, status=status, preload_content=False)


def _retry(events: list[RetryEvent], clock: list[float], **kw: object) -> CoinGlassRetry:
    policy = RetryPolicy(backoff_jitter=0.0, **kw)  # type: ignore[arg-type]
    return policy.build(sleeper=RecordingSleeper(), monotonic=lambda: clock[0], on_retry=events.append)


def test_retry_decides_delay_in_increment_and_sleeps_it_through_the_sleeper() -> None:
    events: list[RetryEvent] = []
    clock = [100.0]
    retry = _retry(events, clock)
    r1 = retry.increment("GET", "/x", response=_response(503))
    r2 = r1.increment("GET", "/x", response=_response(429, "4"))
    r3 = r2.increment("GET", "/x", error=ReadTimeoutError(None, "/x", "read timed out"))  # type: ignore[arg-type]
    assert [e.delay for e in events] == [0.5, 4.0, 2.0]  # backoff, Retry-After, backoff (3rd failure)
    assert [e.reason for e in events] == ["status 503", "status 429", "ReadTimeoutError"]
    assert [e.attempt for e in events] == [1, 2, 3]
    assert events[1].retry_after == 4.0
    assert r3.budget_spent == pytest.approx(6.5)
    sleeper = r3.sleeper
    assert isinstance(sleeper, RecordingSleeper)
    for r in (r1, r2, r3):
        r.sleep()
    assert sleeper.delays == [0.5, 4.0, 2.0]


def test_unreadable_retry_after_falls_back_to_backoff() -> None:
    events: list[RetryEvent] = []
    _retry(events, [0.0]).increment("GET", "/x", response=_response(429, "soon"))
    assert [(e.delay, e.retry_after) for e in events] == [(0.5, None)]


def test_retry_count_is_bounded() -> None:
    events: list[RetryEvent] = []
    retry: CoinGlassRetry = _retry(events, [0.0], max_retries=2)
    retry = retry.increment("GET", "/x", response=_response(500))
    retry = retry.increment("GET", "/x", response=_response(500))
    with pytest.raises(MaxRetryError):
        retry.increment("GET", "/x", response=_response(500))
    assert len(events) == 2


def test_retry_stops_when_the_wait_would_overrun_the_time_budget() -> None:
    events: list[RetryEvent] = []
    retry = _retry(events, [0.0], max_retry_seconds=10.0)
    with pytest.raises(MaxRetryError):
        retry.increment("GET", "/x", response=_response(429, "3600"))  # an hour: give up at once
    assert events == []


def test_time_budget_counts_elapsed_time_too() -> None:
    events: list[RetryEvent] = []
    clock = [0.0]
    retry = _retry(events, clock, max_retry_seconds=10.0)
    retry = retry.increment("GET", "/x", response=_response(500))  # budget starts here
    clock[0] = 9.8  # e.g. a slow read timeout on the next attempt
    with pytest.raises(MaxRetryError):
        retry.increment("GET", "/x", response=_response(500))  # 9.8 s used + 1.0 s backoff > 10 s
    assert len(events) == 1


def test_new_keeps_the_injected_parts() -> None:
    sleeper = RecordingSleeper()
    retry = RetryPolicy().build(sleeper=sleeper)
    copy = retry.new(total=1)
    assert copy.sleeper is sleeper and copy.max_retry_seconds == 120.0 and copy.total == 1
    assert copy.allowed_methods == frozenset({"GET"})
    assert copy.respect_retry_after_header and not copy.raise_on_status


def test_mount_prefix() -> None:
    assert mount_prefix("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/"
    assert mount_prefix("https://open-api-v4.coinglass.com") == "https://open-api-v4.coinglass.com/"
    with pytest.raises(ValueError, match="absolute"):
        mount_prefix("open-api-v4.coinglass.com")


# -- the session over real sockets --------------------------------------------------------------


def _session(base_url: str, sleeper: RecordingSleeper, **kw: object) -> requests.Session:
    retry = RetryPolicy(backoff_jitter=0.0, **kw).build(sleeper=sleeper)  # type: ignore[arg-type]
    return build_session(base_url, retry)


def _get(
    session: requests.Session, base_url: str, timeout: tuple[float, float] = (2, 5)
) -> requests.Response:
    return session.get(
        base_url + PAIRS, params={"symbol": "BTC"}, headers={"CG-API-KEY": TEST_KEY}, timeout=timeout
    )


def test_session_retries_5xx_with_backoff(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="500:1,503:1")
    sleeper = RecordingSleeper()
    r = _get(_session(server.base_url, sleeper), server.base_url)
    assert r.status_code == 200
    assert len(server.request_log) == 3
    assert sleeper.delays == [0.5, 1.0]


def test_session_honours_retry_after(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="429=2:1,429=3:1")
    sleeper = RecordingSleeper()
    r = _get(_session(server.base_url, sleeper), server.base_url)
    assert r.status_code == 200 and len(server.request_log) == 3
    assert sleeper.delays == [2.0, 3.0]


def test_session_returns_the_last_response_when_retries_run_out(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="503:*")
    sleeper = RecordingSleeper()
    r = _get(_session(server.base_url, sleeper, max_retries=2), server.base_url)
    assert r.status_code == 503  # not a RetryError: the caller maps status and body
    assert len(server.request_log) == 3
    assert sleeper.delays == [0.5, 1.0]


def test_session_does_not_retry_4xx(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="400:1")
    sleeper = RecordingSleeper()
    assert _get(_session(server.base_url, sleeper), server.base_url).status_code == 400
    assert len(server.request_log) == 1 and sleeper.delays == []


def test_session_retries_resets_and_read_timeouts(replay_factory: ReplayFactory) -> None:
    server = replay_factory(faults="reset:1,timeout=2s:1")
    sleeper = RecordingSleeper()
    r = _get(_session(server.base_url, sleeper), server.base_url, timeout=(2, 0.3))
    assert r.status_code == 200
    assert len(server.request_log) == 3
    assert sleeper.delays == [0.5, 1.0]


def test_other_hosts_keep_the_default_adapter() -> None:
    session = build_session("http://127.0.0.1:9/", RetryPolicy().build())
    ours, other = (
        session.get_adapter("http://127.0.0.1:9/api"),
        session.get_adapter("http://example.invalid/"),
    )
    assert isinstance(ours, HTTPAdapter) and isinstance(ours.max_retries, CoinGlassRetry)
    assert isinstance(other, HTTPAdapter) and not isinstance(other.max_retries, CoinGlassRetry)
