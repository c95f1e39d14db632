"""Issue 15: the client takes every parameter CoinGlass v4 documents, and only those.

Recordings made with `unit=usd` on aggregated taker history failed every coin's taker layer
("parameter(s) ['unit'] not accepted"). Here a recordings folder built from the shipped sample
carries `unit` on taker (futures `usd`, spot `coin`) and on OI (`usd` and `coin`); it is replayed
through the real replay server and client into a DuckDB warehouse by `ingest_layer`, and the
stored values and unit columns are checked. Undocumented parameters are still refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from sniper_pipeline.coinglass import endpoints as ep
from sniper_pipeline.coinglass.client import CoinGlassClient
from sniper_pipeline.coinglass.errors import InvalidParameterError
from sniper_pipeline.coinglass.parsing import UNIT_BASE_COIN, UNIT_USD
from sniper_pipeline.ingest.layers import LAYER_TABLES
from sniper_pipeline.ingest.sources import (
    CoinPlan,
    ResolvedSource,
    load_manifest,
    plan_from_manifest,
    plan_live,
)
from sniper_pipeline.quality.validate import validate_frame
from sniper_pipeline.replay.recordings import recordings_end
from sniper_pipeline.replay.sample import sample_dir
from sniper_pipeline.replay.server import ReplayServer
from sniper_pipeline.settings.coins import load_coins
from sniper_pipeline.settings.layers import load_layers
from sniper_pipeline.settings.paths import config_dir
from sniper_pipeline.warehouse import tables as t
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.url import warehouse_location
from sniper_pipeline_tests.coinglass.conftest import REPO_ROOT, TEST_KEY
from sniper_pipeline_tests.coinglass.support import RecordingSleeper, series_page
from sniper_pipeline_tests.ingest.support import ingest_layer

CONTRACT_DOC = REPO_ROOT / "docs" / "coinglass-v4.md"
SOURCE_COIN, COIN = "BTC", "ZUNIT"  # a coin no config names: resolved from the recordings alone
BARS = 1080  # 4h bars of every BTC series used (2024-11-21 20:00 .. 2025-05-20 16:00)
TAKER_PARAMS = "symbol, interval, exchange_list, unit, start_time, end_time, limit"

# What the v4 reference documents per path (required, optional), read from
# coinglass-api/coinglass-api-docs and coinglass-official/coinglass-api-skills (docs/coinglass-v4.md).
_HISTORY = ("limit", "start_time", "end_time")
DOCUMENTED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    ep.FUNDING_HISTORY: (("exchange", "symbol", "interval"), _HISTORY),
    ep.FUNDING_OI_WEIGHT_HISTORY: (("symbol", "interval"), _HISTORY),
    ep.OI_AGGREGATED_HISTORY: (("symbol", "interval"), (*_HISTORY, "unit")),
    ep.LIQUIDATION_AGGREGATED_HISTORY: (("exchange_list", "symbol", "interval"), _HISTORY),
    ep.TAKER_AGGREGATED_HISTORY: (("exchange_list", "symbol", "interval"), (*_HISTORY, "unit")),
    ep.SPOT_TAKER_AGGREGATED_HISTORY: (("exchange_list", "symbol", "interval"), (*_HISTORY, "unit")),
    ep.TAKER_PAIR_HISTORY: (("exchange", "symbol", "interval"), _HISTORY),
    ep.TAKER_PAIR_HISTORY_LEGACY: (("exchange", "symbol", "interval"), _HISTORY),
    ep.ETF_BITCOIN_FLOW_HISTORY: ((), ()),
    ep.SUPPORTED_EXCHANGE_PAIRS: ((), ("exchange",)),
    ep.SUPPORTED_COINS: ((), ()),
    ep.SUPPORTED_EXCHANGES: ((), ()),
    ep.FUNDING_EXCHANGE_LIST: ((), ()),
    ep.LIQUIDATION_EXCHANGE_LIST: (("range",), ("symbol",)),
    ep.PAIRS_MARKETS: (("symbol",), ()),
    ep.SPOT_PRICE_HISTORY: (("exchange", "symbol", "interval"), _HISTORY),
    # `limit` is marked mandatory there, with a default: optional here (docs/coinglass-v4.md).
    ep.FUTURES_PRICE_HISTORY: (("exchange", "symbol", "interval"), _HISTORY),
    ep.LIQUIDATION_PAIR_HISTORY: (("exchange", "symbol", "interval"), _HISTORY),
    ep.LIQUIDATION_ORDERS: (("exchange", "symbol", "min_liquidation_amount"), ("start_time", "end_time")),
}


def _spec_params(path: str) -> tuple[set[str], set[str]]:
    spec = ep.ENDPOINTS[path]
    return set(spec.required), set(spec.optional)


# -- the contract: specs, the project's document ------------------------------------------------


def test_every_endpoint_spec_lists_the_documented_params() -> None:
    assert set(ep.ENDPOINTS) == set(DOCUMENTED)
    for path, (required, optional) in DOCUMENTED.items():
        assert _spec_params(path) == (set(required), set(optional)), path


def _doc_tables(text: str) -> dict[str, dict[str, bool]]:
    """`### /api/...` sections of the contract document -> {param: required}."""
    tables: dict[str, dict[str, bool]] = {}
    current: dict[str, bool] | None = None
    for line in text.splitlines():
        heading = re.match(r"^### `(/api/[^`]+)`", line)
        if heading:
            current = tables.setdefault(heading.group(1), {})
            continue
        row = re.match(r"^\| `([a-z_]+)` \| (yes|no) \|", line)
        if row and current is not None:
            current[row.group(1)] = row.group(2) == "yes"
    return tables


def test_the_contract_document_has_a_table_per_endpoint_matching_the_specs() -> None:
    tables = _doc_tables(CONTRACT_DOC.read_text(encoding="utf-8"))
    assert set(tables) == set(ep.ENDPOINTS)
    for path, params in tables.items():
        required, optional = _spec_params(path)
        assert {p for p, req in params.items() if req} == required, path
        assert {p for p, req in params.items() if not req} == optional, path


# -- units: which unit a series answers in -------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "unit"),
    [
        (ep.TAKER_AGGREGATED_HISTORY, {}, UNIT_USD),
        (ep.TAKER_AGGREGATED_HISTORY, {"unit": "usd"}, UNIT_USD),
        (ep.TAKER_AGGREGATED_HISTORY, {"unit": "coin"}, UNIT_BASE_COIN),
        (ep.SPOT_TAKER_AGGREGATED_HISTORY, {"unit": "coin"}, UNIT_BASE_COIN),
        (ep.TAKER_PAIR_HISTORY, {}, UNIT_USD),
        (ep.TAKER_PAIR_HISTORY_LEGACY, {}, UNIT_BASE_COIN),
        (ep.OI_AGGREGATED_HISTORY, {"unit": "coin"}, None),  # OI keeps its own `unit` column
    ],
)
def test_series_value_unit(path: str, params: dict[str, str], unit: str | None) -> None:
    assert ep.series_value_unit(path, params) == unit


def test_live_plan_records_the_units_it_asks_for() -> None:
    cfg = config_dir()
    plan = plan_live(load_coins(cfg), load_layers(cfg))["BTC"]
    oi, taker = plan.sources["open_interest"], plan.sources["taker"]
    assert oi is not None and oi.param_dict["unit"] == "coin"
    assert taker is not None and "unit" not in taker.param_dict and taker.value_unit == UNIT_USD


def _entry(endpoint: str, **params: str) -> dict[str, Any]:
    return {"file": "x.json", "endpoint": endpoint, "params": params, "rows": 10, "time_field": "time"}


def test_replay_plan_prefers_coin_oi_then_falls_back_to_usd() -> None:
    cfg = config_dir()
    coins, layers = load_coins(cfg), load_layers(cfg)
    oi = ep.OI_AGGREGATED_HISTORY
    both = [
        _entry(oi, symbol="HYPE", interval="4h", unit="usd"),
        _entry(oi, symbol="HYPE", interval="4h", unit="coin"),
    ]
    chosen = plan_from_manifest(both, coins, layers)["HYPE"].sources["open_interest"]
    assert chosen is not None and chosen.param_dict["unit"] == "coin"
    for params in ({"unit": "usd"}, {}):  # no `unit` recorded: the API default, usd
        entries = [_entry(oi, symbol="HYPE", interval="4h", **params)]
        chosen = plan_from_manifest(entries, coins, layers)["HYPE"].sources["open_interest"]
        assert chosen is not None and chosen.param_dict.get("unit") == params.get("unit")


def test_replay_plan_taker_value_unit_follows_the_unit_param() -> None:
    cfg = config_dir()
    coins, layers = load_coins(cfg), load_layers(cfg)
    for unit, value_unit in (("coin", UNIT_BASE_COIN), ("usd", UNIT_USD)):
        entries = [
            _entry(
                ep.TAKER_AGGREGATED_HISTORY, symbol="HYPE", interval="1d", exchange_list="Binance", unit=unit
            )
        ]
        source = plan_from_manifest(entries, coins, layers)["HYPE"].sources["taker"]
        assert source is not None and source.value_unit == value_unit


# -- a folder with `unit` on taker and OI, replayed end to end -----------------------------------


def _scaled(
    rows: list[dict[str, Any]], fields: tuple[str, ...], price: Mapping[int, float]
) -> list[dict[str, Any]]:
    """USD rows -> coin-unit rows: each value divided by the bar's BTC futures close."""
    return [{**row, **{f: float(row[f]) / price[int(row["time"])] for f in fields}} for row in rows]


