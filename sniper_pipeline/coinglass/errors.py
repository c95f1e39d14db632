"""CoinGlass client errors: one base class, one subclass per cause, mapped in one function.

Every message names the endpoint, the request parameters (never the API key) and
a remedy. The key is kept out of messages by `redact`, which every place that
formats text from a request or response goes through.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "***"

# Parameter names that could carry a secret if a caller puts one in params by mistake.
_SECRET_PARAM_NAMES = frozenset({"cg-api-key", "cg_api_key", "api_key", "apikey", "key", "token"})
# `?cg-api-key=...` in WebSocket URLs (and any header-like "CG-API-KEY: value" text).
_KEY_IN_URL = re.compile(r"(cg-api-key[=:]\s*)[^&\s\"']+", re.IGNORECASE)

_PLAN_FLOOR_HINT = (
    "the interval is probably below your plan's floor (Hobbyist >= 4h, Startup >= 30m, "
    "Standard and above: any interval): use a coarser interval or a higher plan"
)


def redact(text: str, key: str | None) -> str:
    """Remove the API key from `text`: the raw key, its URL-encoded forms and any `cg-api-key=` value."""
    if not text:
        return text
    if key:
        for form in {key, quote(key, safe=""), quote_plus(key)}:
            if form:
                text = text.replace(form, REDACTED)
    return _KEY_IN_URL.sub(lambda m: m.group(1) + REDACTED, text)


def mask_key(key: str | None) -> str:
    """A display form of the key: its last 4 characters, and only when it is long enough to stay secret."""
    if not key:
        return "<none>"
    return f"{REDACTED}{key[-4:]}" if len(key) >= 16 else REDACTED


def safe_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of request params fit for messages: secret-looking names are masked."""
    if not params:
        return {}
    return {k: (REDACTED if str(k).lower() in _SECRET_PARAM_NAMES else v) for k, v in params.items()}


