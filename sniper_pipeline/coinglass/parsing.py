"""Rows of v4 responses -> typed pandas frames, tolerant of the drift seen in real responses.

Tolerated (coinglass-v4.md "Drift"): numbers as strings, ints or floats; nulls (-> NaN);
camelCase liquidation fields; duplicate bars (the last as received is kept, and counted);
unsorted bars (sorted, and reported); extra fields (ignored, and listed). Not tolerated:
a needed field that no row carries under any known name, or a value that is not a
number: that is a `SchemaDriftError` naming the field and the fields seen, because
guessing would put wrong numbers in the warehouse.

No unit conversion happens here: funding stays PERCENT per settlement in the generic
OHLC `close`. Where the unit of a series depends on its source (pair taker volume:
USD on `v2/`, base coin on the older path; aggregated taker volume: the request's
`unit`, usd or coin) the frame carries a `value_unit` column. Field names do not tell:
every taker path names its fields `*_usd` whatever the unit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from sniper_pipeline.coinglass.clock import interval_timedelta
from sniper_pipeline.coinglass.errors import MalformedResponseError, SchemaDriftError
from sniper_pipeline.settings.timeutil import to_utc

UNIT_USD = "usd"
UNIT_BASE_COIN = "base_coin"
_NULL_STRINGS = frozenset({"", "null", "none", "nan", "n/a", "-"})


@dataclass(frozen=True)
class ParsedFrame:
    """A parsed response: the typed frame plus what the parser had to repair."""

    frame: pd.DataFrame
    rows_received: int
    duplicates_dropped: int = 0
    was_unsorted: bool = False
    value_unit: str | None = None
    unknown_fields: tuple[str, ...] = ()
    open_bars: int = 0

    def __len__(self) -> int:
        return len(self.frame)


@dataclass(frozen=True)
class FieldSpec:
    """One output column and the input names accepted for it (the documented name first)."""

    column: str
    names: tuple[str, ...]
    required: bool = True
    kind: str = "float"  # "float" | "str" | "int" | "ms"


# -- value conversion -------------------------------------------------------------------------


class BadValueError(ValueError):
    """A value that is neither a number nor null (internal: parsers turn it into SchemaDriftError)."""


def to_float(value: Any) -> float:
    """A number as the API may send it (int, float, numeric string, null) -> float; NaN for null."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        raise BadValueError(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _NULL_STRINGS:
            return math.nan
        try:
            return float(text)
        except ValueError:
            raise BadValueError(value) from None
    raise BadValueError(value)


def to_epoch_ms(value: Any) -> int:
    """A row time (int, integral float or numeric string, epoch ms) -> int; raises on anything else."""
    number = to_float(value)
    if math.isnan(number) or math.isinf(number):
        raise BadValueError(value)
    # Epoch seconds would land in 1970: a unit drift, not a time.
    if number < 10**11:
        raise BadValueError(value)
    return int(number)


def _drift(
    endpoint: str | None, problem: str, seen: Iterable[str], remedy: str | None = None
) -> SchemaDriftError:
    return SchemaDriftError(
        f"schema drift: {problem}; fields seen: {sorted(set(seen))}",
        endpoint=endpoint,
        remedy=remedy,
    )


def _require_rows(data: Any, endpoint: str | None) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise MalformedResponseError(
            f"expected a list of rows in 'data', got {type(data).__name__}", endpoint=endpoint
        )
    bad = [i for i, row in enumerate(data) if not isinstance(row, dict)]
    if bad:
        raise MalformedResponseError(
            f"rows must be JSON objects; row {bad[0]} is {type(data[bad[0]]).__name__}", endpoint=endpoint
        )
    return data


def _seen_fields(rows: Sequence[Mapping[str, Any]]) -> set[str]:
    seen: set[str] = set()
    for row in rows:
        seen.update(row.keys())
    return seen


def _resolve(specs: Sequence[FieldSpec], seen: set[str], endpoint: str | None) -> dict[str, tuple[str, ...]]:
    """Which of each spec's names occur; a required field with none of them is drift."""
    found: dict[str, tuple[str, ...]] = {}
    for spec in specs:
        present = tuple(name for name in spec.names if name in seen)
        if not present and spec.required:
            accepted = " / ".join(repr(n) for n in spec.names)
            raise _drift(endpoint, f"no row has field {spec.names[0]!r} (accepted names: {accepted})", seen)
        found[spec.column] = present
    return found