def build_unit_folder(target: Path) -> Path:
    """BTC's 4h series of the sample, renamed to COIN, asked with documented `unit` values:
    OI with unit=usd (as recorded) and unit=coin (USD / futures close), futures taker with
    unit=usd (as recorded), spot taker with unit=coin, liquidations and OI-weighted funding."""
    source = sample_dir()
    manifest = json.loads((source / "manifest.json").read_text())
    entries = {
        (e["endpoint"], e["params"].get("interval")): e
        for e in manifest["files"]
        if e["params"].get("symbol") in (SOURCE_COIN, f"{SOURCE_COIN}USDT") and e.get("rows")
    }

    def rows_of(endpoint: str) -> list[dict[str, Any]]:
        return list(json.loads((source / entries[(endpoint, "4h")]["file"]).read_text())["data"])

    price = {int(r["time"]): float(r["close"]) for r in rows_of(ep.FUTURES_PRICE_HISTORY)}
    oi_usd = rows_of(ep.OI_AGGREGATED_HISTORY)
    spot_usd = rows_of(ep.SPOT_TAKER_AGGREGATED_HISTORY)
    series: list[tuple[str, dict[str, str], list[dict[str, Any]], bool]] = [
        (ep.OI_AGGREGATED_HISTORY, {"unit": "usd"}, oi_usd, False),
        (
            ep.OI_AGGREGATED_HISTORY,
            {"unit": "coin"},
            _scaled(oi_usd, ("open", "high", "low", "close"), price),
            True,
        ),
        (ep.TAKER_AGGREGATED_HISTORY, {"unit": "usd"}, rows_of(ep.TAKER_AGGREGATED_HISTORY), False),
        (
            ep.SPOT_TAKER_AGGREGATED_HISTORY,
            {"unit": "coin"},
            _scaled(spot_usd, ("aggregated_buy_volume_usd", "aggregated_sell_volume_usd"), price),
            True,
        ),
        (ep.LIQUIDATION_AGGREGATED_HISTORY, {}, rows_of(ep.LIQUIDATION_AGGREGATED_HISTORY), False),
        (ep.FUNDING_OI_WEIGHT_HISTORY, {}, rows_of(ep.FUNDING_OI_WEIGHT_HISTORY), False),
    ]
    target.mkdir(parents=True, exist_ok=True)
    files = []
    for endpoint, extra, rows, synthetic in series:
        entry = entries[(endpoint, "4h")]
        params = {**entry["params"], "symbol": COIN, **extra}
        name = "_".join(f"{k}-{v}" for k, v in sorted(params.items())).replace(",", "+")
        name = endpoint.strip("/").replace("/", "_") + "__" + name + ".json"
        (target / name).write_text(json.dumps({"code": "0", "msg": "success", "data": rows}))
        files.append({**entry, "file": name, "params": params, "synthetic": synthetic})
    (target / "manifest.json").write_text(json.dumps({"files": files}))
    return target


