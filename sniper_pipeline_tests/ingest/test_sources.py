"""Source resolution must work for recordings never seen: other coins, intervals, exchange lists."""

from __future__ import annotations

from typing import Any

import pytest

from sniper_pipeline.ingest.sources import instrument_base, plan_from_manifest, plan_live
from sniper_pipeline.settings.coins import load_coins
from sniper_pipeline.settings.layers import load_layers
from sniper_pipeline.settings.paths import config_dir


def entry(endpoint: str, rows: int = 500, **params: str) -> dict[str, Any]:
    return {"file": "x.json", "endpoint": endpoint, "params": params, "rows": rows, "time_field": "time"}


OI = "/api/futures/open-interest/aggregated-history"
LIQ = "/api/futures/liquidation/aggregated-history"
TAKER = "/api/futures/aggregated-taker-buy-sell-volume/history"
TAKER_LEGACY = "/api/futures/taker-buy-sell-volume/history"
FUNDING = "/api/futures/funding-rate/history"
FUNDING_OIW = "/api/futures/funding-rate/oi-weight-history"


@pytest.fixture(scope="module")
def cfg() -> tuple[Any, Any]:
    return load_coins(config_dir()), load_layers(config_dir())


@pytest.mark.parametrize(
    ("instrument", "base"),
    [
        ("BTCUSDT", "BTC"),
        ("BTC-USDT-SWAP", "BTC"),
        ("ETH_USDT", "ETH"),
        ("SOLUSDT_UMCBL", "SOL"),
        ("BTC-USD", "BTC"),
        ("POLUSDT", "POL"),
        ("1000PEPEUSDT", "1000PEPE"),
    ],
)
def test_instrument_base(instrument: str, base: str) -> None:
    assert instrument_base(instrument) == base


def test_unseen_coin_interval_and_exchange_list(cfg: tuple[Any, Any]) -> None:
    coins, layers = cfg
    entries = [
        entry(OI, symbol="HYPE", interval="1h"),
        entry(LIQ, symbol="HYPE", interval="1h", exchange_list="OKX,Bybit"),
        entry(LIQ, symbol="HYPE", interval="4h", exchange_list="Binance"),
        entry(TAKER, symbol="HYPE", interval="1d", exchange_list="OKX,Bybit"),
        entry(FUNDING_OIW, symbol="HYPE", interval="8h"),
    ]
    plan = plan_from_manifest(entries, coins, layers)["HYPE"]
    assert plan.extra and plan.grid_interval == "1h"
    # The grid-interval liquidation series wins over the coarser one.
    assert plan.sources["liquidation"] is not None
    assert plan.sources["liquidation"].param_dict == {
        "symbol": "HYPE",
        "interval": "1h",
        "exchange_list": "OKX,Bybit",
    }
    # Taker exists only at 1d: taken as a coarser layer.
    assert plan.sources["taker"] is not None and plan.sources["taker"].interval == "1d"
    assert plan.sources["funding"] is not None and plan.sources["funding"].endpoint == FUNDING_OIW
    assert plan.missing_layers == []


def test_preference_order_and_alias(cfg: tuple[Any, Any]) -> None:
    coins, layers = cfg
    entries = [
        entry(OI, symbol="POL", interval="4h"),
        entry(FUNDING_OIW, symbol="POL", interval="4h"),
        entry(FUNDING, exchange="OKX", symbol="POL-USDT-SWAP", interval="8h"),
        entry(FUNDING, exchange="CME", symbol="POLUSDT", rows=0),  # empty recording: never chosen
        entry(TAKER_LEGACY, exchange="Binance", symbol="POLUSDT", interval="4h"),
    ]
    entries[-1]["value_unit"] = "base_coin"
    plans = plan_from_manifest(entries, coins, layers)
    plan = plans["MATIC"]
    assert not plan.extra and plan.symbol == "POL"
    # A pair funding series (first in config) beats the OI-weighted series.
    funding = plan.sources["funding"]
    assert funding is not None and funding.param_dict["exchange"] == "OKX"
    taker = plan.sources["taker"]
    assert taker is not None and taker.value_unit == "base_coin"
    assert plan.missing_layers == ["liquidation"]


def test_finer_than_grid_is_not_used(cfg: tuple[Any, Any]) -> None:
    coins, layers = cfg
    entries = [entry(OI, symbol="ADA", interval="4h"), entry(FUNDING_OIW, symbol="ADA", interval="1h")]
    plan = plan_from_manifest(entries, coins, layers)["ADA"]
    assert plan.grid_interval == "4h" and plan.sources["funding"] is None


def test_source_key_ignores_paging_and_param_order(cfg: tuple[Any, Any]) -> None:
    coins, layers = cfg
    a = plan_from_manifest([entry(OI, symbol="BTC", interval="4h", limit="5")], coins, layers)["BTC"]
    b = plan_from_manifest([entry(OI, interval="4h", symbol="BTC")], coins, layers)["BTC"]
    assert a.sources["open_interest"] == b.sources["open_interest"]
    assert "limit" not in a.sources["open_interest"].source_key  # type: ignore[union-attr]


def test_live_profile_uses_the_runbook_sources(cfg: tuple[Any, Any]) -> None:
    coins, layers = cfg
    plans = plan_live(coins, layers)
    sol = plans["SOL"]
    assert sol.grid_interval == "1h"
    assert sol.sources["funding"] is not None
    assert sol.sources["funding"].param_dict == {"exchange": "Binance", "symbol": "SOLUSDT", "interval": "1h"}
    assert sol.sources["liquidation"].param_dict["exchange_list"] == "OKX,Binance,Bybit"  # type: ignore[union-attr]
    assert plans["MATIC"].sources["open_interest"].param_dict["symbol"] == "POL"  # type: ignore[union-attr]