def _column(
    rows: Sequence[Mapping[str, Any]],
    spec: FieldSpec,
    present: tuple[str, ...],
    endpoint: str | None,
    seen: set[str],
) -> list[Any]:
    """Values of one output column, row by row taking the first accepted name the row has.

    A required field absent from some rows (not null: absent) is drift too: the other rows
    prove the field exists, so those rows were renamed upstream (e.g. on one page of several)
    and reading them as nulls would pass them off as missing data.
    """
    out: list[Any] = []
    bad: list[Any] = []
    absent: list[int] = []
    for i, row in enumerate(rows):
        raw = None
        for name in present:
            if name in row:
                raw = row[name]
                break
        else:
            absent.append(i)
        if spec.kind == "str":
            out.append(None if raw is None else str(raw))
            continue
        try:
            if spec.kind == "ms":
                out.append(None if raw is None else to_epoch_ms(raw))
            else:
                out.append(to_float(raw))
        except BadValueError:
            bad.append(raw)
            out.append(math.nan)
    if absent and spec.required:
        raise _drift(
            endpoint,
            f"field {spec.names[0]!r} is absent from {len(absent)} of {len(rows)} rows "
            f"(first: row {absent[0]}, whose fields are {sorted(rows[absent[0]])})",
            seen,
        )
    if bad:
        what = "epoch-ms times" if spec.kind == "ms" else "numbers"
        raise _drift(
            endpoint,
            f"field {spec.column!r} has {len(bad)} values that are not {what}, e.g. {bad[0]!r}",
            seen,
        )
    return out


# -- time series ------------------------------------------------------------------------------


def _empty_series(columns: Sequence[str], str_columns: Sequence[str] = ()) -> pd.DataFrame:
    frame = pd.DataFrame({"ts": pd.Series([], dtype="datetime64[ns, UTC]")})
    for col in columns:
        frame[col] = pd.Series([], dtype=object if col in str_columns else "float64")
    frame["is_closed"] = pd.Series([], dtype=bool)
    return frame


def parse_series(
    data: Any,
    specs: Sequence[FieldSpec],
    *,
    interval: str,
    now: datetime,
    endpoint: str | None = None,
    time_field: str | Sequence[str] = "time",
    value_unit: str | None = None,
) -> ParsedFrame:
    """Generic bar series parser: `ts` (bar open, UTC), one column per spec, `is_closed`.

    Duplicated `ts` keep the last row as received; rows are sorted by `ts`.
    """
    rows = _require_rows(data, endpoint)
    time_names = (time_field,) if isinstance(time_field, str) else tuple(time_field)
    columns = [s.column for s in specs]
    unit_cols = ["value_unit"] if value_unit is not None else []
    if not rows:
        frame = _empty_series(columns + unit_cols, str_columns=unit_cols)
        return ParsedFrame(frame=frame, rows_received=0, value_unit=value_unit)
    seen = _seen_fields(rows)
    time_spec = FieldSpec("ts", time_names, kind="ms")
    found = _resolve([time_spec, *specs], seen, endpoint)
    times = _column(rows, time_spec, found["ts"], endpoint, seen)
    missing_time = [i for i, t in enumerate(times) if t is None]
    if missing_time:
        raise _drift(
            endpoint,
            f"{len(missing_time)} rows have no {time_names[0]!r} (first: row {missing_time[0]})",
            seen,
        )

    frame = pd.DataFrame({"ts": pd.to_datetime(np.asarray(times, dtype="int64"), unit="ms", utc=True)})
    for spec in specs:
        frame[spec.column] = np.asarray(
            _column(rows, spec, found[spec.column], endpoint, seen), dtype="float64"
        )
    if value_unit is not None:
        frame["value_unit"] = value_unit

    was_unsorted = not frame["ts"].is_monotonic_increasing
    if was_unsorted:
        # Stable sort: among equal times the order received is kept, so "last" below is last received.
        frame = frame.sort_values("ts", kind="mergesort")
    dup = frame["ts"].duplicated(keep="last")
    duplicates = int(dup.sum())
    if duplicates:
        frame = frame[~dup]
    frame = frame.reset_index(drop=True)
    closes_at = frame["ts"] + pd.Timedelta(interval_timedelta(interval))
    frame["is_closed"] = (closes_at <= pd.Timestamp(to_utc(now))).astype(bool)

    known = {name for spec in (time_spec, *specs) for name in spec.names}
    return ParsedFrame(
        frame=frame,
        rows_received=len(rows),
        duplicates_dropped=duplicates,
        was_unsorted=was_unsorted,
        value_unit=value_unit,
        unknown_fields=tuple(sorted(seen - known)),
        open_bars=int((~frame["is_closed"]).sum()),
    )


