"""The expectations on each raw table, as plain data.

Kept free of great_expectations so importing it is cheap; `validate.py` turns each
`ExpectationSpec` into the GX expectation class of the same name. Value nulls are allowed
(the parser maps API nulls to NaN): GX column-map expectations skip nulls, so ranges only
judge the values that are there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sniper_pipeline.quality.outcomes import (
    ASCENDING_TS,
    NON_NULL_KEYS,
    PLAUSIBLE_RANGES,
    TYPED_COLUMNS,
    UNIQUE_KEYS,
)

# dtype names GX's type-list expectation resolves for pandas (np.dtype names, or pandas
# extension dtype class names). Object columns are checked value by value instead.
NUMERIC_TYPES = ("float64", "float32", "int64", "int32", "Float64Dtype", "Int64Dtype")
# validate.py hands GX tz-naive UTC times: GX cannot match a tz-aware dtype by name.
DATETIME_TYPES = ("datetime64[ns]", "datetime64[us]", "datetime64[ms]", "datetime64[s]")
BOOL_TYPES = ("bool", "BooleanDtype")
STRING_TYPES = ("str", "StringDtype")

SERIES_KEYS = ("coin", "source_key", "interval", "ts")
MAX_FUNDING_PCT = 5.0  # PERCENT per settlement: 500 bps, far beyond any exchange's cap
MAX_USD = 1e11  # no single bar or day moves $100 bn


@dataclass(frozen=True)
class ExpectationSpec:
    """One GX expectation (class name in `great_expectations.expectations`) under one check."""

    check: str
    expectation: str
    kwargs: Mapping[str, Any]

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns the expectation reads: it is not run when one is missing."""
        names = [self.kwargs.get(k) for k in ("column", "column_A", "column_B")]
        names.extend(self.kwargs.get("column_list", ()))
        return tuple(n for n in names if isinstance(n, str))

    @property
    def label(self) -> str:
        """Short human name, e.g. `values_to_be_between(close_pct)`."""
        short = "".join(f"_{c.lower()}" if c.isupper() else c for c in self.expectation)
        short = short.removeprefix("_expect_").removeprefix("_expect")
        return f"{short}({', '.join(self.columns)})" if self.columns else short


@dataclass(frozen=True)
class TableContract:
    """Columns and expectations of one raw table's frame as it arrives (before the upsert)."""

    table: str
    keys: tuple[str, ...]
    strings: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    datetimes: tuple[str, ...] = ()
    booleans: tuple[str, ...] = ()
    # Non-key columns the warehouse declares NOT NULL: a null there would fail the upsert.
    not_null: tuple[str, ...] = ()
    json_columns: tuple[str, ...] = ()
    ranges: tuple[ExpectationSpec, ...] = field(default=())

    @property
    def columns(self) -> tuple[str, ...]:
        ordered = (*self.keys, *self.strings, *self.numbers, *self.datetimes, *self.booleans)
        return tuple(dict.fromkeys(ordered))

    def expectations(self) -> list[ExpectationSpec]:
        specs = [
            ExpectationSpec(
                TYPED_COLUMNS,
                "ExpectTableColumnsToMatchSet",
                {"column_set": list(self.columns), "exact_match": False},
            ),
        ]
        specs += [_types(c, NUMERIC_TYPES) for c in self.numbers]
        specs += [_types(c, DATETIME_TYPES) for c in self.datetimes]
        specs += [_types(c, BOOL_TYPES) for c in self.booleans]
        specs += [_types(c, STRING_TYPES) for c in self.strings]
        specs += [
            ExpectationSpec(TYPED_COLUMNS, "ExpectColumnValuesToNotBeNull", {"column": c})
            for c in self.not_null
        ]
        specs += [
            ExpectationSpec(TYPED_COLUMNS, "ExpectColumnValuesToBeJsonParseable", {"column": c})
            for c in self.json_columns
        ]
        specs += [
            ExpectationSpec(NON_NULL_KEYS, "ExpectColumnValuesToNotBeNull", {"column": c}) for c in self.keys
        ]
        if len(self.keys) == 1:
            specs.append(
                ExpectationSpec(UNIQUE_KEYS, "ExpectColumnValuesToBeUnique", {"column": self.keys[0]})
            )
        else:
            specs.append(
                ExpectationSpec(
                    UNIQUE_KEYS, "ExpectCompoundColumnsToBeUnique", {"column_list": list(self.keys)}
                )
            )
        specs.append(
            ExpectationSpec(
                ASCENDING_TS, "ExpectColumnValuesToBeIncreasing", {"column": "ts", "strictly": True}
            )
        )
        specs += list(self.ranges)
        return specs


