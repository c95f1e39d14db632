"""The v4 endpoints the project uses (docs/coinglass-v4.md): bar series through `fetch_series`,
snapshots and reference data through one typed function each.

Parameters are validated client-side (interval, required names, limit) before the GET goes
through the client. `fetch_series` walks `end_time` pages (paging.py) and parses the result;
the snapshot functions make one request each.

`ENDPOINTS` maps each path to its spec (required params, time field, parser), so the
ingest layer can drive any layer from `config/layers.yaml` by path. Each spec lists exactly
the parameters CoinGlass v4 documents for the path (docs/coinglass-v4.md has the table per
endpoint and where each was confirmed): a documented parameter is sent as given, anything
else is refused before a request is made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sniper_pipeline.coinglass.clock import validate_interval
from sniper_pipeline.coinglass.errors import CoinGlassError, InvalidParameterError
from sniper_pipeline.coinglass.paging import MAX_LIMIT, HistoryResult, fetch_history
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
)


class ClientLike(Protocol):
    """What endpoint functions need from CoinGlassClient (a fixture-backed fake can provide it)."""

    def get(self, endpoint: str, params: Mapping[str, Any] | None = None) -> Any: ...

    def now(self) -> datetime: ...


# -- paths ------------------------------------------------------------------------------------

FUNDING_HISTORY = "/api/futures/funding-rate/history"
FUNDING_OI_WEIGHT_HISTORY = "/api/futures/funding-rate/oi-weight-history"
OI_AGGREGATED_HISTORY = "/api/futures/open-interest/aggregated-history"
LIQUIDATION_AGGREGATED_HISTORY = "/api/futures/liquidation/aggregated-history"
TAKER_AGGREGATED_HISTORY = "/api/futures/aggregated-taker-buy-sell-volume/history"
SPOT_TAKER_AGGREGATED_HISTORY = "/api/spot/aggregated-taker-buy-sell-volume/history"
TAKER_PAIR_HISTORY = "/api/futures/v2/taker-buy-sell-volume/history"
TAKER_PAIR_HISTORY_LEGACY = "/api/futures/taker-buy-sell-volume/history"  # base-coin units
ETF_BITCOIN_FLOW_HISTORY = "/api/etf/bitcoin/flow-history"
SUPPORTED_EXCHANGE_PAIRS = "/api/futures/supported-exchange-pairs"
SUPPORTED_COINS = "/api/futures/supported-coins"
SUPPORTED_EXCHANGES = "/api/futures/supported-exchanges"
FUNDING_EXCHANGE_LIST = "/api/futures/funding-rate/exchange-list"
LIQUIDATION_EXCHANGE_LIST = "/api/futures/liquidation/exchange-list"
PAIRS_MARKETS = "/api/futures/pairs-markets"
SPOT_PRICE_HISTORY = "/api/spot/price/history"
FUTURES_PRICE_HISTORY = "/api/futures/price/history"
LIQUIDATION_PAIR_HISTORY = "/api/futures/liquidation/history"
LIQUIDATION_ORDERS = "/api/futures/liquidation/order"

LIQUIDATION_RANGES = ("1h", "4h", "12h", "24h")
# The documented values of `unit` (aggregated OI and aggregated taker history); absent means usd.
UNIT_PARAM_VALUES = ("usd", "coin")
UNIT_PARAM_DEFAULT = "usd"

SeriesParser = Callable[..., ParsedFrame]


@dataclass(frozen=True)
class EndpointSpec:
    path: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    time_field: str | None = "time"  # None: a snapshot, not a bar series
    pages: bool = True  # accepts limit/start_time/end_time
    value_unit: str | None = None

    @property
    def is_series(self) -> bool:
        return self.time_field is not None


_HISTORY_OPTIONAL = ("start_time", "end_time", "limit")
_UNIT_HISTORY_OPTIONAL = ("unit", *_HISTORY_OPTIONAL)

# Required and optional names as the v4 reference documents them (docs/coinglass-v4.md).
# Deliberate differences are commented where they occur.
ENDPOINTS: dict[str, EndpointSpec] = {
    s.path: s
    for s in (
        EndpointSpec(FUNDING_HISTORY, ("exchange", "symbol", "interval"), _HISTORY_OPTIONAL),
        EndpointSpec(FUNDING_OI_WEIGHT_HISTORY, ("symbol", "interval"), _HISTORY_OPTIONAL),
        EndpointSpec(OI_AGGREGATED_HISTORY, ("symbol", "interval"), _UNIT_HISTORY_OPTIONAL),
        EndpointSpec(
            LIQUIDATION_AGGREGATED_HISTORY, ("symbol", "interval", "exchange_list"), _HISTORY_OPTIONAL
        ),
        EndpointSpec(
            TAKER_AGGREGATED_HISTORY, ("symbol", "interval", "exchange_list"), _UNIT_HISTORY_OPTIONAL
        ),
        EndpointSpec(
            SPOT_TAKER_AGGREGATED_HISTORY, ("symbol", "interval", "exchange_list"), _UNIT_HISTORY_OPTIONAL
        ),
        EndpointSpec(
            TAKER_PAIR_HISTORY, ("exchange", "symbol", "interval"), _HISTORY_OPTIONAL, value_unit=UNIT_USD
        ),
        # Replaced by v2/ in the current reference; kept with the params of its former v4 page.
        EndpointSpec(
            TAKER_PAIR_HISTORY_LEGACY,
            ("exchange", "symbol", "interval"),
            _HISTORY_OPTIONAL,
            value_unit=UNIT_BASE_COIN,
        ),
        EndpointSpec(ETF_BITCOIN_FLOW_HISTORY, (), time_field="timestamp", pages=False),
        EndpointSpec(SUPPORTED_EXCHANGE_PAIRS, (), ("exchange",), time_field=None, pages=False),
        EndpointSpec(SUPPORTED_COINS, (), time_field=None, pages=False),
        EndpointSpec(SUPPORTED_EXCHANGES, (), time_field=None, pages=False),
        EndpointSpec(FUNDING_EXCHANGE_LIST, (), time_field=None, pages=False),
        # `symbol` is optional upstream (omitted: every coin's total); liquidation_exchange_list
        # always names one.
        EndpointSpec(LIQUIDATION_EXCHANGE_LIST, ("range",), ("symbol",), time_field=None, pages=False),
        EndpointSpec(PAIRS_MARKETS, ("symbol",), time_field=None, pages=False),
        EndpointSpec(SPOT_PRICE_HISTORY, ("exchange", "symbol", "interval"), _HISTORY_OPTIONAL),
        # The reference marks `limit` mandatory here but also gives it a default (1000), and
        # answers without it: optional, like every other history.
        EndpointSpec(FUTURES_PRICE_HISTORY, ("exchange", "symbol", "interval"), _HISTORY_OPTIONAL),
        EndpointSpec(LIQUIDATION_PAIR_HISTORY, ("exchange", "symbol", "interval"), _HISTORY_OPTIONAL),
        EndpointSpec(
            LIQUIDATION_ORDERS,
            ("exchange", "symbol", "min_liquidation_amount"),
            ("start_time", "end_time"),
            pages=False,
        ),
    )
}


# -- validation -------------------------------------------------------------------------------


def _check_params(path: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Required params present and non-blank, interval/limit valid; returns params without None."""
    spec = ENDPOINTS[path]
    clean = {k: v for k, v in params.items() if v is not None}
    missing = [name for name in spec.required if name not in clean or str(clean[name]).strip() == ""]
    if missing:
        raise InvalidParameterError(
            f"missing required parameter(s) {missing}",
            endpoint=path,
            params=clean,
            remedy=f"{path} needs {', '.join(spec.required)}",
        )
    unknown = set(clean) - set(spec.required) - set(spec.optional)
    if unknown:
        raise InvalidParameterError(
            f"parameter(s) {sorted(unknown)} not accepted",
            endpoint=path,
            params=clean,
            remedy=f"{path} takes {', '.join((*spec.required, *spec.optional)) or 'no parameters'}",
        )
    if "unit" in clean and str(clean["unit"]) not in UNIT_PARAM_VALUES:
        raise InvalidParameterError(
            f"unit {clean['unit']!r} not accepted",
            endpoint=path,
            params=clean,
            remedy=f"unit is 'usd' or 'coin' (or None for the API default, {UNIT_PARAM_DEFAULT})",
        )
    if "interval" in clean:
        validate_interval(str(clean["interval"]), endpoint=path)
    if "limit" in clean:
        limit = clean["limit"]
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidParameterError(
                f"limit {limit!r} outside 1..{MAX_LIMIT}",
                endpoint=path,
                params=clean,
                remedy="page with end_time windows (fetch_series) for more than 1000 bars",
            )
    return clean


