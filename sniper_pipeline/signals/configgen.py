"""UniversalConfigGenerator: a coin's percentile config derived from its own bars, never copied.

The bars come from a `BarSource` (the warehouse mart by default); the percentiles come from the
engine's pure `percentile_config`. The same inputs give the same hashes, so storing a config
twice adds no row."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any, Protocol

import pandas as pd
from sqlalchemy import Engine

from sniper_pipeline.engine import EngineParams, config_sanity, percentile_config
from sniper_pipeline.warehouse.bars import load_layer_bars

SOURCE_COLUMNS = ("funding_source_key", "oi_source_key", "liq_source_key", "taker_source_key")


class BarSource(Protocol):
    def bars(self, coin: str) -> pd.DataFrame: ...


class WarehouseBars:
    """Bars from `fct_layer_bars` (filled by `sniper run` / the Dagster graph)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def bars(self, coin: str) -> pd.DataFrame:
        return load_layer_bars(self.engine, coin)


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


class NoBarsError(LookupError):
    """The source has no bars for the coin."""


class UniversalConfigGenerator:
    def __init__(self, source: BarSource, params: EngineParams | None = None) -> None:
        self.source = source
        self.params = params or EngineParams()

    def generate_config(self, coin: str) -> dict[str, Any]:
        """The snapshot as of the last closed bar: rows per metric, sanity problems, hashes."""
        bars = self.source.bars(coin)
        if bars.empty:
            raise NoBarsError(f"no bars for {coin}: run `sniper run` first (or check the coin's sources)")
        rows = percentile_config(bars, self.params)
        sources = {c: sorted(bars[c].dropna().unique().tolist()) for c in SOURCE_COLUMNS if c in bars}
        return {
            "coin": coin,
            "interval": str(bars["interval"].iloc[0]),
            "metrics": rows,
            "problems": config_sanity(rows, self.params.sanity),
            "sources_hash": _digest(sources),
            "params_hash": _digest(asdict(self.params)),
        }
