"""Run a raw table's suite on a pandas frame with great_expectations 1.x, one ephemeral context per call.

GX is imported lazily: it takes seconds to import, and analytics must be off before it is.
Freshness is computed here in pandas (GX has no clean freshness expectation).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cache, lru_cache
from typing import Any

import numpy as np
import pandas as pd

from sniper_pipeline.quality.gx_import import import_great_expectations
from sniper_pipeline.quality.outcomes import (
    ASCENDING_TS,
    CHECK_NAMES,
    CHECK_SEVERITY,
    FRESH,
    TYPED_COLUMNS,
    CheckOutcome,
    FrameValidation,
)
from sniper_pipeline.quality.suites import ExpectationSpec, TableContract, contract_for
from sniper_pipeline.settings.timeutil import interval_delta, naive_utc_columns, naive_utc_stamp

_GX_LOCK = threading.Lock()

SAMPLE_SIZE = 5
STALE_AFTER_INTERVALS = 3
_MAX_MESSAGE = 300


@dataclass
class _Result:
    """What one expectation said, reduced to what the outcomes need."""

    spec: ExpectationSpec
    success: bool
    errors: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def errored(self) -> bool:
        return bool(self.errors)


def validate_frame(
    table: str, frame: pd.DataFrame, *, interval: str | None, now: datetime
) -> FrameValidation:
    """Check a fetched frame of `table` before it is upserted.

    `interval` is the bar interval for freshness (None skips it); `now` the pipeline clock
    (naive = UTC). Raises ValueError for an unknown table or interval: those are caller bugs.
    """
    started = time.perf_counter()
    if len(frame) == 0:
        contract_for(table)  # an unknown table is still a caller bug
        outcomes = [_empty(name) for name in CHECK_NAMES if name != FRESH]
        outcomes.append(_fresh_skipped("empty frame"))
    else:
        prepared = _prepare(frame)
        outcomes = [*_suite_outcomes(table, prepared), _fresh(prepared, interval, now)]
    return FrameValidation(
        outcomes=outcomes, table=table, row_count=len(frame), elapsed_seconds=time.perf_counter() - started
    )


def unchanged_frame(
    table: str, frame: pd.DataFrame, *, interval: str | None, now: datetime
) -> FrameValidation:
    """A frame that changes no stored row: nothing of it is written, so the suite has nothing to
    guard (it judged these rows when they were stored); freshness still tells whether the
    series has stopped moving."""
    contract_for(table)  # an unknown table is still a caller bug
    note = "no new or changed rows: nothing to validate, nothing written"
    outcomes = [
        replace(_empty(name), description=note, metadata={"unchanged": True, "rows": len(frame)})
        for name in CHECK_NAMES
        if name != FRESH
    ]
    fresh = _fresh(_prepare(frame), interval, now) if len(frame) else _fresh_skipped("empty frame")
    return FrameValidation(outcomes=[*outcomes, fresh], table=table, row_count=len(frame))


SCAN_ORDER = "_scan_order"  # in a combined frame: increasing iff each frame's ts is increasing
_ORDER_STRIDE = 1e12  # seconds between frames' order ranges: above any epoch second, exact in float64


def validate_frames(
    table: str, frames: Mapping[str, pd.DataFrame], *, intervals: Mapping[str, str | None], now: datetime
) -> dict[str, FrameValidation]:
    """Every coin's fetched frame of one table, keyed like `frames`.

    GX costs per call, not per row, and a scan fetches hundreds of frames: so the frames are
    first validated together, as one frame. When that passes (the usual case) every frame
    passed; when anything fails or errors, each frame is validated alone, so the outcomes name
    the frame (coin) and rows exactly. Freshness is always judged per frame."""
    filled = {key: frame for key, frame in frames.items() if len(frame)}
    if len(filled) > 1:
        started = time.perf_counter()
        combined = _combined(filled)
        outcomes = _suite_outcomes(table, combined, ascending_column=SCAN_ORDER)
        if all(o.passed and not o.errored for o in outcomes):
            elapsed = (time.perf_counter() - started) / len(filled)
            shared = [
                replace(o, metadata={**o.metadata, "frames_validated_together": len(filled)})
                for o in outcomes
            ]
            return {
                key: FrameValidation(
                    outcomes=[*shared, _fresh(_prepare(frame), intervals.get(key), now)],
                    table=table,
                    row_count=len(frame),
                    elapsed_seconds=elapsed,
                )
                if key in filled
                else validate_frame(table, frame, interval=intervals.get(key), now=now)
                for key, frame in frames.items()
            }
    return {
        key: validate_frame(table, frame, interval=intervals.get(key), now=now)
        for key, frame in frames.items()
    }


def _combined(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    parts = []
    for index, frame in enumerate(frames.values()):
        prepared = _prepare(frame)
        seconds = pd.to_datetime(prepared["ts"], errors="coerce").astype("int64") // 10**9
        prepared[SCAN_ORDER] = index * _ORDER_STRIDE + seconds.astype("float64")
        parts.append(prepared)
    return pd.concat(parts, ignore_index=True)


def _suite_outcomes(table: str, prepared: pd.DataFrame, ascending_column: str = "ts") -> list[CheckOutcome]:
    """The table's GX suite on a prepared frame: one outcome per check but freshness."""
    contract = contract_for(table)
    specs = [
        replace(s, kwargs={**s.kwargs, "column": ascending_column}) if s.check == ASCENDING_TS else s
        for s in contract.expectations()
    ]
    present = set(prepared.columns)
    runnable = [s for s in specs if set(s.columns) <= present]
    skipped = [s for s in specs if not set(s.columns) <= present]
    results = _run_gx(table, prepared, runnable)
    return [
        _outcome(
            name,
            [r for r in results if r.spec.check == name],
            [s for s in skipped if s.check == name],
            prepared,
            contract,
        )
        for name in CHECK_NAMES
        if name != FRESH
    ]