def _types(column: str, type_list: tuple[str, ...]) -> ExpectationSpec:
    return ExpectationSpec(
        TYPED_COLUMNS, "ExpectColumnValuesToBeInTypeList", {"column": column, "type_list": list(type_list)}
    )


def between(
    column: str,
    low: float | None = None,
    high: float | None = None,
    *,
    strict_low: bool = False,
    strict_high: bool = False,
) -> ExpectationSpec:
    kwargs: dict[str, Any] = {"column": column, "strict_min": strict_low, "strict_max": strict_high}
    if low is not None:
        kwargs["min_value"] = low
    if high is not None:
        kwargs["max_value"] = high
    return ExpectationSpec(PLAUSIBLE_RANGES, "ExpectColumnValuesToBeBetween", kwargs)


def positive(column: str) -> ExpectationSpec:
    return between(column, 0, strict_low=True)


def one_of(column: str, values: tuple[str, ...]) -> ExpectationSpec:
    return ExpectationSpec(
        PLAUSIBLE_RANGES, "ExpectColumnValuesToBeInSet", {"column": column, "value_set": list(values)}
    )


def high_not_below_low(high: str, low: str) -> ExpectationSpec:
    return ExpectationSpec(
        PLAUSIBLE_RANGES,
        "ExpectColumnPairValuesAToBeGreaterThanB",
        {"column_A": high, "column_B": low, "or_equal": True, "ignore_row_if": "either_value_is_missing"},
    )


def _series(
    table: str,
    *,
    strings: tuple[str, ...] = (),
    numbers: tuple[str, ...],
    not_null: tuple[str, ...] = (),
    ranges: tuple[ExpectationSpec, ...],
) -> TableContract:
    return TableContract(
        table=table,
        keys=SERIES_KEYS,
        strings=("coin", "source_key", "interval", *strings),
        numbers=numbers,
        datetimes=("ts", "ingested_at"),
        booleans=("is_closed",),
        not_null=("is_closed", "ingested_at", *not_null),
        ranges=ranges,
    )


_FUNDING = ("open_pct", "high_pct", "low_pct", "close_pct")
_OI = ("open", "high", "low", "close")
_PRICE = ("open_usd", "high_usd", "low_usd", "close_usd")
_LIQ = ("long_liquidation_usd", "short_liquidation_usd")
_TAKER = ("buy_volume", "sell_volume")

CONTRACTS: dict[str, TableContract] = {
    c.table: c
    for c in (
        _series(
            "raw_funding",
            strings=("exchange", "symbol"),
            numbers=_FUNDING,
            ranges=(
                *(between(c, -MAX_FUNDING_PCT, MAX_FUNDING_PCT) for c in _FUNDING),
                high_not_below_low("high_pct", "low_pct"),
            ),
        ),
        _series(
            "raw_open_interest",
            strings=("unit",),
            numbers=_OI,
            not_null=("unit",),
            # high >= low is an OHLC identity; every shipped recording holds it.
            ranges=(
                *(positive(c) for c in _OI),
                one_of("unit", ("usd", "coin")),
                high_not_below_low("high", "low"),
            ),
        ),
        _series(
            "raw_liquidations",
            numbers=_LIQ,
            ranges=tuple(between(c, 0, MAX_USD, strict_high=True) for c in _LIQ),
        ),
        _series(
            "raw_taker_volume",
            strings=("value_unit",),
            numbers=_TAKER,
            not_null=("value_unit",),
            ranges=(*(between(c, 0) for c in _TAKER), one_of("value_unit", ("usd", "base_coin"))),
        ),
        _series(
            "raw_prices",
            numbers=(*_PRICE, "volume_usd"),
            ranges=(
                *(positive(c) for c in _PRICE),
                between("volume_usd", 0),
                high_not_below_low("high_usd", "low_usd"),
            ),
        ),
        TableContract(
            table="raw_etf_flows",
            keys=("ts",),
            strings=("etf_flows_json",),
            numbers=("flow_usd", "price_usd"),
            datetimes=("ts", "ingested_at"),
            booleans=("is_published", "is_closed"),
            not_null=("is_published", "is_closed", "ingested_at"),
            json_columns=("etf_flows_json",),
            ranges=(
                between("flow_usd", -MAX_USD, MAX_USD, strict_low=True, strict_high=True),
                positive("price_usd"),
            ),
        ),
    )
}
RAW_TABLES: tuple[str, ...] = tuple(CONTRACTS)


def contract_for(table: str) -> TableContract:
    try:
        return CONTRACTS[table]
    except KeyError:
        raise ValueError(f"no quality suite for table {table!r}; known: {', '.join(RAW_TABLES)}") from None
