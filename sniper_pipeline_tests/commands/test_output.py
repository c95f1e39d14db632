"""What `sniper run` shows an operator: a short progress on stderr, Dagster's and dbt's logs in a
log file (back on stderr with -v, checked by test_run.py's no-op re-run), and a summary whose
warnings and failures name their cause and remedy in one line each.

The slow tests run `sniper run` in a subprocess on the shipped recordings (once, shared); the
others check the wording on hand-made check evaluations and errors."""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sniper_pipeline.commands.progress import RunProgress
from sniper_pipeline.commands.remedies import (
    DEFAULT_REMEDY,
    ERROR,
    WARNING,
    explain_check,
    explain_run_failure,
    parse_error,
)
from sniper_pipeline.commands.summary import render_summary
from sniper_pipeline_tests.commands.test_run import run_sniper

MAX_STDERR_LINES = 60
AUTH_REMEDY = "check CG_API_KEY (set, not revoked, and on a plan that includes this endpoint)"
# The message of a CoinGlass client error (sniper_pipeline/coinglass/errors.py), as a step's
# failure or a `fetched` check carries it.
RATE_LIMITED = (
    "HTTP 429: rate limit exceeded; endpoint=/api/futures/liquidation/aggregated-history; "
    "params={'exchange_list': 'OKX,Bybit', 'interval': '4h', 'symbol': 'HYPE', 'limit': 1000}; "
    "http_status=429; after 21 attempts. Remedy: the key's per-minute limit stayed used up past the "
    "retry budget: another process may share the key; lower SNIPER_REQUESTS_PER_MINUTE or wait for "
    "the window to reset (Retry-After: 1 s)"
)


def auth_error(endpoint: str, symbol: str) -> str:
    return (
        f"AuthError: HTTP 401: authentication refused; endpoint={endpoint}; "
        f"params={{'interval': '4h', 'symbol': '{symbol}', 'limit': 1000}}; http_status=401; "
        f"code='401'; msg='simulated 401 Unauthorized'. Remedy: {AUTH_REMEDY}"
    )


