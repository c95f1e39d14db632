"""One raw table of a scan: every coin's fetched frame validated (one GX run for them all) and
the valid ones written in one transaction. Plain Python: the Dagster step only reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeAlias

import pandas as pd
from sqlalchemy import Connection, Engine

from sniper_pipeline.ingest.layers import LayerFetch, LayerIngest, changes_rows, store_layer
from sniper_pipeline.quality.outcomes import FrameValidation
from sniper_pipeline.quality.validate import unchanged_frame, validate_frames
from sniper_pipeline.settings.timeutil import interval_delta

Watermark: TypeAlias = pd.Timestamp | None  # the last closed bar stored, if any


@dataclass
class TableWrite:
    """Per coin: the validation of its frame, and what was written when it passed."""

    validations: dict[str, FrameValidation] = field(default_factory=dict)
    written: dict[str, LayerIngest] = field(default_factory=dict)

    def count(self, key: str) -> int:
        return sum(int(result.as_metadata().get(key, 0)) for result in self.written.values())


def new_bar_due(last_closed: Watermark, interval: str, now: datetime) -> bool:
    """Nothing is stored, or the next bar has just closed: this fetch will bring rows to
    validate. A series many bars behind has stopped updating (stale), which brings none."""
    if last_closed is None:
        return True
    behind = pd.Timestamp(now) - last_closed
    return 2 * interval_delta(interval) <= behind <= 4 * interval_delta(interval)


def _has_new_bar(fetched: LayerFetch, last_closed: Watermark) -> bool:
    """Bars past the stored closed bar and the open bar after it are new rows for sure; only
    overlap bars need comparing."""
    if fetched.frame.empty:
        return False
    newest = pd.Timestamp(fetched.frame["ts"].max())
    newest = newest.tz_localize("UTC") if newest.tzinfo is None else newest
    return last_closed is None or newest > last_closed + interval_delta(fetched.source.interval)


def _changes(conn: Connection, fetched: LayerFetch, last_closed: Watermark) -> bool:
    return _has_new_bar(fetched, last_closed) or changes_rows(conn, fetched)


def validate_and_store(
    engine: Engine, table: str, by_coin: dict[str, LayerFetch], since: dict[str, Watermark], now: datetime
) -> TableWrite:
    """A frame whose every bar is already stored as fetched writes nothing and gets freshness
    only; the others are validated together, and each that passes is upserted. One transaction
    per table: the scan's coins land together or not at all."""
    with engine.connect() as conn:
        changing = {coin: f for coin, f in by_coin.items() if _changes(conn, f, since[coin])}
    out = TableWrite()
    out.validations = validate_frames(
        table,
        {coin: f.frame for coin, f in changing.items()},
        intervals={coin: f.source.interval for coin, f in changing.items()},
        now=now,
    )
    for coin, f in by_coin.items():
        if coin not in changing:
            out.validations[coin] = unchanged_frame(table, f.frame, interval=f.source.interval, now=now)
    with engine.begin() as conn:
        for coin, fetched in sorted(by_coin.items()):
            if out.validations[coin].ok:  # else blocked: nothing of this frame is written
                out.written[coin] = store_layer(conn, fetched, unchanged=coin not in changing)
    return out