@dataclass(frozen=True)
class Replayed:
    folder: Path
    plan: CoinPlan
    sources: dict[str, ResolvedSource]  # name -> source, every series of the folder
    requests: list[tuple[str, dict[str, str]]]
    engine: Engine


def _source(endpoint: str, entry_params: Mapping[str, str], layer: str) -> ResolvedSource:
    """The source the plan would resolve for this recording (for series the plan did not pick)."""
    params = tuple(sorted((k, str(v)) for k, v in entry_params.items()))
    unit = ep.series_value_unit(endpoint, entry_params) or UNIT_USD
    return ResolvedSource(layer, endpoint, params, str(entry_params["interval"]), unit)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replayed]:
    folder = build_unit_folder(tmp_path_factory.mktemp("unit-recordings"))
    cfg = config_dir()
    layers = load_layers(cfg)
    plan = plan_from_manifest(load_manifest(folder), load_coins(cfg), layers)[COIN]
    sources = {f"plan:{layer}": s for layer, s in plan.sources.items() if s is not None}
    for entry in load_manifest(folder):
        layer = {ep.OI_AGGREGATED_HISTORY: "open_interest", ep.SPOT_TAKER_AGGREGATED_HISTORY: "taker"}.get(
            entry["endpoint"]
        )
        if layer is not None:
            sources[f"{entry['endpoint']}?unit={entry['params']['unit']}"] = _source(
                entry["endpoint"], entry["params"], layer
            )
    engine = make_engine(warehouse_location(f"duckdb:///{tmp_path_factory.mktemp('warehouse') / 'w.duckdb'}"))
    with ReplayServer(folder, quiet=True, now=recordings_end(folder)) as server:
        client = CoinGlassClient(server.base_url, TEST_KEY, sleeper=RecordingSleeper(), backoff_jitter=0.0)
        client.sync_clock()
        now = client.now()
        done: set[str] = set()
        for source in sources.values():
            if source.source_key in done:
                continue  # the plan's OI is also listed by its recording
            done.add(source.source_key)

            def check(frame: pd.DataFrame, source: ResolvedSource = source) -> None:
                result = validate_frame(
                    LAYER_TABLES[source.layer].name, frame, interval=source.interval, now=now
                )
                assert result.ok, result.summary()

            got = ingest_layer(
                client,
                engine,
                COIN,
                source,
                history_days=layers.history_days,
                overlap_bars=layers.overlap_bars,
                validate=check,
            )
            assert got.written.new == BARS, source.source_key
        yield Replayed(folder, plan, sources, server.request_log, engine)