# -- the shipped recordings, end to end ------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("output")
    done = run_sniper(["run"], tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp, done


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """Every layer endpoint answers 401: the scan fails fast. One --json run serves the text
    summary too: text mode prints `render_summary` of the same summary (a second failed run
    cost ~20 s), and the progress on stderr is the same in both modes."""
    tmp = tmp_path_factory.mktemp("failed")
    faults = {"SNIPER_REPLAY_FAULTS": "401@/api/futures/*history:*"}
    return run_sniper(["run", "--coin", "BTC", "--json"], tmp, **faults)


def log_file_of(stderr: str) -> Path:
    named = [line.removeprefix("log: ") for line in stderr.splitlines() if line.startswith("log: ")]
    assert len(named) == 1, stderr
    return Path(named[0])


@pytest.mark.slow
def test_stderr_is_short_and_the_logs_are_in_the_log_file(
    shipped_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    tmp, done = shipped_run
    lines = done.stderr.splitlines()
    assert len(lines) < MAX_STDERR_LINES, done.stderr
    assert " - DEBUG - " not in done.stderr and "dbt build" not in done.stderr
    # one line per finished step, with its name and time
    step = next(line for line in lines if "raw_layers" in line)
    assert step.startswith("scan BTC..XRP") and "✓" in step and step.endswith("s")
    assert any("coinglass_dbt" in line for line in lines)
    log = log_file_of(done.stderr)
    assert log.parent == tmp / "data" / "logs" and log.name.startswith("run-") and log.exists()
    text = log.read_text(errors="replace")
    assert " - DEBUG - " in text and 'STEP_START - Started execution of step "coinglass_dbt"' in text
    assert "Running dbt command" in text  # dbt's subprocess output too
    assert "rows:" in done.stdout  # the summary stays on stdout


@pytest.mark.slow
def test_warnings_name_coins_figures_and_remedy(
    shipped_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    _, done = shipped_run
    warnings = [line for line in done.stdout.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2, done.stdout
    fresh = next(line for line in warnings if line.startswith("warning: raw_taker_volume fresh: "))
    # the taker series of ETH, SOL and XRP ends five days before the others
    for text in ("ETH, SOL, XRP taker series", "end 2025-05-15 16:00", "128 h before", "max 12 h"):
        assert text in fresh, fresh
    assert "remedy: check the recording" in fresh and "config/layers.yaml" in fresh
    sane = next(line for line in warnings if line.startswith("warning: percentile_configs config_sane: "))
    for text in ("ETH, SOL, XRP taker_ratio_high/taker_ratio_low", "only 170 of the 200", "taker history"):
        assert text in sane, sane
    assert "remedy: " in sane and "config/thresholds.yaml" in sane


@pytest.mark.slow
def test_a_failed_run_names_its_root_error(failed_run: subprocess.CompletedProcess[str]) -> None:
    assert failed_run.returncode == 1, failed_run.stderr[-3000:]
    assert len(failed_run.stderr.splitlines()) < MAX_STDERR_LINES, failed_run.stderr
    summary = json.loads(failed_run.stdout)
    # What text mode prints for this run.
    text = render_summary(summary)
    failed = [line for line in text.splitlines() if line.startswith("FAILED run: ")]
    assert len(failed) == 1, text
    line = failed[0]
    named = re.match(r"FAILED run: BTC \(run [0-9a-f]{8}\), step (\w+): ", line)
    assert named, line
    step = named.group(1)  # the scan's step that failed: all of BTC's fetches were refused
    assert any(step in err and "✗" in err for err in failed_run.stderr.splitlines()), failed_run.stderr
    for part in ("AuthError: HTTP 401: authentication refused", "/api/futures/", "(BTC)", AUTH_REMEDY):
        assert part in line, line
    assert "Traceback" not in text and "dagster._core" not in line

    assert not summary["ok"] and len(summary["failed_runs"]) == 1
    assert "AuthError: HTTP 401" in summary["failed_runs"][0]
    run = next(p for p in summary["problems"] if p["kind"] == "run")
    assert run["step"] == step and run["error_class"] == "AuthError"
    assert run["message"] == "HTTP 401: authentication refused" and run["coins"] == ["BTC"]
    assert run["endpoint"].startswith("/api/futures/") and run["remedy"] == AUTH_REMEDY
    assert run["run"] == "BTC" and run["severity"] == ERROR
    assert Path(summary["log_file"]).exists()


# -- the wording, on hand-made evaluations ---------------------------------------------------------


def test_fresh_names_coins_figures_and_remedy() -> None:
    details = {
        "age_hours": 128.003,
        "closed_bars": 1080,
        "errored": False,
        "interval": "4h",
        "max_age_hours": 12.0,
        "newest_closed_ts": "2025-05-15T16:00:00",
        "now": "2025-05-21T00:00:09.000139",
    }
    described = "newest closed bar 2025-05-15T16:00:00 is 128.003 h old (beyond 3 x 4h = 12.0 h)"
    coins = ("ETH", "SOL", "XRP")
    problem = explain_check(
        "raw_taker_volume",
        "fresh",
        severity=WARNING,
        description="; ".join(f"{c}: {described}" for c in coins),
        metadata={
            "coins_checked": 4,
            "coins_failed": {c: described for c in coins},
            "coins_skipped": [],
            "details": {c: details for c in coins},
        },
    )
    assert problem.line == (
        "raw_taker_volume fresh: ETH, SOL, XRP taker series (4h bars) end 2025-05-15 16:00, 128 h "
        "before the API clock 2025-05-21 00:00 (max 12 h): the source has stopped updating; "
        "remedy: check the recording (re-record it) / the taker source and its exchange list in "
        "config/layers.yaml"
    )
    assert problem.coins == coins and problem.severity == WARNING


def test_fresh_groups_coins_by_their_figures() -> None:
    def detail(newest: str, age: float) -> dict[str, Any]:
        return {"newest_closed_ts": newest, "age_hours": age, "max_age_hours": 3.0, "interval": "1h"}

    problem = explain_check(
        "raw_funding",
        "fresh",
        severity=WARNING,
        description=None,
        metadata={
            "coins_failed": {"BTC": "stale", "ETH": "stale", "SOL": "no closed bar in the frame"},
            "details": {"BTC": detail("2025-05-20T10:00:00", 5.5), "ETH": detail("2025-05-20T10:00:00", 5.5)},
        },
    )
    assert "BTC, ETH funding series (1h bars) end 2025-05-20 10:00, 5.5 h before" in problem.cause
    assert "SOL: no closed bar in the frame" in problem.cause


def test_config_sane_names_coins_bars_and_remedy() -> None:
    warnings = {
        coin: [
            f"{coin} taker_ratio_high: only 170 bars with a value, lookback is 200",
            f"{coin} taker_ratio_low: only 170 bars with a value, lookback is 200",
        ]
        for coin in ("ETH", "SOL", "XRP")
    }
    problem = explain_check(
        "percentile_configs",
        "config_sane",
        severity=WARNING,
        description="...",
        metadata={"errors": {}, "warnings": warnings},
    )
    assert problem.cause == (
        "ETH, SOL, XRP taker_ratio_high/taker_ratio_low: only 170 of the 200 lookback bars have a "
        "value (too little taker history in the window)"
    )
    assert (
        "backfill" in problem.remedy
        and "percentiles.lookback_bars in config/thresholds.yaml" in problem.remedy
    )
    assert problem.coins == ("ETH", "SOL", "XRP")


def test_config_sane_errors_say_the_coin_was_not_scored() -> None:
    problem = explain_check(
        "percentile_configs",
        "config_sane",
        severity=ERROR,
        description=None,
        metadata={"errors": {"BTC": ["BTC funding_bps_8h: extreme 900.0 bps/8h above 500"]}, "warnings": {}},
    )
    assert problem.cause.startswith("BTC funding_bps_8h: extreme 900.0 bps/8h above 500")
    assert "not scored" in problem.cause and "config/thresholds.yaml" in problem.remedy


def test_fetched_groups_coins_by_error_and_endpoint() -> None:
    problem = explain_check(
        "raw_funding",
        "fetched",
        severity=ERROR,
        description=None,
        metadata={
            "coins_failed": {
                "BTC": auth_error("/api/futures/funding-rate/history", "BTCUSDT"),
                "ETH": auth_error("/api/futures/funding-rate/history", "ETHUSDT"),
                "SOL": auth_error("/api/futures/funding-rate/oi-weight-history", "SOL"),
            },
            "coins_fetched": 0,
        },
    )
    assert problem.cause == (
        "AuthError: HTTP 401: authentication refused at /api/futures/funding-rate/history (BTC, ETH), "
        "/api/futures/funding-rate/oi-weight-history (SOL); not written this run"
    )
    assert problem.remedy.startswith(AUTH_REMEDY)


def test_other_raw_checks_and_unknown_checks() -> None:
    gx = explain_check(
        "raw_open_interest",
        "unique_keys",
        severity=ERROR,
        description="BTC: 3 duplicate keys",
        metadata={"coins_failed": {"BTC": "3 duplicate keys"}, "details": {}},
    )
    assert gx.line.startswith(
        "raw_open_interest unique_keys: BTC: 3 duplicate keys; not written this run; remedy: "
    )
    dbt = explain_check(
        "fct_layer_bars", "not_null_fct_layer_bars_ts", severity=ERROR, description=None, metadata={}
    )
    assert dbt.cause == "did not pass" and "log file" in dbt.remedy


def test_health_check_groups_calls() -> None:
    detail = (
        "HTTP 401: authentication refused; endpoint=/api/futures/funding-rate/history; params={}; "
        f"http_status=401. Remedy: {AUTH_REMEDY}"
    )
    problem = explain_check(
        "api_health",
        "all_calls_ok",
        severity=ERROR,
        description=None,
        metadata={
            "failed": [
                f"/api/futures/funding-rate/history?symbol=BTCUSDT: {detail}",
                "pair Binance BTCUSDT (BTC price): not in the instruments snapshot",
            ]
        },
    )
    assert "HTTP 401: authentication refused (/api/futures/funding-rate/history)" in problem.cause
    assert "not in the instruments snapshot (pair Binance BTCUSDT (BTC price))" in problem.cause
    assert problem.remedy == AUTH_REMEDY


def test_parse_error_reads_a_client_error() -> None:
    err = parse_error(f"sniper_pipeline.coinglass.errors.RateLimitError: {RATE_LIMITED}\n", "RateLimitError")
    assert err.error_class == "RateLimitError"
    assert err.message == "HTTP 429: rate limit exceeded (after 21 attempts)"
    assert err.endpoint == "/api/futures/liquidation/aggregated-history" and err.symbol == "HYPE"
    assert err.remedy is not None and err.remedy.startswith("the key's per-minute limit")
    plain = parse_error("ValueError: something odd")
    assert (plain.error_class, plain.message, plain.remedy) == ("ValueError", "something odd", None)


def test_a_run_failure_names_step_error_endpoint_and_coin() -> None:
    [problem] = explain_run_failure(
        "HYPE",
        "1a2b3c4d-0000",
        "raw_layers",
        "RateLimitError",
        f"sniper_pipeline.coinglass.errors.RateLimitError: {RATE_LIMITED}",
    )
    assert problem.line.startswith(
        "HYPE (run 1a2b3c4d), step raw_layers: RateLimitError: HTTP 429: rate limit exceeded "
        "(after 21 attempts) at /api/futures/liquidation/aggregated-history (HYPE); remedy: "
        "the key's per-minute limit"
    )
    fields = problem.as_dict()
    assert fields["step"] == "raw_layers" and fields["error_class"] == "RateLimitError"
    assert fields["coins"] == ["HYPE"] and fields["endpoint"] == "/api/futures/liquidation/aggregated-history"
    assert fields["line"] == problem.line


def test_a_run_failure_over_blocked_coins_groups_them() -> None:
    blocked = {
        "BTC": "raw_funding: fetch failed: " + auth_error("/api/futures/funding-rate/history", "BTCUSDT"),
        "ETH": "raw_funding: fetch failed: " + auth_error("/api/futures/funding-rate/history", "ETHUSDT"),
        "SOL": "raw_prices: plausible_ranges: 2 rows outside 0..1e7",
    }
    problems = explain_run_failure(
        "BTC..SOL", "abcdef12-3", "alert_outbox", "Failure", "dagster...Failure: blocked ...", blocked
    )
    assert len(problems) == 2
    auth, ranges = problems
    assert auth.cause == (
        "AuthError: HTTP 401: authentication refused at /api/futures/funding-rate/history (BTC, ETH); "
        "nothing written or scored for BTC, ETH"
    )
    assert auth.remedy == AUTH_REMEDY and auth.coins == ("BTC", "ETH")
    assert (
        ranges.cause
        == "raw_prices plausible_ranges: 2 rows outside 0..1e7; nothing written or scored for SOL"
    )
    assert ranges.coins == ("SOL",)
    assert "config/layers.yaml" in ranges.remedy


def test_an_unknown_error_points_to_the_log() -> None:
    [problem] = explain_run_failure("report", "ffff0000", "signal_report", "KeyError", "KeyError: 'x'")
    assert problem.cause == "KeyError: 'x'" and problem.remedy == DEFAULT_REMEDY


# -- the progress lines -----------------------------------------------------------------------------


def event(kind: str, step: str | None, timestamp: float) -> Any:
    return SimpleNamespace(
        dagster_event=SimpleNamespace(event_type_value=kind, step_key=step), timestamp=timestamp
    )


def test_plain_progress_prints_one_line_per_finished_step() -> None:
    out = io.StringIO()
    progress = RunProgress(out, live=True)  # not a terminal: plain lines anyway
    progress.start_job("scan BTC..XRP", "fetch, transform, score")
    for entry in (
        event("STEP_START", "raw_layers", 100.0),
        event("LOGS_CAPTURED", None, 100.1),
        event("STEP_SUCCESS", "raw_layers", 102.9),
        event("STEP_START", "coinglass_dbt", 103.0),
        event("STEP_FAILURE", "coinglass_dbt", 104.5),
    ):
        progress.on_event(entry)
    progress.on_event(object())  # never raises: progress must not break a run
    progress.finish_job(False)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("scan BTC..XRP  raw_layers") and lines[0].endswith("✓ 2.9s")
    assert "coinglass_dbt" in lines[1] and lines[1].endswith("✗ failed 1.5s")
    assert lines[2].startswith("scan BTC..XRP  FAILED")
