"""Parsers on the real recorded responses (shipped sample) and on hand-built drift rows."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sniper_pipeline.coinglass import endpoints as ep
from sniper_pipeline.coinglass.errors import MalformedResponseError, SchemaDriftError
from sniper_pipeline.coinglass.parsing import (
    UNIT_BASE_COIN,
    UNIT_USD,
    ParsedFrame,
    parse_etf_flows,
    parse_funding_exchange_list,
    parse_liquidation_aggregated,
    parse_liquidation_exchange_list,
    parse_liquidation_pair,
    parse_ohlc,
    parse_pairs_markets,
    parse_supported_exchange_pairs,
    parse_taker_aggregated,
    parse_taker_pair,
    to_float,
)
from sniper_pipeline_tests.coinglass.conftest import SYNTHETIC_DRIFT_DIR, SYNTHETIC_ENDPOINTS_DIR

NOW = datetime(2025, 5, 21, tzinfo=UTC)  # the sample's bars end 2025-05-20 16:00 (4h)
T0 = 1747699200000  # 2025-05-20T00:00Z
H4 = 4 * 3600 * 1000


def manifest(folder: Path) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = json.loads((folder / "manifest.json").read_text())["files"]
    return files


def data_of(folder: Path, entry: dict[str, Any]) -> Any:
    return json.loads((folder / entry["file"]).read_text())["data"]


# Reference endpoints the pipeline never parses: their synthetic fixtures are read raw.
UNPARSED_REFERENCE = {ep.SUPPORTED_COINS, ep.SUPPORTED_EXCHANGES, ep.LIQUIDATION_ORDERS}


def parse_entry(folder: Path, entry: dict[str, Any]) -> ParsedFrame:
    path, params, data = entry["endpoint"], entry["params"], data_of(folder, entry)
    spec = ep.ENDPOINTS[path]
    if spec.is_series:
        return ep.parse_series_response(
            path, data, interval=params.get("interval", "1d"), now=NOW, value_unit=entry.get("value_unit")
        )
    parsers: dict[str, Any] = {
        ep.FUNDING_EXCHANGE_LIST: parse_funding_exchange_list,
        ep.LIQUIDATION_EXCHANGE_LIST: parse_liquidation_exchange_list,
        ep.PAIRS_MARKETS: parse_pairs_markets,
        ep.SUPPORTED_EXCHANGE_PAIRS: parse_supported_exchange_pairs,
    }
    result: ParsedFrame = parsers[path](data, endpoint=path)
    return result


# -- every real recording --------------------------------------------------------------------------


def test_every_recorded_file_parses(sample_data_dir: Path) -> None:
    for entry in manifest(sample_data_dir):
        parsed = parse_entry(sample_data_dir, entry)
        assert isinstance(parsed, ParsedFrame), entry["file"]
        assert parsed.rows_received == entry["rows"], entry["file"]
        assert parsed.unknown_fields == () or entry["endpoint"] == ep.ETF_BITCOIN_FLOW_HISTORY, entry["file"]
        frame = parsed.frame
        if entry.get("time_field"):
            assert str(frame["ts"].dtype) == "datetime64[ns, UTC]"
            assert frame["ts"].is_monotonic_increasing and frame["ts"].is_unique
            assert frame["is_closed"].dtype == bool
            assert len(frame) == entry["rows"] - entry.get("duplicate_timestamps", 0)
            for col in frame.columns:
                if col not in ("ts", "is_closed", "value_unit", "etf_flows_json", "is_published"):
                    assert frame[col].dtype == np.float64, (entry["file"], col)


def test_funding_stays_percent_per_settlement(sample_data_dir: Path) -> None:
    entry = next(
        e
        for e in manifest(sample_data_dir)
        if e["endpoint"] == ep.FUNDING_HISTORY
        and e["params"].get("exchange") == "Binance"
        and e["params"]["symbol"] == "BTCUSDT"
    )
    raw = data_of(sample_data_dir, entry)
    parsed = parse_ohlc(raw, interval="8h", now=NOW)
    assert list(parsed.frame.columns) == ["ts", "open", "high", "low", "close", "is_closed"]
    assert parsed.frame["close"].iloc[-1] == float(raw[-1]["close"])  # "0.01" -> 0.01, no conversion
    assert parsed.frame["ts"].iloc[-1] == pd.Timestamp(raw[-1]["time"], unit="ms", tz="UTC")


def test_price_history_carries_volume_usd(sample_data_dir: Path) -> None:
    entry = next(e for e in manifest(sample_data_dir) if e["endpoint"] == ep.FUTURES_PRICE_HISTORY)
    frame = parse_entry(sample_data_dir, entry).frame
    assert list(frame.columns) == ["ts", "open", "high", "low", "close", "volume_usd", "is_closed"]
    assert frame["volume_usd"].notna().all()


def test_legacy_pair_taker_files_are_marked_base_coin(sample_data_dir: Path) -> None:
    legacy = [e for e in manifest(sample_data_dir) if e["endpoint"] == ep.TAKER_PAIR_HISTORY_LEGACY]
    assert legacy and all(e["value_unit"] == "base_coin" for e in legacy)
    for entry in legacy:
        parsed = ep.parse_series_response(
            entry["endpoint"], data_of(sample_data_dir, entry), interval="4h", now=NOW
        )
        assert parsed.value_unit == UNIT_BASE_COIN
        assert set(parsed.frame["value_unit"]) == {UNIT_BASE_COIN}
        assert "taker_buy_volume_usd" not in parsed.frame.columns  # no column claims USD
        assert list(parsed.frame.columns) == ["ts", "buy_volume", "sell_volume", "value_unit", "is_closed"]


def test_aggregated_taker_is_usd(sample_data_dir: Path) -> None:
    entry = next(e for e in manifest(sample_data_dir) if e["endpoint"] == ep.TAKER_AGGREGATED_HISTORY)
    parsed = parse_entry(sample_data_dir, entry)
    assert isinstance(parsed, ParsedFrame) and parsed.value_unit == UNIT_USD


def test_recorded_liquidation_exchange_list_uses_camel_case_and_parses(sample_data_dir: Path) -> None:
    entry = next(e for e in manifest(sample_data_dir) if e["endpoint"] == ep.LIQUIDATION_EXCHANGE_LIST)
    raw = data_of(sample_data_dir, entry)
    assert "longLiquidation_usd" in raw[0]
    frame = parse_liquidation_exchange_list(raw).frame
    assert list(frame.columns) == [
        "exchange",
        "liquidation_usd",
        "long_liquidation_usd",
        "short_liquidation_usd",
    ]
    assert frame["exchange"].iloc[0] == "All"
    assert frame["long_liquidation_usd"].iloc[0] == raw[0]["longLiquidation_usd"]


def test_recorded_etf_flows_unpublished_days_are_nan(sample_data_dir: Path) -> None:
    raw = data_of(
        sample_data_dir,
        next(e for e in manifest(sample_data_dir) if e["endpoint"] == ep.ETF_BITCOIN_FLOW_HISTORY),
    )
    parsed = parse_etf_flows(raw, now=NOW)
    frame = parsed.frame
    assert list(frame.columns) == [
        "ts",
        "flow_usd",
        "price_usd",
        "etf_flows_json",
        "is_published",
        "is_closed",
    ]
    unpublished = [
        r for r in raw if r["flow_usd"] == 0 and all(t["flow_usd"] is None for t in r["etf_flows"])
    ]
    assert unpublished  # the recording has such days (e.g. 2024-01-15)
    assert (~frame["is_published"]).sum() == len(unpublished)
    assert frame.loc[~frame["is_published"], "flow_usd"].isna().all()
    assert frame.loc[frame["is_published"], "flow_usd"].notna().all()
    first = json.loads(frame["etf_flows_json"].iloc[0])
    assert first["IBIT"] == 111700000 and first["BTC"] is None


def test_recorded_funding_exchange_list_flattens_margins(sample_data_dir: Path) -> None:
    raw = data_of(
        sample_data_dir,
        next(e for e in manifest(sample_data_dir) if e["endpoint"] == ep.FUNDING_EXCHANGE_LIST),
    )
    frame = parse_funding_exchange_list(raw).frame
    assert list(frame.columns) == [
        "coin",
        "exchange",
        "margin",
        "interval_hours",
        "funding_rate",
        "next_funding_ts",
    ]
    assert set(frame["margin"]) == {"stablecoin", "token"}
    btc = frame[(frame["coin"] == "BTC") & (frame["margin"] == "stablecoin")].set_index("exchange")
    assert btc.loc["Binance", "interval_hours"] == 8 and btc.loc["dYdX", "interval_hours"] == 1
    assert pd.isna(btc.loc["dYdX", "next_funding_ts"])
    assert str(frame["next_funding_ts"].dtype) == "datetime64[ns, UTC]"
    pol = frame[(frame["coin"] == "POL") & (frame["exchange"] == "Binance")]
    assert (pol["interval_hours"] == 4).any()  # coinglass-v4.md: POL on Binance settles every 4 h


def test_recorded_pairs_markets_give_instruments(sample_data_dir: Path) -> None:
    raw = data_of(
        sample_data_dir,
        next(
            e
            for e in manifest(sample_data_dir)
            if e["endpoint"] == ep.PAIRS_MARKETS and e["params"]["symbol"] == "BTC"
        ),
    )
    frame = parse_pairs_markets(raw, coin="BTC").frame
    assert list(frame.columns) == ["exchange", "instrument_id", "base", "quote"]
    row = frame[(frame["exchange"] == "Binance") & (frame["instrument_id"] == "BTCUSDT")].iloc[0]
    assert (row["base"], row["quote"]) == ("BTC", "USDT")


def test_synthetic_reference_endpoints_parse() -> None:
    for entry in manifest(SYNTHETIC_ENDPOINTS_DIR):
        if entry["endpoint"] in UNPARSED_REFERENCE:
            continue  # read as raw lists (test_client_replay) or not used by the pipeline
        parsed = parse_entry(SYNTHETIC_ENDPOINTS_DIR, entry)
        assert len(parsed.frame) > 0, entry["file"]


# -- drift, hand-built ---------------------------------------------------------------------------


def bars(n: int, start: int = T0, step: int = H4, **values: Any) -> list[dict[str, Any]]:
    return [
        {"time": start + i * step, **{k: (v(i) if callable(v) else v) for k, v in values.items()}}
        for i in range(n)
    ]


def test_numbers_as_strings_ints_floats_and_nulls() -> None:
    rows = [
        {"time": T0, "open": "1.5", "high": 2, "low": 1.25, "close": None},
        {"time": str(T0 + H4), "open": 1, "high": "  3 ", "low": "", "close": "null"},
        {"time": float(T0 + 2 * H4), "open": "NaN", "high": 4.0, "low": "-1e-3", "close": "0"},
    ]
    frame = parse_ohlc(rows, interval="4h", now=NOW).frame
    assert frame["open"].iloc[0] == 1.5 and frame["high"].iloc[1] == 3.0 and frame["low"].iloc[2] == -0.001
    assert (
        math.isnan(frame["close"].iloc[0])
        and math.isnan(frame["low"].iloc[1])
        and math.isnan(frame["open"].iloc[2])
    )
    assert frame["close"].iloc[2] == 0.0
    assert all(frame[c].dtype == np.float64 for c in ("open", "high", "low", "close"))


def test_time_becomes_tz_aware_utc_ts() -> None:
    frame = parse_ohlc(bars(1, open=1, high=1, low=1, close=1), interval="4h", now=NOW).frame
    assert frame["ts"].iloc[0] == pd.Timestamp("2025-05-20T00:00:00Z")
    assert frame["ts"].dt.tz is not None


def test_open_bar_is_flagged() -> None:
    now = datetime(2025, 5, 20, 9, 30, tzinfo=UTC)
    parsed = parse_ohlc(bars(3, open=1, high=1, low=1, close=1), interval="4h", now=now)
    assert parsed.frame["is_closed"].tolist() == [True, True, False]  # 08:00 bar closes at 12:00
    assert parsed.open_bars == 1
    exactly = parse_ohlc(
        bars(3, open=1, high=1, low=1, close=1), interval="4h", now=datetime(2025, 5, 20, 12, tzinfo=UTC)
    )
    assert exactly.frame["is_closed"].all()  # open + interval <= now


def test_duplicates_keep_the_last_as_received_and_are_counted() -> None:
    rows = [
        {"time": T0, "aggregated_long_liquidation_usd": 1, "aggregated_short_liquidation_usd": 2},
        {"time": T0 + H4, "aggregated_long_liquidation_usd": 3, "aggregated_short_liquidation_usd": 4},
        {"time": T0, "aggregated_long_liquidation_usd": 10, "aggregated_short_liquidation_usd": 20},
        {"time": T0 + H4, "aggregated_long_liquidation_usd": 3, "aggregated_short_liquidation_usd": 4},
    ]
    parsed = parse_liquidation_aggregated(rows, interval="4h", now=NOW)
    assert parsed.duplicates_dropped == 2 and parsed.rows_received == 4 and len(parsed) == 2
    assert parsed.frame["long_liquidation_usd"].tolist() == [10.0, 3.0]
    assert parsed.was_unsorted  # T0 came after T0 + 4h


def test_unsorted_rows_are_sorted_and_reported() -> None:
    rows = bars(5, open=1, high=1, low=1, close=lambda i: i)
    shuffled = [rows[i] for i in (3, 0, 4, 1, 2)]
    parsed = parse_ohlc(shuffled, interval="4h", now=NOW)
    assert parsed.was_unsorted and parsed.duplicates_dropped == 0
    assert parsed.frame["close"].tolist() == [0, 1, 2, 3, 4]
    assert not parse_ohlc(rows, interval="4h", now=NOW).was_unsorted


def test_camel_case_liquidation_aliases() -> None:
    rows = [
        {"time": T0, "longLiquidation_usd": 5, "shortLiquidation_usd": "6"},
        {"time": T0 + H4, "long_liquidation_usd": 7, "short_liquidation_usd": 8},  # mixed within one response
    ]
    frame = parse_liquidation_pair(rows, interval="4h", now=NOW).frame
    assert frame[["long_liquidation_usd", "short_liquidation_usd"]].values.tolist() == [[5, 6], [7, 8]]
    agg = parse_liquidation_aggregated(rows[:1], interval="4h", now=NOW).frame
    assert agg["long_liquidation_usd"].iloc[0] == 5


def test_renamed_field_is_schema_drift_naming_missing_and_seen() -> None:
    rows = [{"time": T0, "buy_vol_usd": 1, "aggregated_sell_volume_usd": 2}]
    with pytest.raises(SchemaDriftError) as info:
        parse_taker_aggregated(rows, interval="4h", now=NOW, endpoint=ep.TAKER_AGGREGATED_HISTORY)
    text = str(info.value)
    assert "'aggregated_buy_volume_usd'" in text  # the missing field
    assert "buy_vol_usd" in text and "aggregated_sell_volume_usd" in text  # the fields seen
    assert ep.TAKER_AGGREGATED_HISTORY in text
    assert isinstance(info.value, MalformedResponseError)


def test_missing_time_is_schema_drift() -> None:
    with pytest.raises(SchemaDriftError, match="'time'"):
        parse_ohlc([{"timestamp": T0, "open": 1, "high": 1, "low": 1, "close": 1}], interval="4h", now=NOW)
    with pytest.raises(SchemaDriftError, match="'time' is absent from 1 of 2 rows"):
        parse_ohlc(
            [{"time": T0, "open": 1, "high": 1, "low": 1, "close": 1}, {"open": 1}], interval="4h", now=NOW
        )
    with pytest.raises(SchemaDriftError, match="1 rows have no 'time'"):  # present but null
        parse_ohlc(
            [{"time": T0, "open": 1, "high": 1, "low": 1, "close": 1}, {"time": None, "open": 1}],
            interval="4h",
            now=NOW,
        )


def test_field_absent_from_some_rows_is_drift_but_null_is_data() -> None:
    full = {"time": T0, "open": 1, "high": 2, "low": 0.5, "close": 1.5}
    renamed = {"time": T0 + 4 * 3_600_000, "open": 1, "high": 2, "low": 0.5, "close_renamed": 1.5}
    with pytest.raises(SchemaDriftError, match="'close' is absent from 1 of 2 rows") as info:
        parse_ohlc([full, renamed], interval="4h", now=NOW)
    assert "close_renamed" in str(info.value)
    nulled = {**renamed, "close": None}
    del nulled["close_renamed"]
    parsed = parse_ohlc([full, nulled], interval="4h", now=NOW)
    assert parsed.frame["close"].isna().tolist() == [False, True]


def test_time_in_seconds_is_drift_not_1970() -> None:
    with pytest.raises(SchemaDriftError, match="epoch-ms"):
        parse_ohlc([{"time": T0 // 1000, "open": 1, "high": 1, "low": 1, "close": 1}], interval="4h", now=NOW)


def test_non_numeric_value_is_schema_drift() -> None:
    with pytest.raises(SchemaDriftError, match=r"'close'.*'abc'"):
        parse_ohlc([{"time": T0, "open": 1, "high": 1, "low": 1, "close": "abc"}], interval="4h", now=NOW)
    with pytest.raises(SchemaDriftError):
        parse_ohlc([{"time": T0, "open": True, "high": 1, "low": 1, "close": 1}], interval="4h", now=NOW)


def test_extra_fields_are_listed_not_fatal() -> None:
    parsed = parse_ohlc(bars(2, open=1, high=1, low=1, close=1, new_field=3), interval="4h", now=NOW)
    assert parsed.unknown_fields == ("new_field",)


def test_empty_and_non_list_data() -> None:
    parsed = parse_ohlc([], interval="8h", now=NOW)
    assert parsed.rows_received == 0 and list(parsed.frame.columns) == [
        "ts",
        "open",
        "high",
        "low",
        "close",
        "is_closed",
    ]
    assert str(parsed.frame["ts"].dtype) == "datetime64[ns, UTC]"
    with pytest.raises(MalformedResponseError, match="list of rows"):
        parse_ohlc({"time": T0}, interval="4h", now=NOW)
    with pytest.raises(MalformedResponseError, match="JSON objects"):
        parse_ohlc([[T0, 1, 2, 3, 4]], interval="4h", now=NOW)


def test_pair_taker_units() -> None:
    rows = bars(2, taker_buy_volume_usd="1.5", taker_sell_volume_usd=2)
    usd = parse_taker_pair(rows, interval="4h", now=NOW)
    base = parse_taker_pair(rows, interval="4h", now=NOW, value_unit=UNIT_BASE_COIN)
    assert usd.value_unit == UNIT_USD and base.value_unit == UNIT_BASE_COIN
    assert usd.frame["buy_volume"].tolist() == base.frame["buy_volume"].tolist() == [1.5, 1.5]  # values kept
    with pytest.raises(ValueError):
        parse_taker_pair(rows, interval="4h", now=NOW, value_unit="eur")


def test_etf_not_published_null_price_and_string_flows() -> None:
    day = 86_400_000
    rows = [
        {
            "timestamp": T0,
            "flow_usd": 0,
            "price_usd": None,
            "etf_flows": [{"etf_ticker": "IBIT", "flow_usd": None}],
        },
        {
            "timestamp": T0 + day,
            "flow_usd": "12.5",
            "price_usd": 100,
            "etf_flows": [{"etf_ticker": "IBIT", "flow_usd": 12.5}],
        },
        {
            "timestamp": T0 + 2 * day,
            "flow_usd": 0,
            "price_usd": 101.5,
            "etf_flows": [{"etf_ticker": "IBIT", "flow_usd": 0}, {"etf_ticker": "GBTC", "flow_usd": None}],
        },
    ]
    frame = parse_etf_flows(rows, now=NOW).frame
    assert frame["is_published"].tolist() == [False, True, True]  # a real 0 flow stays 0
    assert (
        math.isnan(frame["flow_usd"].iloc[0])
        and frame["flow_usd"].iloc[1] == 12.5
        and frame["flow_usd"].iloc[2] == 0
    )
    assert math.isnan(frame["price_usd"].iloc[0])
    assert json.loads(frame["etf_flows_json"].iloc[2]) == {"IBIT": 0, "GBTC": None}


def test_liquidation_exchange_list_renamed_field_is_drift() -> None:
    with pytest.raises(SchemaDriftError, match="long_liquidation_usd"):
        parse_liquidation_exchange_list(
            [{"exchange": "All", "liquidation_usd": 1, "longLiq": 1, "short_liquidation_usd": 0}]
        )


def test_supported_exchange_pairs_and_name_lists() -> None:
    frame = parse_supported_exchange_pairs(
        {"Binance": [{"instrument_id": "BTCUSDT", "base_asset": "BTC", "quote_asset": "USDT"}], "OKX": []}
    ).frame
    assert frame.to_dict("records") == [
        {"exchange": "Binance", "instrument_id": "BTCUSDT", "base": "BTC", "quote": "USDT"}
    ]
    with pytest.raises(MalformedResponseError):
        parse_supported_exchange_pairs([])


def test_to_float() -> None:
    assert to_float(" 1e3 ") == 1000.0 and math.isnan(to_float(None)) and math.isnan(to_float("-"))


# -- the synthetic drift folder, read directly -----------------------------------------------------


def drift_entry(endpoint: str) -> tuple[dict[str, Any], Any]:
    entry = next(e for e in manifest(SYNTHETIC_DRIFT_DIR) if e["endpoint"] == endpoint)
    return entry, data_of(SYNTHETIC_DRIFT_DIR, entry)


def test_synthetic_shuffled_liquidations_with_duplicates() -> None:
    entry, raw = drift_entry(ep.LIQUIDATION_AGGREGATED_HISTORY)
    parsed = parse_liquidation_aggregated(raw, interval="4h", now=NOW)
    assert parsed.was_unsorted and parsed.duplicates_dropped == entry["duplicate_timestamps"] == 3
    assert len(parsed) == entry["rows"] - 3 and parsed.frame["ts"].is_unique
    times = [r["time"] for r in raw]
    changed = next(
        t for t in times if times.count(t) > 1 and len({json.dumps(r) for r in raw if r["time"] == t}) > 1
    )
    last = [r for r in raw if r["time"] == changed][-1]
    got = parsed.frame.loc[
        parsed.frame["ts"] == pd.Timestamp(changed, unit="ms", tz="UTC"), "long_liquidation_usd"
    ]
    assert got.iloc[0] == last["aggregated_long_liquidation_usd"]


def test_synthetic_mixed_ohlc_types_and_nulls() -> None:
    _, raw = drift_entry(ep.OI_AGGREGATED_HISTORY)
    frame = parse_ohlc(raw, interval="4h", now=NOW).frame
    assert (
        frame["close"].isna().sum() == 2
        and math.isnan(frame["high"].iloc[13])
        and math.isnan(frame["low"].iloc[13])
    )
    assert frame["open"].notna().all()


def test_synthetic_funding_and_etf_drift() -> None:
    _, funding = drift_entry(ep.FUNDING_HISTORY)
    frame = parse_ohlc(funding, interval="8h", now=NOW).frame
    assert frame["close"].iloc[5] == 0 and math.isnan(frame["close"].iloc[17])
    _, etf = drift_entry(ep.ETF_BITCOIN_FLOW_HISTORY)
    etf_frame = parse_etf_flows(etf, now=NOW).frame
    assert etf_frame["price_usd"].isna().sum() == 2 and etf_frame["flow_usd"].dtype == np.float64