def _exchange_list(value: str | Sequence[str], path: str) -> str:
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [str(v).strip() for v in items if str(v).strip()]
    if not names:
        raise InvalidParameterError(
            "exchange_list is empty",
            endpoint=path,
            params={"exchange_list": value},
            remedy="name at least one exchange, e.g. 'OKX,Binance,Bybit'",
        )
    return ",".join(names)


def series_value_unit(path: str, params: Mapping[str, Any]) -> str | None:
    """Unit of the volumes a taker series answers with: the aggregated paths follow their
    `unit` param (coin -> base-coin quantities, absent -> USD), pair paths are fixed per path.
    None for series whose values carry no such unit (OI keeps its `unit` param as it is)."""
    if path in (TAKER_AGGREGATED_HISTORY, SPOT_TAKER_AGGREGATED_HISTORY):
        unit = params.get("unit")
        return UNIT_BASE_COIN if unit is not None and str(unit) == "coin" else UNIT_USD
    spec = ENDPOINTS.get(path)
    return spec.value_unit if spec is not None else None


def parse_series_response(
    path: str, data: Any, *, interval: str, now: datetime, value_unit: str | None = None
) -> ParsedFrame:
    """Parse a bar-series response of `path` (also used on rows gathered by fetch_history).

    `value_unit` names the unit of taker volumes when the caller knows it (series_value_unit of
    the request, or a recording's own unit check); otherwise the path's documented default.
    """
    if path in (FUNDING_HISTORY, FUNDING_OI_WEIGHT_HISTORY, OI_AGGREGATED_HISTORY):
        return parse_ohlc(data, interval=interval, now=now, endpoint=path)
    if path in (SPOT_PRICE_HISTORY, FUTURES_PRICE_HISTORY):
        return parse_ohlc(data, interval=interval, now=now, endpoint=path, require_volume=True)
    if path == LIQUIDATION_AGGREGATED_HISTORY:
        return parse_liquidation_aggregated(data, interval=interval, now=now, endpoint=path)
    if path == LIQUIDATION_PAIR_HISTORY:
        return parse_liquidation_pair(data, interval=interval, now=now, endpoint=path)
    if path in (TAKER_AGGREGATED_HISTORY, SPOT_TAKER_AGGREGATED_HISTORY):
        return parse_taker_aggregated(
            data, interval=interval, now=now, endpoint=path, value_unit=value_unit or UNIT_USD
        )
    if path in (TAKER_PAIR_HISTORY, TAKER_PAIR_HISTORY_LEGACY):
        unit = value_unit or ENDPOINTS[path].value_unit or UNIT_USD
        return parse_taker_pair(data, interval=interval, now=now, endpoint=path, value_unit=unit)
    if path == ETF_BITCOIN_FLOW_HISTORY:
        return parse_etf_flows(data, now=now, endpoint=path)
    raise InvalidParameterError(
        "not a bar-series endpoint", endpoint=path, remedy=f"series endpoints: {sorted(_series_paths())}"
    )


