"""Fetch many series at once: HTTP in worker threads (the shared rate limiter paces them),
results handed back to the caller's thread as they complete, so validation and writes stay in
one thread (DuckDB has one writer) and overlap the remaining requests."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_WORKERS = 8
REQUEST_SECONDS = 0.5  # a typical CoinGlass answer, for sizing the pool


def workers_for_rate(requests: int, window_s: float) -> int:
    """Threads enough to use the plan's rate when each request takes ~REQUEST_SECONDS: more
    would only queue on the limiter and bunch requests at window edges (30 or 80 a minute: 1)."""
    return max(1, min(MAX_WORKERS, math.ceil(requests / window_s * REQUEST_SECONDS)))


def fetch_concurrently(
    tasks: Iterable[T], fetch: Callable[[T], R], *, workers: int = MAX_WORKERS
) -> Iterator[tuple[T, R | None, BaseException | None]]:
    """Yield (task, result, None) or (task, None, error) in completion order; one task's error
    never stops the others."""
    task_list = list(tasks)
    if not task_list:
        return
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(task_list))), thread_name_prefix="fetch")
    futures: dict[Future[R], T] = {pool.submit(fetch, task): task for task in task_list}
    completed = False
    try:
        for future in as_completed(futures):
            task = futures[future]
            error = future.exception()
            yield (task, None, error) if error is not None else (task, future.result(), None)
        completed = True
    finally:
        # A stop (Ctrl-C, a failed write) cancels what has not started and does not wait for
        # requests in flight: their results are dropped, nothing of them is written.
        pool.shutdown(wait=completed, cancel_futures=True)
