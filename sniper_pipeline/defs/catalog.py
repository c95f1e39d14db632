"""Who owns each asset and which signal layer it feeds, applied to the whole code location in one
place (`definitions.py`) rather than on every decorator: owners as `team:...`, tags `domain` and,
for assets of one signal layer, `layer`. Filter the UI with `owner:"team:signals"` or
`tag:layer=funding`."""

from __future__ import annotations

import dagster as dg

from sniper_pipeline.settings.layer import Layer

MARKET_DATA = "market-data"
SIGNALS = "signals"
OWNERS: dict[str, str] = {MARKET_DATA: "team:market-data", SIGNALS: "team:signals"}

# The group decides the domain; `ops` holds one asset of each, named below.
DOMAIN_BY_GROUP: dict[str, str] = {"ingest": MARKET_DATA, "transform": MARKET_DATA, "signals": SIGNALS}
DOMAIN_BY_ASSET: dict[str, str] = {
    "api_health": MARKET_DATA,  # the vendor API answers: a market-data concern
    "signal_report": SIGNALS,  # what the desk reads
}

# The four layers the engine scores, tagged by their tables' stem (`Layer.table`: liquidations,
# taker_volume): its raw table, staging model and the snapshots that only it uses. Prices, the
# instruments list, ETF flows and the mart (all layers at once) belong to none.
_LAYER_SNAPSHOTS: dict[Layer, tuple[str, ...]] = {
    Layer.FUNDING: ("raw_funding_intervals",),
    Layer.LIQUIDATION: ("raw_liquidation_exchanges",),
}
LAYERS: dict[str, tuple[str, ...]] = {
    layer.table: (layer.raw_table, *_LAYER_SNAPSHOTS.get(layer, ()), f"stg_coinglass__{layer.table}")
    for layer in Layer
}
LAYER_BY_ASSET: dict[str, str] = {asset: layer for layer, assets in LAYERS.items() for asset in assets}


def domain_of(spec: dg.AssetSpec) -> str | None:
    name = spec.key.to_user_string()
    return DOMAIN_BY_ASSET.get(name) or DOMAIN_BY_GROUP.get(spec.group_name or "")


def with_catalog(spec: dg.AssetSpec) -> dg.AssetSpec:
    """Owners and tags from the catalog; owners or tags an asset already declares win. An asset
    the catalog does not place is left as it is (the location still loads); test_catalog.py
    fails on it until it has a domain here."""
    domain = domain_of(spec)
    if domain is None:
        return spec
    layer = LAYER_BY_ASSET.get(spec.key.to_user_string())
    return spec.replace_attributes(
        owners=list(spec.owners) or [OWNERS[domain]],
        tags={"domain": domain, **({"layer": layer} if layer else {}), **spec.tags},
    )
