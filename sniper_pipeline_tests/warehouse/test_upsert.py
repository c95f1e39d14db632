"""One upsert path on both warehouses: idempotent, change-aware, all or nothing."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.tables import raw_funding_intervals, raw_liquidations
from sniper_pipeline.warehouse.upsert import frame_records, upsert
from sniper_pipeline.warehouse.url import warehouse_location


def bars(n: int, start: str = "2025-01-01", closed_last: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "coin": "BTC",
            "source_key": "/api/futures/liquidation/aggregated-history?symbol=BTC",
            "interval": "4h",
            "ts": pd.date_range(start, periods=n, freq="4h", tz="UTC"),
            "long_liquidation_usd": rng.uniform(0, 1e7, n),
            "short_liquidation_usd": rng.uniform(0, 1e7, n),
            "is_closed": True,
            "ingested_at": datetime(2025, 6, 1),
        }
    )
    if not closed_last:
        frame.loc[n - 1, "is_closed"] = False
    return frame


def count(engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_upsert_is_idempotent_and_counts_changes(warehouse_url: str) -> None:
    engine = make_engine(warehouse_location(warehouse_url))
    frame = bars(1200, closed_last=False)
    first = upsert(engine, raw_liquidations, frame_records(frame, raw_liquidations))
    assert (first.new, first.updated, first.unchanged) == (1200, 0, 0)
    again = upsert(engine, raw_liquidations, frame_records(frame, raw_liquidations))
    assert (again.new, again.updated, again.unchanged) == (0, 0, 1200)
    assert count(engine, raw_liquidations) == 1200

    # The open bar closes with a new value; one more bar arrives; ingested_at alone is no change.
    frame.loc[1199, ["is_closed", "long_liquidation_usd"]] = [True, 123.456]
    frame["ingested_at"] = datetime(2025, 6, 2)
    extra = bars(1, start=str(frame["ts"].iloc[-1] + pd.Timedelta("4h")))
    third = upsert(engine, raw_liquidations, frame_records(pd.concat([frame, extra]), raw_liquidations))
    assert (third.new, third.updated) == (1, 1)
    with engine.connect() as conn:
        stored = conn.execute(
            select(raw_liquidations.c.long_liquidation_usd).where(
                raw_liquidations.c.ts == frame["ts"].iloc[-1].tz_localize(None).to_pydatetime()
            )
        ).scalar_one()
    assert stored == pytest.approx(123.456)  # a double, not a float32


def test_a_failing_write_leaves_nothing_behind(warehouse_url: str) -> None:
    engine = make_engine(warehouse_location(warehouse_url))
    good = frame_records(bars(10), raw_liquidations)
    upsert(engine, raw_liquidations, good)
    batch = frame_records(bars(700, start="2026-01-01"), raw_liquidations)
    batch[650]["coin"] = None  # a key that violates NOT NULL deep inside the batch
    with pytest.raises(Exception):  # noqa: B017 - the driver's own integrity error
        upsert(engine, raw_liquidations, batch)
    assert count(engine, raw_liquidations) == 10


def test_first_seen_is_kept_on_update(warehouse_url: str) -> None:
    engine = make_engine(warehouse_location(warehouse_url))
    row = {
        "coin": "SOL",
        "exchange": "Binance",
        "margin": "stablecoin",
        "interval_hours": 8.0,
        "first_seen_at": datetime(2025, 1, 1),
    }
    upsert(engine, raw_funding_intervals, [row])
    upsert(engine, raw_funding_intervals, [{**row, "first_seen_at": datetime(2025, 3, 1)}])
    with engine.connect() as conn:
        seen = conn.execute(select(raw_funding_intervals.c.first_seen_at)).scalar_one()
    assert seen == datetime(2025, 1, 1)
