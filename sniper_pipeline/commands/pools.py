"""`python -m sniper_pipeline.commands.pools`: create every pool's limit row once, before runs go
parallel (see `defs/ops/pools.py`), for deployments that start runs without `sniper` (the
daemon's container, `dagster job execute`); `sniper serve` runs it in a child process."""

from __future__ import annotations

import dagster as dg

from sniper_pipeline.defs.ops.pools import create_pool_limits, definition_pools


def main() -> None:
    from sniper_pipeline.definitions import defs

    with dg.DagsterInstance.get() as instance:
        create_pool_limits(instance, definition_pools(defs()))


if __name__ == "__main__":
    main()
