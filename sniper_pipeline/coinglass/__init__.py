"""CoinGlass v4 client: transport with retries, rate limiting, clock, endpoints, paging, parsing.

Plain Python (no Dagster); `defs/ingest/resources.py` wraps `CoinGlassClient` in a resource.
Exports are loaded lazily (PEP 562), so `sniper_pipeline.coinglass.replay` (stdlib only)
does not pay for pandas and requests when it is imported on its own.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sniper_pipeline.coinglass.client import (
        DEFAULT_BASE_URL,
        WEBSOCKET_URL,
        ApiResponse,
        CoinGlassClient,
        websocket_url,
    )
    from sniper_pipeline.coinglass.clock import (
        INTERVALS,
        Clock,
        FixedClock,
        ServerDateClock,
        SystemClock,
        interval_timedelta,
        is_bar_closed,
        last_closed_bar_open,
        validate_interval,
    )
    from sniper_pipeline.coinglass.endpoints import ENDPOINTS, EndpointSpec, SeriesFetch, fetch_series
    from sniper_pipeline.coinglass.errors import (
        ApiCodeError,
        ApiCodeNotFoundError,
        AuthError,
        BadRequestError,
        CoinGlassError,
        InvalidParameterError,
        MalformedResponseError,
        NotFoundError,
        RateLimitError,
        SchemaDriftError,
        ServerError,
        TransportError,
        mask_key,
        redact,
    )
    from sniper_pipeline.coinglass.paging import HistoryResult, fetch_history, requests_needed
    from sniper_pipeline.coinglass.parsing import UNIT_BASE_COIN, UNIT_USD, ParsedFrame
    from sniper_pipeline.coinglass.ratelimit import FileRateLimiter, RateLimiter, RedisRateLimiter
    from sniper_pipeline.coinglass.transport import RecordingSleeper, RetryEvent, RetryPolicy

_EXPORTS: dict[str, str] = {
    "ApiCodeError": "sniper_pipeline.coinglass.errors",
    "ApiCodeNotFoundError": "sniper_pipeline.coinglass.errors",
    "ApiResponse": "sniper_pipeline.coinglass.client",
    "AuthError": "sniper_pipeline.coinglass.errors",
    "BadRequestError": "sniper_pipeline.coinglass.errors",
    "Clock": "sniper_pipeline.coinglass.clock",
    "CoinGlassClient": "sniper_pipeline.coinglass.client",
    "CoinGlassError": "sniper_pipeline.coinglass.errors",
    "DEFAULT_BASE_URL": "sniper_pipeline.coinglass.client",
    "ENDPOINTS": "sniper_pipeline.coinglass.endpoints",
    "EndpointSpec": "sniper_pipeline.coinglass.endpoints",
    "FileRateLimiter": "sniper_pipeline.coinglass.ratelimit",
    "FixedClock": "sniper_pipeline.coinglass.clock",
    "HistoryResult": "sniper_pipeline.coinglass.paging",
    "INTERVALS": "sniper_pipeline.coinglass.clock",
    "InvalidParameterError": "sniper_pipeline.coinglass.errors",
    "MalformedResponseError": "sniper_pipeline.coinglass.errors",
    "NotFoundError": "sniper_pipeline.coinglass.errors",
    "ParsedFrame": "sniper_pipeline.coinglass.parsing",
    "RateLimitError": "sniper_pipeline.coinglass.errors",
    "RateLimiter": "sniper_pipeline.coinglass.ratelimit",
    "RecordingSleeper": "sniper_pipeline.coinglass.transport",
    "RedisRateLimiter": "sniper_pipeline.coinglass.ratelimit",
    "RetryEvent": "sniper_pipeline.coinglass.transport",
    "RetryPolicy": "sniper_pipeline.coinglass.transport",
    "SchemaDriftError": "sniper_pipeline.coinglass.errors",
    "SeriesFetch": "sniper_pipeline.coinglass.endpoints",
    "ServerDateClock": "sniper_pipeline.coinglass.clock",
    "ServerError": "sniper_pipeline.coinglass.errors",
    "SystemClock": "sniper_pipeline.coinglass.clock",
    "TransportError": "sniper_pipeline.coinglass.errors",
    "UNIT_BASE_COIN": "sniper_pipeline.coinglass.parsing",
    "UNIT_USD": "sniper_pipeline.coinglass.parsing",
    "WEBSOCKET_URL": "sniper_pipeline.coinglass.client",
    "fetch_history": "sniper_pipeline.coinglass.paging",
    "fetch_series": "sniper_pipeline.coinglass.endpoints",
    "interval_timedelta": "sniper_pipeline.coinglass.clock",
    "is_bar_closed": "sniper_pipeline.coinglass.clock",
    "last_closed_bar_open": "sniper_pipeline.coinglass.clock",
    "mask_key": "sniper_pipeline.coinglass.errors",
    "redact": "sniper_pipeline.coinglass.errors",
    "requests_needed": "sniper_pipeline.coinglass.paging",
    "validate_interval": "sniper_pipeline.coinglass.clock",
    "websocket_url": "sniper_pipeline.coinglass.client",
}

__all__ = [
    "DEFAULT_BASE_URL",
    "ENDPOINTS",
    "INTERVALS",
    "UNIT_BASE_COIN",
    "UNIT_USD",
    "WEBSOCKET_URL",
    "ApiCodeError",
    "ApiCodeNotFoundError",
    "ApiResponse",
    "AuthError",
    "BadRequestError",
    "Clock",
    "CoinGlassClient",
    "CoinGlassError",
    "EndpointSpec",
    "FileRateLimiter",
    "FixedClock",
    "HistoryResult",
    "InvalidParameterError",
    "MalformedResponseError",
    "NotFoundError",
    "ParsedFrame",
    "RateLimitError",
    "RateLimiter",
    "RecordingSleeper",
    "RedisRateLimiter",
    "RetryEvent",
    "RetryPolicy",
    "SchemaDriftError",
    "SeriesFetch",
    "ServerDateClock",
    "ServerError",
    "SystemClock",
    "TransportError",
    "fetch_history",
    "fetch_series",
    "interval_timedelta",
    "is_bar_closed",
    "last_closed_bar_open",
    "mask_key",
    "redact",
    "requests_needed",
    "validate_interval",
    "websocket_url",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