def _fresh(prepared: pd.DataFrame, interval: str | None, now: datetime) -> CheckOutcome:
    max_age = STALE_AFTER_INTERVALS * interval_delta(interval) if interval is not None else None
    return _freshness(prepared, interval, max_age, now)


def preload_gx_in_background() -> None:
    """Import great_expectations and build the context (seconds) in a daemon thread, while the
    scan's requests are in flight.

    sqlalchemy.orm is imported first, in the calling thread. GX imports it, and SQLAlchemy
    itself imports it lazily on first use of some features in the caller's thread; its package
    has import cycles, and the same cycle imported by two threads at once can hand one of them
    a half-initialised module (seen once in CI: `sqlalchemy.orm.exc` without its classes)."""
    import sqlalchemy.orm  # noqa: F401

    threading.Thread(target=_preload_gx, name="gx-preload", daemon=True).start()


def _preload_gx() -> None:
    with _GX_LOCK:
        _gx_context()


# -- GX -----------------------------------------------------------------------------------------


def _prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy GX can judge: a 0..n-1 index (sample rows are looked up by it) and tz-naive UTC times."""
    return naive_utc_columns(frame.reset_index(drop=True))


def _run_gx(table: str, frame: pd.DataFrame, specs: Sequence[ExpectationSpec]) -> list[_Result]:
    if not specs:
        return []
    try:
        return _validate_with_gx(table, frame, specs)
    except Exception as exc:
        # GX itself broke (not one expectation): every expectation counts as errored, never as passed.
        message = _short(f"great_expectations failed: {type(exc).__name__}: {exc}")
        return [_Result(spec=s, success=False, errors=[message]) for s in specs]


@lru_cache(maxsize=1)
def _gx_context() -> Any:
    """One ephemeral GX context per process: building one costs far more than validating a frame,
    and a scan validates hundreds of frames."""
    gx = import_great_expectations()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        # No data docs: the default ephemeral context reserves a temp directory for them.
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        # tqdm bars per metric would flood the Dagster compute logs.
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        analytics_enabled=False,  # set here, not through GX_ANALYTICS_ENABLED in os.environ
    )
    return gx.get_context(mode="ephemeral", project_config=config)


@cache
def _batch_definition(table: str) -> Any:
    """One pandas asset per table on the shared context; each call passes its own frame."""
    # add_or_update: GX keeps one current project context per process, so another context made
    # meanwhile (a test, a library) may already hold a datasource of this name.
    return (
        _gx_context()
        .data_sources.add_or_update_pandas(f"{table}_frames")
        .add_dataframe_asset(table)
        .add_batch_definition_whole_dataframe("whole_frame")
    )


def _validate_with_gx(table: str, frame: pd.DataFrame, specs: Sequence[ExpectationSpec]) -> list[_Result]:
    gx = import_great_expectations()
    import great_expectations.expectations as gxe

    # GX validates in the calling thread; the lock keeps the shared context to one frame at a time.
    with _GX_LOCK:
        batch = _batch_definition(table).get_batch(batch_parameters={"dataframe": frame})
        return _run_suite(gx, gxe, batch, table, specs)


def _run_suite(gx: Any, gxe: Any, batch: Any, table: str, specs: Sequence[ExpectationSpec]) -> list[_Result]:
    suite = gx.ExpectationSuite(name=f"{table}_suite")
    for index, spec in enumerate(specs):
        expectation_class = getattr(gxe, spec.expectation)
        # The index in meta maps results back: GX does not return them in suite order.
        suite.add_expectation(expectation_class(**spec.kwargs, meta={"spec_index": index}))
    validation = batch.validate(
        suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
    )
    results: list[_Result | None] = [None] * len(specs)
    for item in validation.results:
        if item.expectation_config is None:
            continue  # reported below as a missing result
        index = int(item.expectation_config.meta["spec_index"])
        results[index] = _Result(
            spec=specs[index],
            success=bool(item.success),
            errors=_raised(item.exception_info),
            result=dict(item.result or {}),
        )
    missing = [s for s, r in zip(specs, results, strict=True) if r is None]
    if missing:
        raise RuntimeError(f"no result for {', '.join(s.label for s in missing)}")
    return [r for r in results if r is not None]


def _raised(exception_info: Any) -> list[str]:
    """Messages of the exceptions an expectation raised.

    GX 1.x gives either one flat {raised_exception, exception_message, ...} dict or, when a
    metric failed, a dict of them keyed by metric id.
    """
    if not isinstance(exception_info, dict) or not exception_info:
        return []
    entries = [exception_info] if "raised_exception" in exception_info else list(exception_info.values())
    return [
        _short(str(e.get("exception_message") or "raised without a message"))
        for e in entries
        if isinstance(e, dict) and e.get("raised_exception")
    ]


# -- outcomes -----------------------------------------------------------------------------------


def _outcome(
    name: str,
    results: list[_Result],
    skipped: list[ExpectationSpec],
    frame: pd.DataFrame,
    contract: TableContract,
) -> CheckOutcome:
    errored = [r for r in results if r.errored]
    failed = [r for r in results if not r.success and not r.errored]
    metadata: dict[str, Any] = {
        "element_count": len(frame),
        "expectations": len(results),
        "unexpected_count": sum(int(r.result.get("unexpected_count") or 0) for r in failed),
    }
    problems: list[str] = []
    if errored:
        metadata["errors"] = [f"{r.spec.label}: {m}" for r in errored for m in r.errors][:SAMPLE_SIZE]
        problems += [f"{r.spec.label} raised: {'; '.join(r.errors)}" for r in errored]
    if failed:
        metadata["failed_expectations"] = [r.spec.label for r in failed]
        problems += [_describe(r) for r in failed]
        samples = _samples(failed, frame, contract)
        if samples:
            metadata["samples"] = samples
    if skipped:
        # Fail closed: an expectation that could not run proves nothing.
        missing = sorted({c for s in skipped for c in s.columns if c not in frame.columns})
        metadata["not_evaluated"] = [s.label for s in skipped]
        metadata["missing_columns"] = missing
        # typed_columns already names the missing columns through its column-set expectation.
        if name != TYPED_COLUMNS:
            problems.append(
                f"{len(skipped)} expectation(s) not evaluated: missing column(s) {', '.join(missing)}"
            )
    if name == TYPED_COLUMNS and _missing_columns(results):
        metadata["missing_columns"] = _missing_columns(results)
    passed = not problems
    description = (
        f"{len(results)} expectation(s) passed on {len(frame)} rows"
        if passed
        else _short("; ".join(problems))
    )
    return CheckOutcome(
        name=name,
        passed=passed,
        severity=CHECK_SEVERITY[name],
        errored=bool(errored),
        description=description,
        metadata=metadata,
    )


def _describe(r: _Result) -> str:
    res = r.result
    mismatched = (res.get("details") or {}).get("mismatched") or {}
    if mismatched.get("missing"):
        return f"{r.spec.label}: missing column(s) {', '.join(map(str, mismatched['missing']))}"
    if "unexpected_count" in res:
        values = ", ".join(str(_jsonable(v)) for v in (res.get("partial_unexpected_list") or [])[:3])
        return (
            f"{r.spec.label}: {res.get('unexpected_count')} of {res.get('element_count')} rows unexpected"
            + (f" (e.g. {values})" if values else "")
        )
    if "observed_value" in res:
        return f"{r.spec.label}: observed {_jsonable(res['observed_value'])}"
    return f"{r.spec.label}: failed"


def _missing_columns(results: list[_Result]) -> list[str]:
    for r in results:
        mismatched = (r.result.get("details") or {}).get("mismatched") or {}
        if mismatched.get("missing"):
            return sorted(map(str, mismatched["missing"]))
    return []


def _samples(failed: list[_Result], frame: pd.DataFrame, contract: TableContract) -> list[dict[str, Any]]:
    """Up to SAMPLE_SIZE offending rows (keys + the judged columns), else offending values."""
    samples: list[dict[str, Any]] = []
    keys = [k for k in contract.keys if k in frame.columns]
    for r in failed:
        indices = r.result.get("partial_unexpected_index_list") or []
        columns = list(dict.fromkeys([*keys, *r.spec.columns]))
        if indices:
            for i in indices:
                if len(samples) >= SAMPLE_SIZE:
                    return samples
                if isinstance(i, (int, np.integer)) and 0 <= int(i) < len(frame):
                    row = frame.iloc[int(i)]
                    samples.append(
                        {"expectation": r.spec.label, "row": int(i), **{c: _scalar(row[c]) for c in columns}}
                    )
        else:
            for v in r.result.get("partial_unexpected_list") or []:
                if len(samples) >= SAMPLE_SIZE:
                    return samples
                samples.append({"expectation": r.spec.label, "value": _scalar(v)})
    return samples


def _passed_unchecked(name: str, description: str, metadata: dict[str, Any]) -> CheckOutcome:
    """A check that passes because there was nothing for it to judge."""
    return CheckOutcome(
        name=name,
        passed=True,
        severity=CHECK_SEVERITY[name],
        errored=False,
        description=description,
        metadata=metadata,
    )


def _empty(name: str) -> CheckOutcome:
    return _passed_unchecked(
        name, "empty frame: nothing to validate, nothing to write", {"element_count": 0, "empty": True}
    )


# -- freshness ----------------------------------------------------------------------------------


def _fresh_skipped(reason: str) -> CheckOutcome:
    return _passed_unchecked(FRESH, f"freshness not checked: {reason}", {"skipped": reason})


def _freshness(
    frame: pd.DataFrame, interval: str | None, max_age: timedelta | None, now: datetime
) -> CheckOutcome:
    """The newest closed bar (by its open time `ts`) must be at most 3 intervals before `now`."""
    if interval is None or max_age is None:
        return _fresh_skipped("no interval given")

    def stale(description: str, **extra: Any) -> CheckOutcome:
        return CheckOutcome(
            name=FRESH,
            passed=False,
            severity=CHECK_SEVERITY[FRESH],
            errored=False,
            description=description,
            metadata={"interval": interval, **extra},
        )

    if "ts" not in frame.columns or not pd.api.types.is_datetime64_any_dtype(frame["ts"]):
        return stale("no datetime 'ts' column to judge freshness by")
    closed = frame["is_closed"].eq(True).fillna(False).astype(bool) if "is_closed" in frame else None
    ts = frame.loc[closed, "ts"] if closed is not None else frame["ts"]
    newest = ts.max()
    clock = naive_utc_stamp(now)
    if pd.isna(newest):
        return stale("no closed bar in the frame", now=clock.isoformat())
    age = clock - newest
    metadata = {
        "interval": interval,
        "newest_closed_ts": newest.isoformat(),
        "now": clock.isoformat(),
        "age_hours": round(age.total_seconds() / 3600, 3),
        "max_age_hours": round(max_age.total_seconds() / 3600, 3),
        "closed_bars": len(ts),
    }
    passed = age <= max_age
    description = (
        f"newest closed bar {newest.isoformat()} is {metadata['age_hours']} h old"
        f" ({'within' if passed else 'beyond'} {STALE_AFTER_INTERVALS} x {interval}"
        f" = {metadata['max_age_hours']} h)"
    )
    return CheckOutcome(
        name=FRESH,
        passed=bool(passed),
        severity=CHECK_SEVERITY[FRESH],
        errored=False,
        description=description,
        metadata=metadata,
    )


# -- helpers ------------------------------------------------------------------------------------


def _short(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _scalar(value: Any) -> Any:
    """A JSON scalar; containers (compound keys, value pairs) become their text."""
    out = _jsonable(value)
    return out if out is None or isinstance(out, (str, int, float, bool)) else str(out)


def _jsonable(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return None if math.isnan(number) or math.isinf(number) else number
    if isinstance(value, str):
        return value
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return _short(str(value))
