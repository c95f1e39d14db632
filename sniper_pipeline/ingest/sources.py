"""Which endpoint feeds each layer of each coin: from the live profile or a recordings manifest."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sniper_pipeline.coinglass.endpoints import UNIT_PARAM_DEFAULT, series_value_unit
from sniper_pipeline.settings.coins import CoinsConfig
from sniper_pipeline.settings.layer import Layer
from sniper_pipeline.settings.layers import CONTEXT_LAYERS, LAYERS, LayersConfig, SourceSpec
from sniper_pipeline.settings.timeutil import interval_seconds

_QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "USD")


@dataclass(frozen=True)
class ResolvedSource:
    layer: str
    endpoint: str
    params: tuple[tuple[str, str], ...]  # sorted, non-paging, includes interval
    interval: str
    value_unit: str = "usd"

    @property
    def source_key(self) -> str:
        """Endpoint plus the params that are not paging: the raw tables' key part."""
        return f"{self.endpoint}?{urlencode(self.params)}"

    @property
    def param_dict(self) -> dict[str, str]:
        return dict(self.params)


@dataclass
class CoinPlan:
    coin: str
    symbol: str
    grid_interval: str | None
    sources: dict[str, ResolvedSource | None] = field(default_factory=dict)
    extra: bool = False  # in the recordings but not in coins.yaml

    @property
    def missing_layers(self) -> list[str]:
        return [layer for layer in LAYERS if self.sources.get(layer) is None]


def instrument_base(instrument_id: str) -> str:
    """Base coin of a pair instrument: BTC-USDT-SWAP, BTC_USDT, BTCUSDT_UMCBL, BTC-USD -> BTC."""
    token = re.split(r"[-_/]", instrument_id.upper())[0]
    for quote in _QUOTES:
        if token.endswith(quote) and len(token) > len(quote):
            return token[: -len(quote)]
    return token


def _freeze(params: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted((k, str(v)) for k, v in params.items() if k not in ("limit", "start_time", "end_time"))
    )


def _entry_symbol(entry: Mapping[str, Any], spec: SourceSpec) -> str | None:
    symbol = entry["params"].get("symbol")
    if symbol is None:
        return None
    return instrument_base(symbol) if spec.scope == "pair" else str(symbol).upper()


def _interval_rank(interval: str, wanted: str, grid: str | None) -> float | None:
    """Lower is better; None when the interval does not fit the source spec."""
    secs = interval_seconds(interval)
    if wanted == "grid":
        return 0.0 if grid is not None and interval == grid else None
    if wanted == "any":
        if grid is None:
            return float(secs)
        grid_secs = interval_seconds(grid)
        # Finer than the grid would need aggregation we do not do; coarser joins as of its close.
        return None if secs < grid_secs else float(secs - grid_secs)
    return 0.0 if interval == wanted else None


def _pick(
    entries: Iterable[Mapping[str, Any]], spec: SourceSpec, symbols: set[str], grid: str | None
) -> Mapping[str, Any] | None:
    best: tuple[float, Mapping[str, Any]] | None = None
    for entry in entries:
        params = entry["params"]
        if entry["endpoint"] != spec.endpoint or not entry.get("rows") or "interval" not in params:
            continue
        if _entry_symbol(entry, spec) not in symbols:
            continue
        if spec.exchange is not None and params.get("exchange") != spec.exchange:
            continue
        # A recording without `unit` was answered in the documented default (usd).
        if spec.unit is not None and str(params.get("unit") or UNIT_PARAM_DEFAULT) != spec.unit:
            continue
        rank = _interval_rank(params["interval"], spec.interval, grid)
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, entry)
    return best[1] if best else None


def load_manifest(data_dir: Path) -> list[dict[str, Any]]:
    manifest = json.loads((data_dir / "manifest.json").read_text())
    return list(manifest["files"])


def _manifest_symbols(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for entry in entries:
        symbol = entry["params"].get("symbol")
        if symbol and entry.get("time_field") and entry.get("rows"):
            scope = "pair" if "exchange" in entry["params"] else "coin"
            seen[instrument_base(symbol) if scope == "pair" else str(symbol).upper()] = None
    return list(seen)


def plan_from_manifest(
    entries: list[dict[str, Any]], coins: CoinsConfig, layers: LayersConfig
) -> dict[str, CoinPlan]:
    """First configured source present in the recordings, per coin and layer (design.md section 3)."""
    profile = layers.profiles["replay"]
    plans: dict[str, CoinPlan] = {}
    for symbol in _manifest_symbols(entries):
        coin = coins.resolve(symbol) or symbol
        if coin in plans:
            continue
        symbols = {coin, *(coins.coins[coin].symbols if coin in coins.coins else [symbol])}
        plan = CoinPlan(coin=coin, symbol=symbol, grid_interval=None, extra=coin not in coins.coins)
        # The grid is the interval of the OI source, else of the liquidation source.
        for grid_layer in (Layer.OPEN_INTEREST, Layer.LIQUIDATION):
            for spec in profile.layers.get(grid_layer, []):
                entry = _pick(entries, spec, symbols, None)
                if entry is not None:
                    plan.grid_interval = entry["params"]["interval"]
                    break
            if plan.grid_interval:
                break
        for layer in (*LAYERS, *CONTEXT_LAYERS):
            plan.sources[layer] = None
            for spec in profile.layers.get(layer, []):
                entry = _pick(entries, spec, symbols, plan.grid_interval)
                if entry is not None:
                    params = entry["params"]
                    plan.sources[layer] = ResolvedSource(
                        layer=layer,
                        endpoint=spec.endpoint,
                        params=_freeze(params),
                        interval=params["interval"],
                        value_unit=_value_unit(spec, params, entry.get("value_unit")),
                    )
                    break
        plans[coin] = plan
    return plans


def plan_live(coins: CoinsConfig, layers: LayersConfig) -> dict[str, CoinPlan]:
    """The live profile: the first configured source of each layer, params from the templates."""
    profile = layers.profiles["live"]
    grid = profile.grid_interval or "1h"
    plans: dict[str, CoinPlan] = {}
    for coin, coin_spec in coins.coins.items():
        symbol = coin_spec.symbols[0]
        plan = CoinPlan(coin=coin, symbol=symbol, grid_interval=grid)
        for layer in (*LAYERS, *CONTEXT_LAYERS):
            specs = profile.layers.get(layer, [])
            plan.sources[layer] = (
                _live_source(layer, specs[0], coin_spec.pair_for, symbol, grid) if specs else None
            )
        plans[coin] = plan
    return plans


def _live_source(layer: str, spec: SourceSpec, pair_for: Any, symbol: str, grid: str) -> ResolvedSource:
    interval = grid if spec.interval in ("grid", "any") else spec.interval
    params: dict[str, str] = {"interval": interval}
    if spec.scope == "pair":
        exchange = spec.exchange or "Binance"
        params.update(exchange=exchange, symbol=pair_for(exchange))
    else:
        params["symbol"] = symbol
    if spec.exchange_list:
        params["exchange_list"] = spec.exchange_list
    if spec.unit:
        params["unit"] = spec.unit
    return ResolvedSource(layer, spec.endpoint, _freeze(params), interval, _value_unit(spec, params))


def _value_unit(spec: SourceSpec, params: Mapping[str, Any], recorded: Any = None) -> str:
    """Unit of a taker series' volumes: a recording's own unit check wins (it measured the
    values), then what the endpoint and its `unit` param answer, then the configured unit."""
    if recorded:
        return str(recorded)
    return series_value_unit(spec.endpoint, params) or spec.value_unit
