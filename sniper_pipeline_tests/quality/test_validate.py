"""validate_frame against real great_expectations: each check can pass, fail, and error."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sniper_pipeline.quality import (
    ASCENDING_TS,
    CHECK_NAMES,
    ERROR,
    FRESH,
    NON_NULL_KEYS,
    PLAUSIBLE_RANGES,
    RAW_TABLES,
    TYPED_COLUMNS,
    UNIQUE_KEYS,
    WARN,
    CheckOutcome,
    FrameValidation,
    validate_frame,
)
from sniper_pipeline.replay.sample import sample_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
# The team's shared folder sits next to the checkout; absent in a fresh clone.
_LIQ_FILE = "api_futures_liquidation_aggregated-history__symbol=BTC__exchange_list=Binance__interval=4h.json"
_SHARED_LIQ = REPO_ROOT.parent / "shared" / "fixtures" / "coinglass-real" / _LIQ_FILE
# Fall back to the recordings the package ships (a fresh clone has no ../shared).
REAL_LIQ = _SHARED_LIQ if _SHARED_LIQ.is_file() else sample_dir() / _LIQ_FILE
START = pd.Timestamp("2025-01-01", tz="UTC")
ROWS = 200
# The last bar opens at START + (ROWS-1) * 4h; one hour after it closes.
NOW = (START + pd.Timedelta(hours=4 * ROWS + 1)).to_pydatetime()


def series(values: dict[str, object], *, n: int = ROWS, interval: str = "4h") -> pd.DataFrame:
    ts = pd.date_range(START, periods=n, freq=interval)
    base: dict[str, object] = {
        "coin": "BTC",
        "source_key": "/api/x?symbol=BTC",
        "interval": interval,
        "ts": ts,
    }
    frame = pd.DataFrame({**base, **values})
    frame["is_closed"] = True
    frame["ingested_at"] = pd.Timestamp("2025-03-01")
    return frame


def liquidations(n: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return series(
        {"long_liquidation_usd": rng.uniform(0, 1e7, n), "short_liquidation_usd": rng.uniform(0, 1e7, n)}, n=n
    )


def clean_frame(table: str) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = ROWS
    price = rng.uniform(90_000, 100_000, n)
    if table == "raw_funding":
        frame = series(
            {
                "exchange": "Binance",
                "symbol": "BTCUSDT",
                "open_pct": 0.01,
                "high_pct": 0.02,
                "low_pct": -0.01,
                "close_pct": rng.uniform(-0.01, 0.02, n),
            },
            interval="8h",
        )
        frame.loc[3, "high_pct"] = np.nan  # API nulls are allowed in value columns
        return frame
    if table == "raw_open_interest":
        return series(
            {"open": price, "high": price * 1.01, "low": price * 0.99, "close": price, "unit": "coin"}
        )
    if table == "raw_liquidations":
        return liquidations()
    if table == "raw_taker_volume":
        return series(
            {
                "buy_volume": rng.uniform(0, 1e9, n),
                "sell_volume": rng.uniform(0, 1e9, n),
                "value_unit": "usd",
            },
            interval="1d",
        )
    if table == "raw_prices":
        volume = rng.uniform(0, 1e9, n)
        volume[5] = np.nan
        return series(
            {
                "open_usd": price,
                "high_usd": price * 1.01,
                "low_usd": price * 0.99,
                "close_usd": price,
                "volume_usd": volume,
            }
        )
    if table == "raw_etf_flows":
        flows = rng.uniform(-1e9, 1e9, n)
        flows[2] = np.nan  # a day not published
        return pd.DataFrame(
            {
                "ts": pd.date_range(START, periods=n, freq="1D"),
                "flow_usd": flows,
                "price_usd": price,
                "etf_flows_json": ['[{"ticker": "IBIT", "flow_usd": 1.0}]'] * n,
                "is_published": [i != 2 for i in range(n)],
                "is_closed": True,
                "ingested_at": pd.Timestamp("2025-03-01"),
            }
        )
    raise AssertionError(table)


def now_after(frame: pd.DataFrame, interval: str) -> datetime:
    return (pd.Timestamp(frame["ts"].max()) + pd.Timedelta(interval) + pd.Timedelta(hours=1)).to_pydatetime()


def assert_only_failure(result: FrameValidation, name: str) -> CheckOutcome:
    failed = [o.name for o in result.failures()]
    assert failed == [name], result.summary()
    return result.outcome(name)


# -- passing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", RAW_TABLES)
def test_clean_frame_of_every_table_passes(table: str) -> None:
    frame = clean_frame(table)
    interval = {"raw_funding": "8h", "raw_taker_volume": "1d", "raw_etf_flows": "1d"}.get(table, "4h")
    result = validate_frame(table, frame, interval=interval, now=now_after(frame, interval))
    assert result.ok, result.summary()
    assert [o.name for o in result.outcomes] == list(CHECK_NAMES)
    assert all(o.passed and not o.errored for o in result.outcomes), result.summary()
    assert result.outcome(TYPED_COLUMNS).metadata["expectations"] > 5
    # times in metadata are naive UTC, like the warehouse
    newest = pd.Timestamp(frame["ts"].max()).tz_localize(None).isoformat()
    assert result.outcome(FRESH).metadata["newest_closed_ts"] == newest


def test_naive_and_tz_aware_ts_both_pass_and_the_frame_is_untouched() -> None:
    aware = liquidations()
    aware.index = aware.index + 100  # a non-default index must not matter
    naive = aware.assign(ts=aware["ts"].dt.tz_localize(None))
    before = aware.copy()
    for frame in (aware, naive):
        result = validate_frame("raw_liquidations", frame, interval="4h", now=NOW)
        assert result.ok and not result.failures(), result.summary()
    pd.testing.assert_frame_equal(aware, before)
    # a naive clock is taken as UTC too
    assert validate_frame("raw_liquidations", aware, interval="4h", now=NOW.replace(tzinfo=None)).ok


def test_real_recording_passes() -> None:
    if not REAL_LIQ.exists():
        pytest.skip(f"no shared recording at {REAL_LIQ}")
    rows = json.loads(REAL_LIQ.read_text())["data"]
    ts = pd.to_datetime([r["time"] for r in rows], unit="ms", utc=True)
    now = ts.max() + pd.Timedelta(hours=5)
    frame = pd.DataFrame(
        {
            "coin": "BTC",
            "source_key": "/api/futures/liquidation/aggregated-history?exchange_list=Binance&symbol=BTC",
            "interval": "4h",
            "ts": ts,
            "long_liquidation_usd": [float(r["aggregated_long_liquidation_usd"]) for r in rows],
            "short_liquidation_usd": [float(r["aggregated_short_liquidation_usd"]) for r in rows],
            "is_closed": ts + pd.Timedelta(hours=4) <= now,
            "ingested_at": now.tz_localize(None),
        }
    )
    result = validate_frame("raw_liquidations", frame, interval="4h", now=now.to_pydatetime())
    assert result.ok and not result.failures(), result.summary()
    assert result.row_count == len(rows) > 1000
    # the same bars a week later: still writable, but stale
    later = validate_frame(
        "raw_liquidations", frame, interval="4h", now=(now + pd.Timedelta(days=7)).to_pydatetime()
    )
    assert later.ok and [o.name for o in later.failures()] == [FRESH]


# -- each check fails ---------------------------------------------------------------------------


def test_duplicate_keys_fail_unique_keys_with_the_duplicate_ts() -> None:
    frame = liquidations()
    frame = pd.concat([frame.iloc[:11], frame.iloc[[10]], frame.iloc[11:]], ignore_index=True)
    result = validate_frame("raw_liquidations", frame, interval="4h", now=NOW)
    assert not result.ok
    outcome = result.outcome(UNIQUE_KEYS)
    assert not outcome.passed and not outcome.errored and outcome.severity == ERROR
    assert outcome.metadata["unexpected_count"] == 2
    dup_ts = pd.Timestamp(frame.loc[10, "ts"]).tz_localize(None).isoformat()
    assert {s["ts"] for s in outcome.metadata["samples"]} == {dup_ts}
    # a repeated ts is also not strictly ascending; nothing else breaks
    assert {o.name for o in result.failures()} == {UNIQUE_KEYS, ASCENDING_TS}


def test_unsorted_ts_fails_ascending_only() -> None:
    frame = liquidations()
    frame.loc[[20, 21], "ts"] = frame.loc[[21, 20], "ts"].to_numpy()
    outcome = assert_only_failure(
        validate_frame("raw_liquidations", frame, interval="4h", now=NOW), ASCENDING_TS
    )
    assert outcome.metadata["unexpected_count"] == 1
    assert outcome.metadata["samples"][0]["row"] == 21


@pytest.mark.parametrize("column", ["coin", "source_key", "ts"])
def test_null_key_fails_non_null_keys(column: str) -> None:
    frame = liquidations()
    frame.loc[7, column] = None  # NaT in the datetime ts column
    result = validate_frame("raw_liquidations", frame, interval="4h", now=NOW)
    outcome = result.outcome(NON_NULL_KEYS)
    assert not result.ok and not outcome.passed
    assert outcome.metadata["unexpected_count"] == 1
    assert outcome.metadata["samples"][0]["row"] == 7
    assert column in outcome.description


def test_negative_liquidation_fails_plausible_ranges() -> None:
    frame = liquidations()
    frame.loc[4, "short_liquidation_usd"] = -1.0
    frame.loc[9, "long_liquidation_usd"] = 2e11
    frame.loc[12, "long_liquidation_usd"] = np.nan  # a null is not a range breach
    outcome = assert_only_failure(
        validate_frame("raw_liquidations", frame, interval="4h", now=NOW), PLAUSIBLE_RANGES
    )
    assert outcome.severity == ERROR and not outcome.errored
    assert outcome.metadata["unexpected_count"] == 2
    offending = {
        (s["row"], s.get("short_liquidation_usd", s.get("long_liquidation_usd")))
        for s in outcome.metadata["samples"]
    }
    assert offending == {(4, -1.0), (9, 2e11)}


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("raw_funding", "close_pct", 5.5),  # 550 bps per settlement
        ("raw_funding", "low_pct", 0.5),  # above high_pct (0.02)
        ("raw_open_interest", "unit", "contracts"),
        ("raw_open_interest", "close", 0.0),
        ("raw_taker_volume", "value_unit", "eur"),
        ("raw_prices", "volume_usd", -3.0),
        ("raw_etf_flows", "price_usd", -1.0),
        ("raw_etf_flows", "flow_usd", -1e11),
    ],
)
def test_implausible_values_fail_plausible_ranges(table: str, column: str, value: object) -> None:
    frame = clean_frame(table)
    frame.loc[6, column] = value
    result = validate_frame(table, frame, interval=None, now=NOW)
    outcome = assert_only_failure(result, PLAUSIBLE_RANGES)
    assert not result.ok and outcome.metadata["unexpected_count"] == 1


def test_missing_column_fails_typed_columns() -> None:
    frame = liquidations().drop(columns=["short_liquidation_usd"])
    result = validate_frame("raw_liquidations", frame, interval="4h", now=NOW)
    typed = result.outcome(TYPED_COLUMNS)
    assert not result.ok and not typed.passed and not typed.errored
    assert typed.metadata["missing_columns"] == ["short_liquidation_usd"]
    assert "short_liquidation_usd" in typed.description
    # the range on the missing column could not run: not a pass, not a GX error either
    ranges = result.outcome(PLAUSIBLE_RANGES)
    assert not ranges.passed and not ranges.errored
    assert ranges.metadata["not_evaluated"] == ["column_values_to_be_between(short_liquidation_usd)"]


def test_numbers_as_text_fail_typed_columns() -> None:
    frame = liquidations()
    frame["long_liquidation_usd"] = frame["long_liquidation_usd"].astype(int).astype(str)
    result = validate_frame("raw_liquidations", frame, interval="4h", now=NOW)
    assert not result.outcome(TYPED_COLUMNS).passed
    assert "long_liquidation_usd" in result.outcome(TYPED_COLUMNS).description


def test_stale_frame_warns_but_stays_ok() -> None:
    frame = liquidations()
    now = NOW + timedelta(hours=12)  # newest bar opened 4*ROWS-4+13 h before: 17 h > 3 x 4h
    result = validate_frame("raw_liquidations", frame, interval="4h", now=now)
    fresh = assert_only_failure(result, FRESH)
    assert fresh.severity == WARN and not fresh.errored
    assert result.ok
    assert fresh.metadata["age_hours"] == 17.0 and fresh.metadata["max_age_hours"] == 12.0
    # just inside the limit it passes
    assert (
        validate_frame("raw_liquidations", frame, interval="4h", now=now - timedelta(hours=5))
        .outcome(FRESH)
        .passed
    )


def test_freshness_counts_closed_bars_only() -> None:
    frame = liquidations()
    frame.loc[len(frame) - 10 :, "is_closed"] = False
    result = validate_frame("raw_liquidations", frame, interval="4h", now=NOW)
    fresh = result.outcome(FRESH)
    assert not fresh.passed and result.ok
    assert fresh.metadata["closed_bars"] == ROWS - 10


def test_freshness_is_skipped_without_interval() -> None:
    result = validate_frame("raw_liquidations", liquidations(), interval=None, now=NOW + timedelta(days=900))
    fresh = result.outcome(FRESH)
    assert fresh.passed and fresh.metadata == {"skipped": "no interval given"}


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "message"),
    [({"usd": 1.0}, "not supported between"), ("12.5", "must either be None or of the same type")],
    ids=["dicts", "strings"],
)
def test_expectation_that_raises_is_errored_not_failed(bad: object, message: str) -> None:
    frame = liquidations()
    frame["long_liquidation_usd"] = pd.Series([bad] * len(frame), dtype=object)
    result = validate_frame("raw_liquidations", frame, interval="4h", now=NOW)
    ranges = result.outcome(PLAUSIBLE_RANGES)
    assert ranges.errored and not ranges.passed
    assert message in ranges.description  # GX's exception_message
    assert message in ranges.metadata["errors"][0]
    assert not result.ok
    assert not result.outcome(TYPED_COLUMNS).errored and not result.outcome(TYPED_COLUMNS).passed
    assert "ERRORED" in result.summary()


def test_unknown_table_or_interval_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="raw_nope"):
        validate_frame("raw_nope", liquidations(), interval="4h", now=NOW)
    with pytest.raises(ValueError, match="4x"):
        validate_frame("raw_liquidations", liquidations(), interval="4x", now=NOW)


# -- shape of the result ------------------------------------------------------------------------


def test_empty_frame_passes_and_says_so() -> None:
    result = validate_frame("raw_liquidations", liquidations().iloc[:0], interval="4h", now=NOW)
    assert result.ok and not result.failures()
    assert all(o.metadata.get("empty") for o in result.outcomes if o.name != FRESH)
    assert "empty" in result.outcome(FRESH).metadata["skipped"]


def test_metadata_is_strict_json_and_samples_are_capped() -> None:
    frame = liquidations()
    frame["long_liquidation_usd"] = -1.0
    frame.loc[3, "coin"] = None
    result = validate_frame("raw_liquidations", frame, interval="4h", now=NOW + timedelta(days=30))
    for o in result.outcomes:
        json.dumps(o.metadata, allow_nan=False)
        for sample in o.metadata.get("samples", []):
            assert all(v is None or isinstance(v, (str, int, float, bool)) for v in sample.values())
    ranges = result.outcome(PLAUSIBLE_RANGES)
    assert ranges.metadata["unexpected_count"] == ROWS and len(ranges.metadata["samples"]) == 5
    summary = result.summary()
    assert "plausible_ranges [ERROR] FAILED" in summary and "fresh [WARN] FAILED" in summary


def test_ok_rules() -> None:
    def outcome(name: str, passed: bool, errored: bool = False) -> CheckOutcome:
        return CheckOutcome(name, passed, WARN if name == FRESH else ERROR, errored, "", {})

    passing = [outcome(n, True) for n in CHECK_NAMES]
    assert FrameValidation(passing).ok
    assert FrameValidation([*passing[:-1], outcome(FRESH, False)]).ok
    assert not FrameValidation([*passing[:-1], outcome(FRESH, False, errored=True)]).ok
    assert not FrameValidation([outcome(UNIQUE_KEYS, False), *passing[1:]]).ok
    assert not FrameValidation([outcome(UNIQUE_KEYS, False, errored=True), *passing[1:]]).ok


def test_importing_the_package_loads_neither_gx_nor_dagster() -> None:
    code = (
        "import sys, sniper_pipeline.quality, sniper_pipeline.quality.validate;"
        "bad = [m for m in ('great_expectations', 'dagster') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_gx_preload_leaves_sqlalchemy_orm_imported_by_its_caller() -> None:
    """The caller imports sqlalchemy.orm before the preload thread starts, so the two threads
    never import its package cycle at once (the GX import itself is replaced by a no-op)."""
    code = (
        "import sys, threading, sniper_pipeline.quality.validate as v;"
        "assert 'sqlalchemy.orm' not in sys.modules;"
        "v._preload_gx = lambda: None;"
        "v.preload_gx_in_background();"
        "assert 'sqlalchemy.orm' in sys.modules;"
        "[t.join() for t in threading.enumerate() if t.name == 'gx-preload']"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_clock_may_be_aware_in_another_zone() -> None:
    from zoneinfo import ZoneInfo

    frame = liquidations()
    here = NOW.astimezone(ZoneInfo("Asia/Tokyo"))
    assert validate_frame("raw_liquidations", frame, interval="4h", now=here).outcome(FRESH).passed
    assert (
        not validate_frame("raw_liquidations", frame, interval="4h", now=here + timedelta(hours=8))
        .outcome(FRESH)
        .passed
    )