OHLC_FIELDS = (
    FieldSpec("open", ("open", "o")),
    FieldSpec("high", ("high", "h")),
    FieldSpec("low", ("low", "l")),
    FieldSpec("close", ("close", "c")),
)
VOLUME_FIELD = FieldSpec("volume_usd", ("volume_usd", "volumeUsd", "volume"), required=False)
AGG_LIQUIDATION_FIELDS = (
    FieldSpec(
        "long_liquidation_usd",
        (
            "aggregated_long_liquidation_usd",
            "long_liquidation_usd",
            "longLiquidation_usd",
            "longLiquidationUsd",
        ),
    ),
    FieldSpec(
        "short_liquidation_usd",
        (
            "aggregated_short_liquidation_usd",
            "short_liquidation_usd",
            "shortLiquidation_usd",
            "shortLiquidationUsd",
        ),
    ),
)
PAIR_LIQUIDATION_FIELDS = (
    FieldSpec("long_liquidation_usd", ("long_liquidation_usd", "longLiquidation_usd", "longLiquidationUsd")),
    FieldSpec(
        "short_liquidation_usd", ("short_liquidation_usd", "shortLiquidation_usd", "shortLiquidationUsd")
    ),
)
AGG_TAKER_FIELDS = (
    FieldSpec("buy_volume", ("aggregated_buy_volume_usd", "buy_volume_usd", "aggregatedBuyVolumeUsd")),
    FieldSpec("sell_volume", ("aggregated_sell_volume_usd", "sell_volume_usd", "aggregatedSellVolumeUsd")),
)
PAIR_TAKER_FIELDS = (
    FieldSpec("buy_volume", ("taker_buy_volume_usd", "buy_volume_usd", "takerBuyVolumeUsd", "buy_vol")),
    FieldSpec("sell_volume", ("taker_sell_volume_usd", "sell_volume_usd", "takerSellVolumeUsd", "sell_vol")),
)


def parse_ohlc(
    data: Any,
    *,
    interval: str,
    now: datetime,
    endpoint: str | None = None,
    require_volume: bool = False,
) -> ParsedFrame:
    """Funding (PERCENT per settlement), OI and price bars: ts, open, high, low, close[, volume_usd],
    is_closed.

    `volume_usd` is present when any row carries it (price history), NaN where a row lacks it.
    """
    rows = _require_rows(data, endpoint)
    has_volume = require_volume or any(name in row for row in rows for name in VOLUME_FIELD.names)
    volume = FieldSpec(VOLUME_FIELD.column, VOLUME_FIELD.names, required=require_volume)
    specs = (*OHLC_FIELDS, volume) if has_volume else OHLC_FIELDS
    return parse_series(rows, specs, interval=interval, now=now, endpoint=endpoint)


def parse_liquidation_aggregated(
    data: Any, *, interval: str, now: datetime, endpoint: str | None = None
) -> ParsedFrame:
    """ts, long_liquidation_usd, short_liquidation_usd, is_closed (from aggregated_* fields)."""
    return parse_series(data, AGG_LIQUIDATION_FIELDS, interval=interval, now=now, endpoint=endpoint)


def parse_liquidation_pair(
    data: Any, *, interval: str, now: datetime, endpoint: str | None = None
) -> ParsedFrame:
    """ts, long_liquidation_usd, short_liquidation_usd, is_closed (camelCase accepted)."""
    return parse_series(data, PAIR_LIQUIDATION_FIELDS, interval=interval, now=now, endpoint=endpoint)


def parse_taker_aggregated(
    data: Any,
    *,
    interval: str,
    now: datetime,
    endpoint: str | None = None,
    value_unit: str = UNIT_USD,
) -> ParsedFrame:
    """ts, buy_volume, sell_volume, value_unit, is_closed.

    `value_unit` follows the request's `unit` param: "usd" (the API default) or "base_coin"
    for unit=coin, whose rows keep the `aggregated_*_volume_usd` names.
    """
    _check_value_unit(value_unit)
    return parse_series(
        data, AGG_TAKER_FIELDS, interval=interval, now=now, endpoint=endpoint, value_unit=value_unit
    )


