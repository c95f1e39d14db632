"""The GX suite of each raw asset as asset checks, run on every fetched frame before its upsert.

One scan covers many coins in one step, so each check result sums up every coin of the scan:
it fails when any coin failed, and its metadata names the coins. A coin whose frame fails an
ERROR check (or whose fetch failed) is blocked: nothing of it is written and the signal steps
of this run skip it; the other coins go on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import dagster as dg

from sniper_pipeline.quality.outcomes import (
    ASCENDING_TS,
    CHECK_NAMES,
    ERROR,
    FRESH,
    NON_NULL_KEYS,
    PLAUSIBLE_RANGES,
    TYPED_COLUMNS,
    UNIQUE_KEYS,
    CheckOutcome,
)

FETCHED = "fetched"  # the API answered with a parsable series for every coin of the scan
RAW_CHECK_NAMES = (*CHECK_NAMES, FETCHED)

# What each check guards and what a desk would see if it let a frame through. Shown in the UI.
_BLOCKS = " A failing coin's frame is not written and its signals skip this scan."
RAW_CHECK_DESCRIPTIONS: dict[str, str] = {
    NON_NULL_KEYS: "Every fetched row has its coin, series, interval and bar time (GX, per coin). "
    "A row without its keys cannot be placed on a coin's grid." + _BLOCKS,
    UNIQUE_KEYS: "No bar appears twice in a coin's fetched frame (GX). A duplicate would count "
    "the bar twice downstream and could fire an alert on it." + _BLOCKS,
    ASCENDING_TS: "Bar times strictly increase within each fetched series (GX). Out-of-order or "
    "repeated times mean a paging or parsing fault; bar-to-bar changes would be wrong." + _BLOCKS,
    TYPED_COLUMNS: "Columns have the types and non-null values the warehouse table declares (GX). "
    "An API format change shows here instead of as a failed write or a silently wrong unit." + _BLOCKS,
    PLAUSIBLE_RANGES: "Values are plausible (GX): prices and open interest positive, volumes and "
    "liquidations not negative, funding within +-5 % per settlement, high not below low, units "
    "known. Outside is a unit or API error that would skew the coin's percentiles and alerts." + _BLOCKS,
    FRESH: "Each coin's latest closed bar is at most 3 bar intervals old. A stale source is "
    "written (its bars are right) but warns: that layer scores old data until it catches up.",
    FETCHED: "The API answered with a parsable series for every coin of the scan. A failed fetch "
    "(rate limit, expired key, unknown pair) leaves that coin's layer without new bars; the run "
    "ends failed naming it.",
}


def raw_check_specs(asset_name: str) -> list[dg.AssetCheckSpec]:
    """Not Dagster-blocking: one coin's bad frame must not stop the other coins' steps."""
    return [
        dg.AssetCheckSpec(name, asset=asset_name, blocking=False, description=RAW_CHECK_DESCRIPTIONS[name])
        for name in RAW_CHECK_NAMES
    ]


@dataclass
class ScanChecks:
    """Per raw asset: each coin's outcomes, then one check result per check over all coins."""

    asset_name: str
    outcomes: dict[str, list[CheckOutcome]] = field(default_factory=dict)
    fetch_errors: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def rejected(self) -> dict[str, str]:
        """Coins whose frame was not written, with the reason."""
        out = {coin: f"fetch failed: {error}" for coin, error in self.fetch_errors.items()}
        for coin, outcomes in self.outcomes.items():
            blocking = [o for o in outcomes if o.blocking]
            if blocking:
                out[coin] = "; ".join(f"{o.name}: {o.description}" for o in blocking)
        return out

    def results(self) -> Iterator[dg.AssetCheckResult]:
        by_name: dict[str, list[tuple[str, CheckOutcome]]] = {}
        for coin, outcomes in sorted(self.outcomes.items()):
            for outcome in outcomes:
                by_name.setdefault(outcome.name, []).append((coin, outcome))
        for name in CHECK_NAMES:
            rows = by_name.get(name, [])
            failed = [(coin, o) for coin, o in rows if not o.passed]
            error = any(o.severity == ERROR or o.errored for _, o in failed)
            yield dg.AssetCheckResult(
                asset_key=self.asset_name,
                check_name=name,
                passed=not failed,
                severity=dg.AssetCheckSeverity.ERROR if error else dg.AssetCheckSeverity.WARN,
                description="; ".join(f"{coin}: {o.description}" for coin, o in failed) or None,
                metadata={
                    "coins_checked": len(rows),
                    "coins_failed": {coin: o.description for coin, o in failed},
                    "coins_skipped": self.skipped,
                    "details": {coin: {**o.metadata, "errored": o.errored} for coin, o in failed},
                },
            )
        yield dg.AssetCheckResult(
            asset_key=self.asset_name,
            check_name=FETCHED,
            passed=not self.fetch_errors,
            description="; ".join(f"{c}: {e}" for c, e in sorted(self.fetch_errors.items())) or None,
            metadata={"coins_failed": self.fetch_errors, "coins_fetched": len(self.outcomes)},
        )
