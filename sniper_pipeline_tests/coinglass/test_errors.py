"""Error mapping (status, body) -> exception, messages, and key redaction."""

from __future__ import annotations

import json
import pickle

import pytest

from sniper_pipeline.coinglass.client import websocket_url
from sniper_pipeline.coinglass.errors import (
    ApiCodeError,
    ApiCodeNotFoundError,
    AuthError,
    BadRequestError,
    CoinGlassError,
    MalformedResponseError,
    NotFoundError,
    RateLimitError,
    SchemaDriftError,
    ServerError,
    TransportError,
    classify,
    mask_key,
    redact,
    safe_params,
)

EP = "/api/futures/open-interest/aggregated-history"
PARAMS = {"symbol": "BTC", "interval": "4h"}
KEY = "cg-secret-0123456789abcdef"


def env(code: str = "0", msg: str | None = "success", **extra: object) -> bytes:
    body: dict[str, object] = {"code": code}
    if msg is not None:
        body["msg"] = msg
    body.update(extra)
    return json.dumps(body).encode()


def err(status: int, body: bytes | str | None, **kw: object) -> CoinGlassError | None:
    return classify(status, body, endpoint=EP, params=PARAMS, **kw)[0]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (405, BadRequestError),
        (408, TransportError),
        (422, BadRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (418, BadRequestError),
    ],
)
def test_http_status_maps_to_one_class(status: int, cls: type[CoinGlassError]) -> None:
    e = err(status, env(str(status), f"simulated {status}"))
    assert type(e) is cls
    assert e.http_status == status and e.code == str(status) and e.msg == f"simulated {status}"
    assert e.endpoint == EP and e.params == PARAMS


def test_not_found_is_a_bad_request_and_names_the_remedy() -> None:
    e = err(404, env("404", "symbol DOGE not supported by ..."))
    assert isinstance(e, BadRequestError)
    assert "/api/futures/supported-coins" in str(e)


def test_400_saying_unknown_symbol_is_not_found() -> None:
    assert type(err(400, env("400", "symbol not found"))) is NotFoundError


def test_422_message_names_the_plan_floors() -> None:
    text = str(err(422, env("422", "interval not allowed")))
    assert "Hobbyist >= 4h" in text and "Startup >= 30m" in text


def test_401_message_says_check_cg_api_key() -> None:
    assert "CG_API_KEY" in str(err(401, env("401", "bad key")))


def test_429_carries_retry_after() -> None:
    e = err(429, env("429", "slow down"), retry_after=7.0)
    assert isinstance(e, RateLimitError) and e.retry_after == 7.0
    assert "Retry-After: 7 s" in str(e)


def test_success_envelope_is_no_error_and_decodes_data() -> None:
    body = env(data=[{"time": 1}])
    assert err(200, body) is None
    error, envelope = classify(200, body, endpoint=EP)
    assert error is None and envelope is not None and envelope["data"] == [{"time": 1}]


def test_success_without_msg_is_fine_and_int_code_zero_is_tolerated() -> None:
    assert err(200, env(msg=None, data=[])) is None
    assert err(200, json.dumps({"code": 0, "data": []})) is None


@pytest.mark.parametrize("code", ["50001", "40001", "1"])
def test_http_200_with_error_code_is_api_code_error(code: str) -> None:
    e = err(200, env(code, "simulated API error"))
    assert type(e) is ApiCodeError and e.code == code and e.http_status == 200


def test_http_200_code_error_without_msg() -> None:
    e = err(200, env("30001", None))
    assert isinstance(e, ApiCodeError) and e.msg is None
    assert "30001" in str(e)


def test_http_200_code_error_about_unknown_symbol_is_also_not_found() -> None:
    e = err(200, env("40001", "symbol not exist"))
    assert isinstance(e, ApiCodeNotFoundError)
    assert isinstance(e, ApiCodeError) and isinstance(e, NotFoundError)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"", "empty body"),
        (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "HTML page"),
        (b"<!DOCTYPE html><html></html>", "HTML page"),
        (b'{"code":"0","msg":"success","data":[{"time":17', "truncated JSON"),
        (b"not json at all", "truncated JSON"),
        (b"[1, 2]", "not a v4 envelope"),
        (b'{"msg": "success", "data": []}', "not a v4 envelope"),
        (b'{"code": "0", "msg": "success"}', "no 'data'"),
        (b'{"code": "0", "msg": "success", "data": null}', "no 'data'"),
    ],
)
def test_http_200_bodies_that_are_not_envelopes_are_malformed(body: bytes, needle: str) -> None:
    e = err(200, body)
    assert type(e) is MalformedResponseError
    assert needle in str(e)
    assert EP in str(e)


def test_html_error_page_with_5xx_is_a_server_error_with_an_excerpt() -> None:
    e = err(502, b"<html><head><title>502 Bad Gateway</title></head></html>")
    assert type(e) is ServerError
    assert "502 Bad Gateway" in e.body_excerpt


def test_schema_drift_is_malformed() -> None:
    assert issubclass(SchemaDriftError, MalformedResponseError)


def test_every_message_names_endpoint_params_and_remedy() -> None:
    for status in (400, 401, 404, 422, 429, 500):
        text = str(err(status, env(str(status), "x")))
        assert EP in text and "'symbol': 'BTC'" in text and "Remedy:" in text
    text = str(err(200, env("50001", "x")))
    assert EP in text and "Remedy:" in text


def test_key_is_redacted_from_messages_params_and_bodies() -> None:
    body = env("401", f"key {KEY} rejected")
    e, _ = classify(401, body, endpoint=EP, params={"symbol": "BTC", "api_key": KEY, "note": KEY}, secret=KEY)
    assert e is not None
    for text in (str(e), repr(e), *map(str, e.args), e.msg or "", json.dumps(e.params)):
        assert KEY not in text
    assert e.params["api_key"] == "***"


def test_redact_covers_raw_urlencoded_and_websocket_forms() -> None:
    from urllib.parse import quote, quote_plus

    key = "k+y/with=odd&chars-0123456789"
    url = websocket_url(key)
    assert quote(key, safe="") in url  # the real URL needs it (encoded) ...
    assert key not in redact(url, key)  # ... the logged one does not
    assert redact(url, None).endswith("cg-api-key=***")  # even without knowing the key
    for form in (quote(key, safe=""), quote_plus(key)):
        assert form not in redact(f"GET /x?a={form}", key)
    assert redact("", key) == ""


def test_mask_key_shows_at_most_the_last_four_characters() -> None:
    assert mask_key(KEY) == "***cdef"
    assert mask_key("short") == "***"
    assert mask_key(None) == "<none>"


def test_safe_params_masks_secret_names() -> None:
    assert safe_params({"CG-API-KEY": "x", "symbol": "BTC"}) == {"CG-API-KEY": "***", "symbol": "BTC"}
    assert safe_params(None) == {}


def test_errors_survive_pickling() -> None:
    e = err(429, env("429", "slow"), retry_after=3.0)
    assert isinstance(e, RateLimitError)
    e.with_attempts(4)
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is RateLimitError
    assert (back.retry_after, back.attempts, str(back)) == (3.0, 4, str(e))
    assert "after 4 attempts" in str(back)


def test_transport_error_flags() -> None:
    e = TransportError("read timeout", retryable=True, body_level=True, endpoint=EP)
    assert e.retryable and e.body_level