def _check_value_unit(value_unit: str) -> None:
    if value_unit not in (UNIT_USD, UNIT_BASE_COIN):
        raise ValueError(f"value_unit must be {UNIT_USD!r} or {UNIT_BASE_COIN!r}")


def parse_taker_pair(
    data: Any,
    *,
    interval: str,
    now: datetime,
    endpoint: str | None = None,
    value_unit: str = UNIT_USD,
) -> ParsedFrame:
    """ts, buy_volume, sell_volume, value_unit, is_closed.

    The API names the fields `taker_*_volume_usd`, but the pre-`v2/` path answers base-coin
    quantities: the columns drop the `_usd` suffix and `value_unit` says which unit holds.
    """
    _check_value_unit(value_unit)
    return parse_series(
        data, PAIR_TAKER_FIELDS, interval=interval, now=now, endpoint=endpoint, value_unit=value_unit
    )


# -- ETF flows --------------------------------------------------------------------------------

ETF_ENDPOINT = "/api/etf/bitcoin/flow-history"


def parse_etf_flows(data: Any, *, now: datetime, endpoint: str | None = ETF_ENDPOINT) -> ParsedFrame:
    """Daily ETF flows: ts, flow_usd, price_usd, etf_flows_json, is_published, is_closed.

    A day with `flow_usd` 0 and every ticker flow null was not published yet: flow_usd NaN,
    is_published False (design.md section 3). Per-ticker flows stay as a JSON string
    `{"IBIT": 1.1e8, "GBTC": null, ...}` in received order.
    """
    rows = _require_rows(data, endpoint)
    specs = (
        FieldSpec("flow_usd", ("flow_usd", "flowUsd", "change_usd")),
        FieldSpec("price_usd", ("price_usd", "priceUsd", "price"), required=False),
    )
    parsed = parse_series(
        rows, specs, interval="1d", now=now, endpoint=endpoint, time_field=("timestamp", "time", "date")
    )
    frame = parsed.frame
    if not rows:
        frame["etf_flows_json"] = pd.Series([], dtype=object)
        frame["is_published"] = pd.Series([], dtype=bool)
        frame = frame[["ts", "flow_usd", "price_usd", "etf_flows_json", "is_published", "is_closed"]]
        return ParsedFrame(frame=frame, rows_received=0)
    # Rebuild per-row ticker maps keyed by ts, honouring the parser's "last duplicate wins".
    by_ts: dict[int, tuple[str, bool]] = {}
    for row in rows:
        ms = to_epoch_ms(row.get("timestamp", row.get("time", row.get("date"))))
        tickers = _ticker_flows(row.get("etf_flows"), endpoint)
        flow = to_float(row.get("flow_usd", row.get("flowUsd", row.get("change_usd"))))
        unpublished = flow == 0 and all(
            v is None or (isinstance(v, float) and math.isnan(v)) for v in tickers.values()
        )
        by_ts[ms] = (json.dumps(tickers, allow_nan=False, default=_json_default), not unpublished)
    keys = (frame["ts"].astype("int64") // 1_000_000).tolist()
    frame["etf_flows_json"] = [by_ts[k][0] for k in keys]
    frame["is_published"] = np.array([by_ts[k][1] for k in keys], dtype=bool)
    frame.loc[~frame["is_published"], "flow_usd"] = np.nan
    frame = frame[["ts", "flow_usd", "price_usd", "etf_flows_json", "is_published", "is_closed"]]
    return ParsedFrame(
        frame=frame.reset_index(drop=True),
        rows_received=parsed.rows_received,
        duplicates_dropped=parsed.duplicates_dropped,
        was_unsorted=parsed.was_unsorted,
        unknown_fields=tuple(f for f in parsed.unknown_fields if f != "etf_flows"),
        open_bars=parsed.open_bars,
    )


def _json_default(value: Any) -> Any:
    raise TypeError(f"not JSON serialisable: {value!r}")


def _ticker_flows(value: Any, endpoint: str | None) -> dict[str, float | None]:
    if value is None:
        return {}
    if not isinstance(value, list):
        raise _drift(endpoint, f"'etf_flows' is {type(value).__name__}, expected a list", ["etf_flows"])
    out: dict[str, float | None] = {}
    for item in value:
        if not isinstance(item, dict):
            raise _drift(endpoint, "an 'etf_flows' item is not an object", ["etf_flows"])
        ticker = item.get("etf_ticker", item.get("ticker"))
        if ticker is None:
            raise _drift(endpoint, "an 'etf_flows' item has no 'etf_ticker'", item.keys())
        try:
            number = to_float(item.get("flow_usd", item.get("flowUsd")))
        except BadValueError:
            raise _drift(endpoint, f"ticker {ticker} flow_usd is not a number", item.keys()) from None
        out[str(ticker)] = None if math.isnan(number) else number
    return out


# -- reference snapshots ----------------------------------------------------------------------


def _frame(records: list[dict[str, Any]], columns: Sequence[str], dtypes: Mapping[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records, columns=list(columns))
    for col, dtype in dtypes.items():
        frame[col] = frame[col].astype(dtype)
    return frame


def parse_funding_exchange_list(data: Any, *, endpoint: str | None = None) -> ParsedFrame:
    """Current funding settings: coin, exchange, margin ("stablecoin"/"token"), interval_hours,
    funding_rate (as sent), next_funding_ts (NaT when absent). interval_hours is NaN when missing
    (the ingest then assumes 8 h and flags it)."""
    rows = _require_rows(data, endpoint)
    records: list[dict[str, Any]] = []
    if rows:
        seen = _seen_fields(rows)
        if "symbol" not in seen:
            raise _drift(endpoint, "no row has field 'symbol'", seen)
        if not seen & {"stablecoin_margin_list", "token_margin_list"}:
            raise _drift(endpoint, "no row has 'stablecoin_margin_list' or 'token_margin_list'", seen)
    for row in rows:
        coin = row.get("symbol")
        for margin, key in (("stablecoin", "stablecoin_margin_list"), ("token", "token_margin_list")):
            items = row.get(key) or []
            if not isinstance(items, list):
                raise _drift(
                    endpoint, f"{key} of {coin} is {type(items).__name__}, expected a list", row.keys()
                )
            for item in items:
                if not isinstance(item, dict) or "exchange" not in item:
                    raise _drift(endpoint, f"an item of {key} of {coin} has no 'exchange'", row.keys())
                try:
                    hours = to_float(item.get("funding_rate_interval", item.get("fundingRateInterval")))
                    rate = to_float(item.get("funding_rate", item.get("fundingRate")))
                    nxt = item.get("next_funding_time", item.get("nextFundingTime"))
                    next_ms = None if nxt is None else to_epoch_ms(nxt)
                except BadValueError as exc:
                    raise _drift(
                        endpoint, f"{coin}@{item.get('exchange')}: bad value {exc.args[0]!r}", item
                    ) from None
                records.append(
                    {
                        "coin": str(coin),
                        "exchange": str(item["exchange"]),
                        "margin": margin,
                        "interval_hours": hours,
                        "funding_rate": rate,
                        "next_funding_ts": next_ms,
                    }
                )
    frame = _frame(
        records,
        ["coin", "exchange", "margin", "interval_hours", "funding_rate", "next_funding_ts"],
        {"interval_hours": "float64", "funding_rate": "float64"},
    )
    frame["next_funding_ts"] = pd.to_datetime(frame["next_funding_ts"].astype("Float64"), unit="ms", utc=True)
    return ParsedFrame(frame=frame, rows_received=len(rows))


LIQ_EXCHANGE_FIELDS = (
    FieldSpec("exchange", ("exchange", "exchange_name", "exName"), kind="str"),
    FieldSpec("liquidation_usd", ("liquidation_usd", "liquidationUsd")),
    FieldSpec("long_liquidation_usd", ("long_liquidation_usd", "longLiquidation_usd", "longLiquidationUsd")),
    FieldSpec(
        "short_liquidation_usd", ("short_liquidation_usd", "shortLiquidation_usd", "shortLiquidationUsd")
    ),
)


def _parse_table(data: Any, specs: Sequence[FieldSpec], endpoint: str | None) -> ParsedFrame:
    rows = _require_rows(data, endpoint)
    columns = [s.column for s in specs]
    dtypes = {s.column: ("float64" if s.kind == "float" else "object") for s in specs}
    if not rows:
        return ParsedFrame(frame=_frame([], columns, dtypes), rows_received=0)
    seen = _seen_fields(rows)
    found = _resolve(specs, seen, endpoint)
    values = {s.column: _column(rows, s, found[s.column], endpoint, seen) for s in specs}
    frame = pd.DataFrame(values, columns=columns)
    for col, dtype in dtypes.items():
        frame[col] = frame[col].astype(dtype)
    known = {n for s in specs for n in s.names}
    return ParsedFrame(frame=frame, rows_received=len(rows), unknown_fields=tuple(sorted(seen - known)))


def parse_liquidation_exchange_list(data: Any, *, endpoint: str | None = None) -> ParsedFrame:
    """exchange, liquidation_usd, long_liquidation_usd, short_liquidation_usd; first row is "All"."""
    return _parse_table(data, LIQ_EXCHANGE_FIELDS, endpoint)


INSTRUMENT_COLUMNS = ("exchange", "instrument_id", "base", "quote")


def _split_pair(symbol: str | None) -> tuple[str | None, str | None]:
    if not symbol:
        return None, None
    for sep in ("/", "-", "_"):
        if sep in symbol:
            base, _, quote = symbol.partition(sep)
            return base or None, quote or None
    return None, None


def parse_pairs_markets(data: Any, *, coin: str | None = None, endpoint: str | None = None) -> ParsedFrame:
    """Instruments of one coin: exchange, instrument_id, base, quote (from `symbol` "BTC/USDT").

    Market figures (price, OI, volume) are left out: they are a snapshot, not a reference.
    """
    specs = (
        FieldSpec("exchange", ("exchange_name", "exchange", "exName"), kind="str"),
        FieldSpec("instrument_id", ("instrument_id", "instrumentId"), kind="str"),
        FieldSpec("symbol", ("symbol", "pair"), kind="str", required=False),
    )
    parsed = _parse_table(data, specs, endpoint)
    frame = parsed.frame
    pairs = [_split_pair(s) for s in frame["symbol"]]
    frame["base"] = [b if b is not None else coin for b, _ in pairs]
    frame["quote"] = [q for _, q in pairs]
    frame = frame[list(INSTRUMENT_COLUMNS)].astype(object)
    return ParsedFrame(frame=frame, rows_received=parsed.rows_received, unknown_fields=())


def parse_supported_exchange_pairs(data: Any, *, endpoint: str | None = None) -> ParsedFrame:
    """{exchange: [{instrument_id, base_asset, quote_asset}]} -> exchange, instrument_id, base, quote."""
    if not isinstance(data, dict):
        raise MalformedResponseError(
            f"expected an object exchange -> instruments in 'data', got {type(data).__name__}",
            endpoint=endpoint,
        )
    records: list[dict[str, Any]] = []
    for exchange, items in data.items():
        if not isinstance(items, list):
            raise _drift(
                endpoint, f"instruments of {exchange} are {type(items).__name__}, expected a list", []
            )
        for item in items:
            if not isinstance(item, dict) or not ({"instrument_id", "instrumentId"} & item.keys()):
                keys = item.keys() if isinstance(item, dict) else []
                raise _drift(endpoint, f"an instrument of {exchange} has no 'instrument_id'", keys)
            records.append(
                {
                    "exchange": str(exchange),
                    "instrument_id": str(item.get("instrument_id", item.get("instrumentId"))),
                    "base": _opt_str(item.get("base_asset", item.get("baseAsset"))),
                    "quote": _opt_str(item.get("quote_asset", item.get("quoteAsset"))),
                }
            )
    frame = _frame(records, INSTRUMENT_COLUMNS, {c: "object" for c in INSTRUMENT_COLUMNS})
    return ParsedFrame(frame=frame, rows_received=len(records))


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


__all__ = [
    "UNIT_BASE_COIN",
    "UNIT_USD",
    "FieldSpec",
    "ParsedFrame",
    "parse_etf_flows",
    "parse_funding_exchange_list",
    "parse_liquidation_aggregated",
    "parse_liquidation_exchange_list",
    "parse_liquidation_pair",
    "parse_ohlc",
    "parse_pairs_markets",
    "parse_series",
    "parse_supported_exchange_pairs",
    "parse_taker_aggregated",
    "parse_taker_pair",
    "to_float",
]
