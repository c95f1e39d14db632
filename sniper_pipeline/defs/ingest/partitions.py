"""Coin partitions. A scan is one run over a range of coins (single-run backfill policy): every
coin-partitioned step reads `context.partition_keys`, so dbt and the engine run once per scan."""

from __future__ import annotations

import dagster as dg

from sniper_pipeline.ingest.runtime import Runtime

# Dagster's run tags for a partition range (what a single-run backfill sets).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

SCAN_BACKFILL_POLICY = dg.BackfillPolicy.single_run()


def coin_partitions(runtime: Runtime) -> dg.StaticPartitionsDefinition:
    """One partition per coin with data: backfills, per-coin status and metadata in the UI."""
    return dg.StaticPartitionsDefinition(runtime.partition_keys)


def coin_ranges(all_coins: list[str], due: list[str], max_coins: int | None = None) -> list[tuple[str, str]]:
    """The due coins as contiguous ranges of the partition order: one run per range (usually
    one, as coins sharing a grid interval are due together). With `max_coins` (the Celery
    executor) a range holds at most that many coins: several runs at once, whose steps the
    workers share."""
    wanted = set(due)
    ranges: list[tuple[str, str]] = []
    start: str | None = None
    previous: str | None = None
    size = 0
    for coin in all_coins:
        if coin in wanted:
            if start is not None and previous is not None and max_coins and size >= max_coins:
                ranges.append((start, previous))
                start, size = None, 0
            start = start or coin
            previous = coin
            size += 1
        elif start is not None and previous is not None:
            ranges.append((start, previous))
            start, size = None, 0
    if start is not None and previous is not None:
        ranges.append((start, previous))
    return ranges


def range_tags(start: str, end: str) -> dict[str, str]:
    return {RANGE_START_TAG: start, RANGE_END_TAG: end}
