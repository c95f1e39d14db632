"""CoinGlass v4 client: transport with retries, rate limiting, clock, endpoints, paging, parsing.

Plain Python (no Dagster); `defs/ingest/resources.py` wraps `CoinGlassClient` in a resource.
"""

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
from sniper_pipeline.coinglass.ratelimit import FileRateLimiter, RateLimiter
from sniper_pipeline.coinglass.transport import RecordingSleeper, RetryEvent, RetryPolicy

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