def _stored(engine: Engine, table: Any, source_key: str) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(select(table).where(table.c.source_key == source_key).order_by(table.c.ts)).all()
    return pd.DataFrame(rows, columns=[c.name for c in table.columns])


def _recorded(folder: Path, endpoint: str, unit: str) -> pd.DataFrame:
    [entry] = [
        e for e in load_manifest(folder) if e["endpoint"] == endpoint and e["params"].get("unit") == unit
    ]
    rows = json.loads((folder / entry["file"]).read_text())["data"]
    return pd.DataFrame(rows).astype(float).sort_values("time").reset_index(drop=True)


def test_the_plan_replays_every_layer_with_the_recorded_units(replayed: Replayed) -> None:
    plan = replayed.plan
    assert plan.extra and plan.missing_layers == [] and plan.grid_interval == "4h"
    oi, taker = plan.sources["open_interest"], plan.sources["taker"]
    assert oi is not None and oi.param_dict["unit"] == "coin"  # preferred, as live asks
    assert taker is not None and taker.param_dict["unit"] == "usd" and taker.value_unit == UNIT_USD
    # The server was asked exactly what was recorded, `unit` included, page after page.
    sent = {(path, params.get("unit")) for path, params in replayed.requests if path.endswith("history")}
    assert {
        (ep.OI_AGGREGATED_HISTORY, "usd"),
        (ep.OI_AGGREGATED_HISTORY, "coin"),
        (ep.TAKER_AGGREGATED_HISTORY, "usd"),
        (ep.SPOT_TAKER_AGGREGATED_HISTORY, "coin"),
        (ep.LIQUIDATION_AGGREGATED_HISTORY, None),
        (ep.FUNDING_OI_WEIGHT_HISTORY, None),
    } == sent


