"""One line per warning or failure of `sniper run`: what went wrong (coins, figures) and what to do.

Plain data in, plain data out: `summary.py` hands over check evaluations (name, severity,
description, metadata values) and step failures (error class, message, blocked coins), so the
wording is tested without running Dagster. A scan covers many coins in one step, so a check's
metadata names the coins; coins with the same cause share one line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sniper_pipeline.settings.layer import Layer

ERROR, WARNING = "error", "warning"

# raw table -> the layer an operator knows it by (config/layers.yaml)
_TABLE_LAYER = {**{layer.raw_table: layer.value for layer in Layer}, "raw_prices": "price"}

LOG_HINT = "the run's log file (printed at the start; `sniper run -v` shows it on stderr) has the details"

# What to do when a check fails, by check name. `{layer}` is the layer of the checked raw table.
CHECK_REMEDIES: dict[str, str] = {
    "fresh": (
        "check the recording (re-record it) / the {layer} source and its exchange list in config/layers.yaml"
    ),
    "fetched": "the next run fetches them again",
    "non_null_keys": (
        "if the next run fails too, compare the API's answer with docs/coinglass-v4.md "
        "and the parser (sniper_pipeline/coinglass/parsing.py)"
    ),
    "unique_keys": "if the next run fails too, check the paging in sniper_pipeline/coinglass/paging.py",
    "ascending_ts": "if the next run fails too, check the paging in sniper_pipeline/coinglass/paging.py",
    "typed_columns": (
        "a field changed type upstream: check the parser (sniper_pipeline/coinglass/parsing.py) "
        "against the API's answer"
    ),
    "plausible_ranges": (
        "a unit or scale change? check the source's unit in config/layers.yaml and the ranges in "
        "sniper_pipeline/quality/suites.py"
    ),
    "config_sane": (
        "implausible thresholds: check the layer's raw data and unit (config/layers.yaml) and the "
        "sanity limits in config/thresholds.yaml"
    ),
    "all_calls_ok": "`sniper health` prints the table; check CG_API_KEY, the network and the plan",
}
# A failed ERROR check of a raw table keeps the coin's frame out of the warehouse this run.
_BLOCKS_WRITE = {
    "fetched",
    "non_null_keys",
    "unique_keys",
    "ascending_ts",
    "typed_columns",
    "plausible_ranges",
}
SHORT_HISTORY_REMEDY = (
    "the {layer} thresholds rest on fewer bars until its series fills the window: backfill it "
    "(history_days in config/layers.yaml) or fix a series that ended early (see the fresh warning); "
    "the window is percentiles.lookback_bars in config/thresholds.yaml"
)
# What to do about a run's root error, by class, when its message carries no `Remedy:` of its own.
_DBT_FAILED = "dbt failed: its output is in the run's log file; fix the model or the data, then rerun"
ERROR_REMEDIES: dict[str, str] = {
    "DagsterDbtCliRuntimeError": _DBT_FAILED,
    "DbtCliError": _DBT_FAILED,
    "IOException": (
        "the DuckDB warehouse could not be opened: another process (`sniper serve`?) may hold it; "
        "stop it or use PostgreSQL (SNIPER_WAREHOUSE_URL)"
    ),
    "OperationalError": "the warehouse refused: check SNIPER_WAREHOUSE_URL and that the database is up",
    "ConfigError": "fix the named file under config/",
}
DEFAULT_REMEDY = "rerun; if it fails again, " + LOG_HINT
_CLASS_NAME = re.compile(r"[A-Z]\w*(?:Error|Exception|Failure)")


@dataclass(frozen=True)
class Problem:
    """One warning or failure, explained: `line` is what the summary prints."""

    severity: str  # ERROR fails `sniper run` (exit 1), WARNING is reported only
    kind: str  # "check" or "run"
    subject: str  # "raw_taker_volume fresh", "BTC..XRP (run 1a2b3c4d), step alert_outbox"
    cause: str
    remedy: str
    coins: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)  # structured fields for --json

    @property
    def line(self) -> str:
        return f"{self.subject}: {self.cause}; remedy: {self.remedy}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "kind": self.kind,
            "subject": self.subject,
            **self.details,
            "coins": list(self.coins),
            "cause": self.cause,
            "remedy": self.remedy,
            "line": self.line,
        }


@dataclass(frozen=True)
class ErrorText:
    """What a CoinGlass-style error message says: `Class: summary; endpoint=...; params={...};
    ...; after N attempts. Remedy: ...` (sniper_pipeline/coinglass/errors.py)."""

    error_class: str | None
    message: str
    endpoint: str | None = None
    symbol: str | None = None
    remedy: str | None = None


def parse_error(text: str, error_class: str | None = None) -> ErrorText:
    """Split an error message into class, summary, endpoint, symbol and remedy."""
    text = text.strip()
    head, sep, rest = text.partition(": ")
    name = head.rsplit(".", 1)[-1]  # "sniper_pipeline.coinglass.errors.AuthError" -> "AuthError"
    if sep and " " not in head and (name == error_class or _CLASS_NAME.fullmatch(name)):
        error_class, text = name, rest
    remedy = None
    if ". Remedy: " in text:
        text, _, remedy = text.rpartition(". Remedy: ")
        remedy = remedy.strip().rstrip(".")
    cut = re.search(r"; (?:endpoint|params)=", text)
    summary = (text[: cut.start()] if cut else text).strip()
    message = summary.splitlines()[0] if summary else ""
    attempts = re.search(r"; after (\d+) attempts", text)
    if attempts:
        message += f" (after {attempts.group(1)} attempts)"
    endpoint = re.search(r"(?:^|; )endpoint=([^;\s]+)", text)
    symbol = re.search(r"'symbol': '([^']+)'", text)
    return ErrorText(
        error_class=error_class,
        message=message,
        endpoint=endpoint.group(1) if endpoint else None,
        symbol=symbol.group(1) if symbol else None,
        remedy=remedy,
    )


def _coins(coins: Iterable[str]) -> str:
    return ", ".join(coins)


def _layer(asset: str) -> str:
    return _TABLE_LAYER.get(asset, asset)


def _metric_layer(metric: str) -> str:
    """The layer of a percentile-config metric, by its column prefix: oi_roc_abs_pct -> open_interest."""
    return next((layer.value for layer in Layer if metric.startswith(f"{layer.prefix}_")), metric)


def _ts(value: Any) -> str:
    """'2025-05-15T16:00:00' -> '2025-05-15 16:00'."""
    return str(value).replace("T", " ")[:16]


def _hours(value: Any) -> str:
    hours = float(value)
    return f"{hours:.0f} h" if hours >= 10 else f"{hours:.1f} h"


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


# -- checks -------------------------------------------------------------------------------------


def _fresh(asset: str, metadata: Mapping[str, Any]) -> tuple[str, list[str]]:
    failed: Mapping[str, str] = metadata.get("coins_failed") or {}
    details: Mapping[str, Mapping[str, Any]] = metadata.get("details") or {}
    groups: dict[tuple[Any, ...], list[str]] = {}
    for coin in sorted(failed):
        d = details.get(coin) or {}
        key = (d.get("newest_closed_ts"), d.get("age_hours"), d.get("max_age_hours"), d.get("now"))
        groups.setdefault(key if key[0] and key[1] is not None else (coin,), []).append(coin)
    parts = []
    for key, coins in groups.items():
        if len(key) == 1:  # no figures (e.g. "no closed bar in the frame"): its own words
            parts.append(f"{_coins(coins)}: {failed[coins[0]]}")
            continue
        newest, age, max_age, now = key
        interval = (details.get(coins[0]) or {}).get("interval")
        series = f"{_layer(asset)} series" + (f" ({interval} bars)" if interval else "")
        clock = f"the API clock {_ts(now)}" if now else "the API clock"
        limit = f" (max {_hours(max_age)})" if max_age is not None else ""
        parts.append(f"{_coins(coins)} {series} end {_ts(newest)}, {_hours(age)} before {clock}{limit}")
    return "; ".join(parts) + ": the source has stopped updating", sorted(failed)


def _config_sane(metadata: Mapping[str, Any]) -> tuple[str, list[str], list[str]]:
    """Problems of every coin, grouped by what is wrong: (cause, coins, remedies)."""
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for bucket in ("errors", "warnings"):
        for coin, problems in sorted((metadata.get(bucket) or {}).items()):
            for problem in problems:
                metric, sep, what = str(problem).removeprefix(f"{coin} ").partition(": ")
                if not sep:
                    metric, what = "", str(problem)
                coins, metrics = groups.setdefault(what, ([], []))
                coins.append(coin)
                metrics.append(metric)
    parts, remedies, all_coins = [], [], []
    for what, (coin_list, metric_list) in groups.items():
        coins, metrics = _unique(coin_list), _unique(m for m in metric_list if m)
        all_coins += coins
        layers = _unique(_metric_layer(m) for m in metrics) or ["layer"]
        short = re.fullmatch(r"only (\d+) bars with a value, lookback is (\d+)", what)
        if short:
            parts.append(
                f"{_coins(coins)} {'/'.join(metrics)}: only {short.group(1)} of the {short.group(2)} "
                f"lookback bars have a value (too little {'/'.join(layers)} history in the window)"
            )
            remedies.append(SHORT_HISTORY_REMEDY.format(layer="/".join(layers)))
        elif "too little history" in what:
            parts.append(f"{_coins(coins)} {'/'.join(metrics)}: no thresholds (too little history)")
            remedies.append(SHORT_HISTORY_REMEDY.format(layer="/".join(layers)))
        else:
            parts.append(f"{_coins(coins)} {'/'.join(metrics)}: {what}")
            remedies.append(CHECK_REMEDIES["config_sane"])
    return "; ".join(parts), _unique(all_coins), _unique(remedies)


def _grouped_errors(errors: Mapping[str, str]) -> tuple[str, list[str]]:
    """{coin: error message} -> 'AuthError: HTTP 401: ... at /endpoint (BTC, ETH)', remedies."""
    groups: dict[tuple[str | None, str, str | None], dict[str, list[str]]] = {}
    for coin, text in sorted(errors.items()):
        err = parse_error(str(text))
        where = groups.setdefault((err.error_class, err.message, err.remedy), {})
        where.setdefault(err.endpoint or "", []).append(coin)
    parts, remedies = [], []
    for (cls, message, remedy), by_endpoint in groups.items():
        places = ", ".join(f"{e} ({_coins(c)})" if e else _coins(c) for e, c in by_endpoint.items())
        parts.append(f"{cls + ': ' if cls else ''}{message} at {places}")
        if remedy:
            remedies.append(remedy)
    return "; ".join(parts), _unique(remedies)


def _health(metadata: Mapping[str, Any]) -> tuple[str, list[str]]:
    groups: dict[tuple[str, str | None], list[str]] = {}
    for item in metadata.get("failed") or []:
        call, _, detail = str(item).partition(": ")
        err = parse_error(detail)
        groups.setdefault((err.message or detail, err.remedy), []).append(call.split("?")[0])
    parts = [f"{message} ({_coins(_unique(calls))})" for (message, _), calls in groups.items()]
    return "; ".join(parts), _unique(r for (_, r) in groups if r)


def explain_check(
    asset: str,
    check: str,
    *,
    severity: str,
    description: str | None,
    metadata: Mapping[str, Any],
) -> Problem:
    """A failed asset check as one line; `metadata` holds plain values (not Dagster's wrappers)."""
    layer = _layer(asset)
    remedy = CHECK_REMEDIES.get(check, "").format(layer=layer)
    coins: list[str] = sorted(metadata.get("coins_failed") or {})
    cause = ""
    if check == "fresh":
        cause, coins = _fresh(asset, metadata)
    elif check == "config_sane":
        cause, coins, remedies = _config_sane(metadata)
        remedy = " / ".join(remedies) or remedy
    elif check == "fetched" and coins:
        cause, remedies = _grouped_errors(metadata["coins_failed"])
        remedy = "; ".join([*remedies, remedy])
    elif check == "all_calls_ok":
        cause, remedies = _health(metadata)
        remedy = " / ".join(remedies) or remedy
    elif coins:  # the other raw checks: {coin: description}
        by_text: dict[str, list[str]] = {}
        for coin in coins:
            by_text.setdefault(str(metadata["coins_failed"][coin]), []).append(coin)
        cause = "; ".join(f"{_coins(c)}: {text}" for text, c in by_text.items())
    if not cause:
        cause = (description or "did not pass").strip()
    if check in _BLOCKS_WRITE and severity == ERROR and coins:
        cause += "; not written this run"
    elif check == "config_sane" and severity == ERROR:
        cause += "; coins with implausible thresholds were not scored"
    if not remedy:  # e.g. a dbt test on a model
        remedy = f"{asset} {check} failed: {LOG_HINT}"
    return Problem(
        severity=severity,
        kind="check",
        subject=f"{asset} {check}",
        cause=cause,
        remedy=remedy,
        coins=tuple(coins),
        details={"asset": asset, "check": check},
    )


# -- runs ---------------------------------------------------------------------------------------


def _blocked_reason(reason: str) -> ErrorText:
    """A coin's reason in the `blocked` metadata of a failed signal step:
    '<table>: fetch failed: <error>' or '<table>: <check>: <description>'."""
    table, _, rest = reason.partition(": ")
    if rest.startswith("fetch failed: "):
        return parse_error(rest.removeprefix("fetch failed: "))
    check = rest.partition(": ")[0]
    remedy = CHECK_REMEDIES.get(check)
    if table == "percentile_configs":
        remedy = CHECK_REMEDIES["config_sane"]
    return ErrorText(
        error_class=None,
        message=f"{table} {rest}" if rest else reason,
        remedy=remedy.format(layer=_layer(table)) if remedy else None,
    )


def _coin_of(symbol: str | None) -> str | None:
    if not symbol:
        return None
    for quote in ("USDT", "USDC", "USD"):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol.removesuffix(quote)
    return symbol


def explain_run_failure(
    run: str,
    run_id: str,
    step: str | None,
    error_class: str | None,
    message: str,
    blocked: Mapping[str, str] | None = None,
) -> list[Problem]:
    """A failed run as one line per root error. `message` is the root error's (the innermost
    cause of the step failure); `blocked` ({coin: reason}) names the coins a signal step held
    back, with the error of each, when the failure was about them."""
    subject = f"{run} (run {run_id[:8]})" + (f", step {step}" if step else "")
    base = {"run": run, "run_id": run_id, "step": step}
    if not blocked:
        err = parse_error(message, error_class)
        coin = _coin_of(err.symbol)
        place = (f" at {err.endpoint}" if err.endpoint else "") + (f" ({coin})" if coin else "")
        return [
            Problem(
                severity=ERROR,
                kind="run",
                subject=subject,
                cause=f"{err.error_class + ': ' if err.error_class else ''}{err.message}{place}"
                or "failed without an error message",
                remedy=err.remedy or ERROR_REMEDIES.get(err.error_class or "", DEFAULT_REMEDY),
                coins=(coin,) if coin else (),
                details={
                    **base,
                    "error_class": err.error_class,
                    "message": err.message,
                    "endpoint": err.endpoint,
                    "endpoints": [err.endpoint] if err.endpoint else [],
                },
            )
        ]
    groups: dict[tuple[str | None, str, str | None], dict[str, list[str]]] = {}
    for coin, reason in sorted(blocked.items()):
        err = _blocked_reason(str(reason))
        where = groups.setdefault((err.error_class, err.message, err.remedy), {})
        where.setdefault(err.endpoint or "", []).append(coin)
    problems = []
    for (cls, text, remedy), by_endpoint in groups.items():
        coins = sorted(c for cs in by_endpoint.values() for c in cs)
        endpoints = [e for e in by_endpoint if e]
        places = ", ".join(f"{e} ({_coins(c)})" for e, c in by_endpoint.items() if e)
        problems.append(
            Problem(
                severity=ERROR,
                kind="run",
                subject=subject,
                cause=f"{cls + ': ' if cls else ''}{text}{' at ' + places if places else ''}; "
                f"nothing written or scored for {_coins(coins)}",
                remedy=remedy or DEFAULT_REMEDY,
                coins=tuple(coins),
                details={
                    **base,
                    "error_class": cls,
                    "message": text,
                    "endpoint": endpoints[0] if endpoints else None,
                    "endpoints": endpoints,
                },
            )
        )
    return problems