def _excerpt(body: Any, limit: int = 200) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    text = body if isinstance(body, str) else json.dumps(body, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


class CoinGlassError(Exception):
    """Base of every client error; carries what is known about the failed request."""

    default_remedy = "see the message; the request can be retried later"

    def __init__(
        self,
        summary: str,
        *,
        http_status: int | None = None,
        code: str | None = None,
        msg: str | None = None,
        endpoint: str | None = None,
        params: Mapping[str, Any] | None = None,
        remedy: str | None = None,
        body_excerpt: str = "",
        secret: str | None = None,
        attempts: int | None = None,
    ) -> None:
        self.http_status = http_status
        self.attempts = attempts
        self.code = code
        self.msg = redact(msg, secret) if msg else msg
        self.endpoint = endpoint
        self.params = {
            k: (redact(v, secret) if isinstance(v, str) else v) for k, v in safe_params(params).items()
        }
        self.remedy = remedy or self.default_remedy
        self.body_excerpt = redact(body_excerpt, secret)
        self.summary = redact(summary, secret)
        super().__init__(self._format())

    def _format(self) -> str:
        parts = [self.summary]
        if self.endpoint:
            parts.append(f"endpoint={self.endpoint}")
        parts.append(f"params={self.params}")
        if self.http_status is not None:
            parts.append(f"http_status={self.http_status}")
        if self.code is not None:
            parts.append(f"code={self.code!r}")
        if self.msg:
            parts.append(f"msg={self.msg!r}")
        if self.body_excerpt:
            parts.append(f"body={self.body_excerpt!r}")
        if self.attempts is not None and self.attempts > 1:
            parts.append(f"after {self.attempts} attempts")
        return "; ".join(parts) + f". Remedy: {self.remedy}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def with_attempts(self, attempts: int) -> CoinGlassError:
        """Record how many requests were made before giving up (the message then says so)."""
        self.attempts = attempts
        self.args = (self._format(),)
        return self

    def with_request(self, params: Mapping[str, Any]) -> CoinGlassError:
        """Name the request's params (coin, interval) on an error raised without them, e.g. while
        parsing rows gathered over several pages."""
        if not self.params:
            self.params = safe_params(params)
            self.args = (self._format(),)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle (Dagster ships exceptions between processes) without re-running __init__'s signature.
        return (_rebuild, (type(self), self.__dict__.copy(), self.args))


def _rebuild(cls: type[CoinGlassError], state: dict[str, Any], args: tuple[Any, ...]) -> CoinGlassError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class InvalidParameterError(CoinGlassError, ValueError):
    """Rejected client-side, before any request (e.g. an interval the API does not know)."""

    default_remedy = "fix the call's parameters"


class BadRequestError(CoinGlassError):
    """HTTP 400/404/405/422: the request itself is wrong; retrying the same request will not help."""

    default_remedy = "check the endpoint's required parameters (exchange, symbol as pair or coin, interval)"


class NotFoundError(BadRequestError):
    """HTTP 404 or an error envelope for an unknown symbol/exchange/resource."""

    default_remedy = (
        "unknown symbol, exchange or path: check /api/futures/supported-coins and "
        "supported_exchange_pairs(), and whether the endpoint wants a coin (BTC) or a pair (BTCUSDT)"
    )


class AuthError(CoinGlassError):
    """HTTP 401/403: the key is missing, wrong, or not allowed this endpoint."""

    default_remedy = "check CG_API_KEY (set, not revoked, and on a plan that includes this endpoint)"


class RateLimitError(CoinGlassError):
    """HTTP 429 after the retry budget was spent."""

    default_remedy = (
        "the key's per-minute limit stayed used up past the retry budget: another process may share "
        "the key; lower SNIPER_REQUESTS_PER_MINUTE or wait for the window to reset"
    )

    def __init__(self, summary: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(summary, **kwargs)

    def _format(self) -> str:
        text = super()._format()
        return text if self.retry_after is None else f"{text} (Retry-After: {self.retry_after:g} s)"


class ServerError(CoinGlassError):
    """HTTP 5xx after the retry budget was spent."""

    default_remedy = "CoinGlass failed on its side; retries were exhausted: try again later"


class TransportError(CoinGlassError):
    """No usable HTTP response: timeout, refused or reset connection, broken body stream."""

    default_remedy = "check the network and base_url; for timeouts raise the client's (connect, read) timeout"

    def __init__(
        self, summary: str, *, retryable: bool = True, body_level: bool = False, **kwargs: Any
    ) -> None:
        self.retryable = retryable
        self.body_level = body_level  # headers arrived but the body broke off (urllib3 cannot retry that)
        super().__init__(summary, **kwargs)


class ApiCodeError(CoinGlassError):
    """HTTP 200 whose envelope `code` is not "0"."""

    default_remedy = "the API refused the request (see code/msg); check parameters and plan"


class MalformedResponseError(CoinGlassError):
    """The body is not a v4 JSON envelope: not JSON, truncated, an HTML page, or no `data`."""

    default_remedy = (
        "the response was not a complete v4 JSON envelope (proxy page, cut connection or API change); "
        "retry later, and if it persists compare with docs/coinglass-v4.md"
    )


class SchemaDriftError(MalformedResponseError):
    """Rows parse as JSON but lack a field the parser needs (renamed or removed upstream)."""

    default_remedy = (
        "the API's row fields changed: add the new name as an alias in coinglass/parsing.py "
        "after checking the recorded meaning"
    )


class ApiCodeNotFoundError(ApiCodeError, NotFoundError):
    """HTTP 200 error envelope that says the symbol/resource is unknown: catchable as either cause."""

    default_remedy = NotFoundError.default_remedy


def _status_error(status: int) -> tuple[type[CoinGlassError], str, str | None]:
    """Class, summary and remedy override for an HTTP error status."""
    if status in (401, 403):
        return AuthError, f"HTTP {status}: authentication refused", None
    if status == 404:
        return NotFoundError, "HTTP 404: no such resource", None
    if status == 405:
        return BadRequestError, "HTTP 405: method not allowed", "every v4 endpoint is GET"
    if status == 422:
        return BadRequestError, "HTTP 422: parameters valid but not accepted", _PLAN_FLOOR_HINT
    if status == 408:
        return TransportError, "HTTP 408: the server timed out the request", None
    if status == 429:
        return RateLimitError, "HTTP 429: rate limit exceeded", None
    if 400 <= status < 500:
        return BadRequestError, f"HTTP {status}: bad request", None
    if status >= 500:
        return ServerError, f"HTTP {status}: server error", None
    return CoinGlassError, f"unexpected HTTP {status}", "the API answered a status this client does not know"


def _looks_like_not_found(msg: str | None) -> bool:
    text = (msg or "").lower()
    return any(
        word in text for word in ("not found", "not exist", "unknown symbol", "not support", "unsupported")
    )


def _looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith("<!doctype html") or head.startswith("<html") or "<body" in head


def _decode(body: bytes | str | None) -> tuple[str, Any, str | None]:
    """(text, parsed JSON or None, what is wrong with the body or None)."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else (body or "")
    if not text.strip():
        return text, None, "empty body"
    if _looks_like_html(text):
        return text, None, "an HTML page instead of JSON"
    try:
        return text, json.loads(text), None
    except json.JSONDecodeError as exc:
        return text, None, f"invalid or truncated JSON ({exc.msg} at char {exc.pos} of {len(text)})"


def classify(
    status: int,
    body: bytes | str | None,
    *,
    endpoint: str,
    params: Mapping[str, Any] | None = None,
    retry_after: float | None = None,
    secret: str | None = None,
) -> tuple[CoinGlassError | None, dict[str, Any] | None]:
    """Decode the body once and map (status, body) to (error or None, envelope or None).

    This is the single place where HTTP statuses and envelopes become exceptions.
    """
    text, envelope, decode_problem = _decode(body)
    err = _map(status, text, envelope, decode_problem, endpoint, params, retry_after, secret)
    return err, (envelope if err is None else None)


def _map(
    status: int,
    text: str,
    envelope: Any,
    decode_problem: str | None,
    endpoint: str,
    params: Mapping[str, Any] | None,
    retry_after: float | None,
    secret: str | None,
) -> CoinGlassError | None:
    ctx: dict[str, Any] = {"endpoint": endpoint, "params": params, "secret": secret, "http_status": status}
    code: str | None = None
    msg: str | None = None
    if isinstance(envelope, dict):
        raw_code = envelope.get("code")
        code = None if raw_code is None else str(raw_code)
        raw_msg = envelope.get("msg")
        msg = None if raw_msg is None else str(raw_msg)

    if status != 200:
        cls, summary, remedy = _status_error(status)
        extra: dict[str, Any] = {}
        if cls is RateLimitError:
            extra["retry_after"] = retry_after
        if cls is TransportError:
            extra["retryable"] = True
        if cls is BadRequestError and status == 400 and _looks_like_not_found(msg):
            cls = NotFoundError
        return cls(
            summary,
            code=code,
            msg=msg,
            remedy=remedy,
            body_excerpt="" if envelope is not None else _excerpt(text),
            **ctx,
            **extra,
        )

    if decode_problem is not None:
        return MalformedResponseError(f"HTTP 200 with {decode_problem}", body_excerpt=_excerpt(text), **ctx)
    if not isinstance(envelope, dict) or "code" not in envelope:
        return MalformedResponseError(
            "HTTP 200 with JSON that is not a v4 envelope (no 'code')", body_excerpt=_excerpt(text), **ctx
        )
    if code != "0":
        cls2: type[CoinGlassError] = ApiCodeError
        if _looks_like_not_found(msg):
            cls2 = ApiCodeNotFoundError
        return cls2(f"HTTP 200 with error code {code!r}", code=code, msg=msg, **ctx)
    if "data" not in envelope or envelope["data"] is None:
        return MalformedResponseError(
            "HTTP 200, code '0', but the envelope has no 'data'",
            code=code,
            msg=msg,
            body_excerpt=_excerpt(text),
            **ctx,
        )
    return None
