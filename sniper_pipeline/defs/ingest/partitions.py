from __future__ import annotations

import dagster as dg

from sniper_pipeline.runtime import Runtime


def coin_partitions(runtime: Runtime) -> dg.StaticPartitionsDefinition:
    """One partition per coin with data: a failed check stops that coin only."""
    return dg.StaticPartitionsDefinition(runtime.partition_keys)
