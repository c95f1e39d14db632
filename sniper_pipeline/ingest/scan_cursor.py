"""When to scan: a bar closed since the last tick. Pure, so the sensor is a thin wrapper."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sniper_pipeline.coinglass.clock import last_closed_bar_open


@dataclass(frozen=True)
class ScanRequest:
    coin: str
    bar_open: datetime

    @property
    def run_key(self) -> str:
        return f"{self.coin}|{self.bar_open.isoformat()}"


def due_scans(cursor: str | None, now: datetime, grids: dict[str, str]) -> tuple[list[ScanRequest], str]:
    """Scans for coins whose grid interval closed a bar after the cursor's; the new cursor.

    `grids` maps coin -> grid interval. The cursor holds the last closed bar per interval, so
    one closed 4h bar requests one scan per 4h coin, once."""
    seen: dict[str, str] = json.loads(cursor) if cursor else {}
    latest = {interval: last_closed_bar_open(now, interval) for interval in sorted(set(grids.values()))}
    requests = [
        ScanRequest(coin, latest[interval])
        for coin, interval in sorted(grids.items())
        if seen.get(interval) is None or datetime.fromisoformat(seen[interval]) < latest[interval]
    ]
    new_cursor = json.dumps({interval: ts.isoformat() for interval, ts in latest.items()}, sort_keys=True)
    return requests, new_cursor