def _series_paths() -> list[str]:
    return [p for p, s in ENDPOINTS.items() if s.is_series and s.pages]


# -- context series -------------------------------------------------------------------------


def etf_bitcoin_flow_history(client: ClientLike) -> ParsedFrame:
    """Daily US spot bitcoin ETF flows (flow_usd NaN on days not published)."""
    _check_params(ETF_BITCOIN_FLOW_HISTORY, {})
    data = client.get(ETF_BITCOIN_FLOW_HISTORY, {})
    return parse_etf_flows(data, now=client.now(), endpoint=ETF_BITCOIN_FLOW_HISTORY)


# -- reference --------------------------------------------------------------------------------


def supported_exchange_pairs(client: ClientLike, exchange: str | None = None) -> ParsedFrame:
    """Instruments per exchange: exchange, instrument_id, base, quote."""
    params = _check_params(SUPPORTED_EXCHANGE_PAIRS, {"exchange": exchange})
    return parse_supported_exchange_pairs(
        client.get(SUPPORTED_EXCHANGE_PAIRS, params), endpoint=SUPPORTED_EXCHANGE_PAIRS
    )


def funding_rate_exchange_list(client: ClientLike) -> ParsedFrame:
    """Current funding settings: coin, exchange, margin, interval_hours, funding_rate, next_funding_ts."""
    return parse_funding_exchange_list(client.get(FUNDING_EXCHANGE_LIST, {}), endpoint=FUNDING_EXCHANGE_LIST)