def test_open_interest_is_stored_per_unit_with_its_unit(replayed: Replayed) -> None:
    stored = {
        unit: _stored(
            replayed.engine,
            t.raw_open_interest,
            replayed.sources[f"{ep.OI_AGGREGATED_HISTORY}?unit={unit}"].source_key,
        )
        for unit in ("usd", "coin")
    }
    for unit, frame in stored.items():
        recorded = _recorded(replayed.folder, ep.OI_AGGREGATED_HISTORY, unit)
        assert len(frame) == BARS and set(frame["unit"]) == {unit}
        assert frame["source_key"].iloc[0].endswith(f"unit={unit}")
        assert frame["close"].tolist() == pytest.approx(recorded["close"].tolist(), rel=1e-12)
        assert frame["is_closed"].all()
    # Same bars, two units: USD / coin is the bar's price (BTC between 74k and 110k).
    price = stored["usd"]["close"] / stored["coin"]["close"]
    assert price.between(70_000, 115_000).all()


def test_taker_volume_is_stored_with_its_value_unit(replayed: Replayed) -> None:
    plan_taker = replayed.plan.sources["taker"]
    assert plan_taker is not None
    futures = _stored(replayed.engine, t.raw_taker_volume, plan_taker.source_key)
    recorded = _recorded(replayed.folder, ep.TAKER_AGGREGATED_HISTORY, "usd")
    assert len(futures) == BARS and set(futures["value_unit"]) == {UNIT_USD}
    assert futures["buy_volume"].tolist() == pytest.approx(
        recorded["aggregated_buy_volume_usd"].tolist(), rel=1e-12
    )
    assert futures["sell_volume"].tolist() == pytest.approx(
        recorded["aggregated_sell_volume_usd"].tolist(), rel=1e-12
    )

    spot_source = replayed.sources[f"{ep.SPOT_TAKER_AGGREGATED_HISTORY}?unit=coin"]
    spot = _stored(replayed.engine, t.raw_taker_volume, spot_source.source_key)
    recorded = _recorded(replayed.folder, ep.SPOT_TAKER_AGGREGATED_HISTORY, "coin")
    assert len(spot) == BARS and set(spot["value_unit"]) == {UNIT_BASE_COIN}
    assert spot["buy_volume"].tolist() == pytest.approx(
        recorded["aggregated_buy_volume_usd"].tolist(), rel=1e-12
    )
    # BTC quantities, not USD: a 4h bar of Binance spot trades thousands of BTC, not billions.
    assert spot["buy_volume"].median() < 1e5 < futures["buy_volume"].median()


