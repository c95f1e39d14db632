"""One layer of one coin ingested through the pieces the raw asset uses, for tests that need a
single series in a warehouse without a Dagster run."""

from __future__ import annotations

from sqlalchemy import Engine

from sniper_pipeline.coinglass.client import CoinGlassClient
from sniper_pipeline.ingest.layers import LayerIngest, Validator, fetch_layer, layer_watermarks, store_layer
from sniper_pipeline.ingest.sources import ResolvedSource


def ingest_layer(
    client: CoinGlassClient,
    engine: Engine,
    coin: str,
    source: ResolvedSource,
    *,
    history_days: int,
    overlap_bars: int,
    validate: Validator | None = None,
) -> LayerIngest:
    """Watermark, fetch every page, validate (raising writes nothing), upsert."""
    since = layer_watermarks(engine, [(coin, source)])[(coin, source.layer)]
    fetched = fetch_layer(client, coin, source, since, history_days=history_days, overlap_bars=overlap_bars)
    return store_layer(engine, fetched, validate)