def liquidation_exchange_list(client: ClientLike, symbol: str, range: str) -> ParsedFrame:
    """Liquidations per exchange over the last `range` (1h 4h 12h 24h); first row "All"."""
    if range not in LIQUIDATION_RANGES:
        raise InvalidParameterError(
            f"range {range!r} not accepted",
            endpoint=LIQUIDATION_EXCHANGE_LIST,
            params={"symbol": symbol, "range": range},
            remedy=f"range is one of {' '.join(LIQUIDATION_RANGES)}",
        )
    params = _check_params(LIQUIDATION_EXCHANGE_LIST, {"symbol": symbol, "range": range})
    return parse_liquidation_exchange_list(
        client.get(LIQUIDATION_EXCHANGE_LIST, params), endpoint=LIQUIDATION_EXCHANGE_LIST
    )


def pairs_markets(client: ClientLike, symbol: str) -> ParsedFrame:
    """Instruments of one coin (symbol = coin): exchange, instrument_id, base, quote."""
    params = _check_params(PAIRS_MARKETS, {"symbol": symbol})
    return parse_pairs_markets(client.get(PAIRS_MARKETS, params), coin=symbol, endpoint=PAIRS_MARKETS)


# -- paged history ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesFetch:
    parsed: ParsedFrame
    history: HistoryResult


def fetch_series(
    client: ClientLike,
    path: str,
    params: Mapping[str, Any],
    *,
    since: datetime | None,
    history_days: float,
    overlap_bars: int = 2,
    now: datetime | None = None,
    max_requests: int | None = None,
) -> SeriesFetch:
    """Page a bar series back to `since - overlap_bars` (or `history_days`) and parse it.

    `params` are the series' own params (interval included, no paging params).
    """
    spec = ENDPOINTS.get(path)
    if spec is None or not spec.is_series or not spec.pages:
        raise InvalidParameterError(
            "not a paged bar-series endpoint",
            endpoint=path,
            params=params,
            remedy=f"one of {sorted(_series_paths())}",
        )
    clean = _check_params(path, params)
    if "exchange_list" in clean:
        clean["exchange_list"] = _exchange_list(clean["exchange_list"], path)
    interval = str(clean["interval"])
    moment = now if now is not None else client.now()
    history = fetch_history(
        client,
        path,
        clean,
        interval,
        since,
        history_days=history_days,
        overlap_bars=overlap_bars,
        now=moment,
        time_field=spec.time_field or "time",
        max_requests=max_requests,
    )
    try:
        parsed = parse_series_response(
            path, history.rows, interval=interval, now=moment, value_unit=series_value_unit(path, clean)
        )
    except CoinGlassError as exc:
        raise exc.with_request(clean) from None
    return SeriesFetch(parsed=parsed, history=history)