def test_the_replay_server_serves_the_unit_folder_to_the_typed_functions(replayed: Replayed) -> None:
    with ReplayServer(replayed.folder, quiet=True, now=recordings_end(replayed.folder)) as server:
        client = CoinGlassClient(server.base_url, TEST_KEY, sleeper=RecordingSleeper())
        taker = series_page(
            client,
            ep.TAKER_AGGREGATED_HISTORY,
            symbol=COIN,
            interval="4h",
            exchange_list="Binance",
            unit="usd",
            limit=5,
        )
        spot = series_page(
            client,
            ep.SPOT_TAKER_AGGREGATED_HISTORY,
            symbol=COIN,
            interval="4h",
            exchange_list=["Binance"],
            unit="coin",
            limit=5,
        )
        oi = series_page(client, ep.OI_AGGREGATED_HISTORY, symbol=COIN, interval="4h", unit="coin", limit=5)
    assert len(taker) == len(spot) == len(oi) == 5
    assert taker.value_unit == UNIT_USD and set(taker.frame["value_unit"]) == {UNIT_USD}
    assert spot.value_unit == UNIT_BASE_COIN and set(spot.frame["value_unit"]) == {UNIT_BASE_COIN}
    assert oi.frame["close"].between(1e5, 1e7).all()  # BTC of open interest (USD would be ~1e10)


# -- undocumented parameters: refused as before, before any request ------------------------------


def test_an_undocumented_param_is_refused_with_the_clear_error(replay_server: ReplayServer) -> None:
    client = CoinGlassClient(replay_server.base_url, TEST_KEY, sleeper=RecordingSleeper())
    params = {"symbol": "BTC", "interval": "4h", "exchange_list": "Binance", "unit": "usd", "foo": "bar"}
    with pytest.raises(InvalidParameterError) as info:
        ep.fetch_series(client, ep.TAKER_AGGREGATED_HISTORY, params, since=None, history_days=30)
    message = str(info.value)
    assert "parameter(s) ['foo'] not accepted" in message
    assert f"endpoint={ep.TAKER_AGGREGATED_HISTORY}" in message
    assert f"takes {TAKER_PARAMS}" in message
    # `unit` is documented on OI and taker history only: elsewhere it is as unknown as `foo`.
    liq = {"symbol": "BTC", "interval": "4h", "exchange_list": "Binance", "unit": "usd"}
    with pytest.raises(InvalidParameterError, match=r"parameter\(s\) \['unit'\] not accepted"):
        ep.fetch_series(client, ep.LIQUIDATION_AGGREGATED_HISTORY, liq, since=None, history_days=30)
    with pytest.raises(InvalidParameterError, match=r"unit 'eur' not accepted.*'usd' or 'coin'"):
        ep.fetch_series(
            client,
            ep.TAKER_AGGREGATED_HISTORY,
            {"symbol": "BTC", "interval": "4h", "exchange_list": "Binance", "unit": "eur"},
            since=None,
            history_days=1,
        )


def test_an_undocumented_param_in_a_recording_fails_its_layer_before_any_request(
    replayed: Replayed, tmp_path: Path
) -> None:
    cfg = config_dir()
    entry = next(e for e in load_manifest(replayed.folder) if e["endpoint"] == ep.TAKER_AGGREGATED_HISTORY)
    odd = {**entry, "params": {**entry["params"], "venue": "perp"}}
    source = plan_from_manifest([odd], load_coins(cfg), load_layers(cfg))[COIN].sources["taker"]
    assert source is not None
    engine = make_engine(warehouse_location(f"duckdb:///{tmp_path / 'w.duckdb'}"))
    with ReplayServer(replayed.folder, quiet=True) as server:
        client = CoinGlassClient(server.base_url, TEST_KEY, sleeper=RecordingSleeper())
        with pytest.raises(InvalidParameterError, match=r"parameter\(s\) \['venue'\] not accepted"):
            ingest_layer(client, engine, COIN, source, history_days=30, overlap_bars=3)
        assert server.request_log == []
