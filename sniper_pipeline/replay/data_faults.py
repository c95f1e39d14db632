"""Data faults for the replay server: edits of a successful envelope's rows, as real APIs drift.

Registered through ``faults.register_data_fault``, so they parse like any other kind in a
``--faults`` spec (``KIND[=ARG][@PATH][:COUNT]``). Each applies to one response (one page):
``dup@/api/futures/liquidation/aggregated-history:1`` edits the first page only. Only an
HTTP 200 envelope with code "0" is edited, and only when ``data`` is a list of row objects
(bar series, exchange lists); other shapes pass unchanged, except for ``empty``.

Kinds (``FIELD`` defaults to the first numeric field of the first row that is not its time)::

    rename[=FIELD[>NEW]]  FIELD renamed to NEW (default FIELD_renamed) in every row
    missing[=FIELD]       FIELD removed from every row
    extra[=NAME]          an unknown field NAME (default unexpected_field) added to every row,
                          and an unknown key to the envelope
    null[=FIELD]          FIELD (default: every field but the time) null in every 10th row
                          (rows 0, 10, 20, ...)
    strnum[=mixed]        numbers sent as strings; "mixed": every other row only
    dup[=N]               N rows (default 3, evenly spread) sent twice, the copy right after
    unsorted              rows shuffled with the server's seed; rows sharing a time keep their
                          order (which duplicate is "last received" must not change)
    empty                 ``data`` is [] (or {} for an object)
    gap[=N]               N consecutive rows (default 5) removed from the middle of the page
    pass                  answered normally; it only uses up a count, so an item after it on the
                          same path hits a later request: ``pass@P:1,truncated@P:1`` cuts page 2

Every edit works on a copy and draws randomness only from the ``rng`` it is given.
"""

from __future__ import annotations

import copy
import random
import re
from typing import Any

from sniper_pipeline.replay.faults import Fault, FaultSpecError, register_data_fault

TIME_FIELDS = ("time", "timestamp", "date")
NULL_EVERY = 10
DEFAULT_DUPLICATES = 3
DEFAULT_GAP = 5
DEFAULT_EXTRA_FIELD = "unexpected_field"
EXTRA_ENVELOPE_KEY = "unexpected_envelope_key"

Envelope = dict[str, Any]
Row = dict[str, Any]


def _rows(envelope: Envelope) -> list[Row] | None:
    """A deep copy of the rows when `data` is a non-empty list of objects; None otherwise."""
    data = envelope.get("data")
    if not isinstance(data, list) or not data or not all(isinstance(r, dict) for r in data):
        return None
    return copy.deepcopy(data)


def _with(envelope: Envelope, rows: list[Row]) -> Envelope:
    return {**envelope, "data": rows}


def _time_field(rows: list[Row]) -> str | None:
    return next((name for name in TIME_FIELDS if any(name in r for r in rows)), None)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def default_field(rows: list[Row]) -> str | None:
    """The field a fault without FIELD hits: the first numeric one that is not the row time.

    None when there is none: the fault then leaves the rows alone rather than turning into a
    server error that would look like a transport fault.
    """
    time_field = _time_field(rows)
    return next((k for k, v in rows[0].items() if k != time_field and _is_number(v)), None)


def _count(fault: Fault, default: int) -> int:
    return default if fault.arg is None else int(fault.arg)


# Argument checks run when the spec is parsed, so a bad spec fails at start-up, not mid-run.


def _no_arg(arg: str | None) -> None:
    if arg is not None:
        raise FaultSpecError(f"takes no argument, got {arg!r}")


def _positive(arg: str | None) -> None:
    if arg is not None and (not arg.isdigit() or int(arg) < 1):
        raise FaultSpecError(f"takes a positive whole number, got {arg!r}")


def _field_name(arg: str | None) -> None:
    if arg is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", arg):
        raise FaultSpecError(f"takes a field name, got {arg!r}")


def _rename_arg(arg: str | None) -> None:
    if arg is not None:
        old, sep, new = arg.partition(">")
        _field_name(old)
        if sep:
            _field_name(new)


def _strnum_arg(arg: str | None) -> None:
    if arg not in (None, "mixed"):
        raise FaultSpecError(f"takes no argument or 'mixed', got {arg!r}")


def _rows_and_field(envelope: Envelope, fault: Fault) -> tuple[list[Row], str] | None:
    """The rows and the field the fault names (else the default field); None: nothing to change."""
    rows = _rows(envelope)
    name = None if rows is None else fault.arg or default_field(rows)
    return None if rows is None or name is None else (rows, name)


@register_data_fault("rename", check=_rename_arg)
def rename(envelope: Envelope, fault: Fault, rng: random.Random) -> Envelope:
    found = _rows_and_field(envelope, fault)
    if found is None:
        return envelope
    rows, target = found
    old, _, new = target.partition(">")
    new = new or f"{old}_renamed"
    # Rebuilt key by key so the renamed field keeps its place, as an upstream rename would.
    return _with(envelope, [{(new if k == old else k): v for k, v in row.items()} for row in rows])


@register_data_fault("missing", check=_field_name)
def missing(envelope: Envelope, fault: Fault, rng: random.Random) -> Envelope:
    found = _rows_and_field(envelope, fault)
    if found is None:
        return envelope
    rows, name = found
    for row in rows:
        row.pop(name, None)
    return _with(envelope, rows)


@register_data_fault("extra", check=_field_name)
def extra(envelope: Envelope, fault: Fault, rng: random.Random) -> Envelope:
    rows = _rows(envelope)
    if rows is None:
        return envelope
    name = fault.arg or DEFAULT_EXTRA_FIELD
    for row in rows:
        row[name] = 1.5
    return {**_with(envelope, rows), EXTRA_ENVELOPE_KEY: True}


@register_data_fault("null", check=_field_name)
def null(envelope: Envelope, fault: Fault, rng: random.Random) -> Envelope:
    rows = _rows(envelope)
    if rows is None:
        return envelope
    time_field = _time_field(rows)
    for row in rows[::NULL_EVERY]:
        for name in [fault.arg] if fault.arg else [k for k in row if k != time_field]:
            row[name] = None
    return _with(envelope, rows)


def _stringify(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    # repr of a float round-trips exactly, so the parsed number equals the original.
    return repr(value)


@register_data_fault("strnum", check=_strnum_arg)
def strnum(envelope: Envelope, fault: Fault, rng: random.Random) -> Envelope:
    rows = _rows(envelope)
    if rows is None:
        return envelope
    step = 2 if fault.arg == "mixed" else 1
    for row in rows[::step]:
        for name, value in row.items():
            row[name] = _stringify(value)
    return _with(envelope, rows)


@register_data_fault("dup", check=_positive)
def dup(envelope: Envelope, fault: Fault, rng: random.Random) -> Envelope:
    rows = _rows(envelope)
    if rows is None:
        return envelope
    n = min(_count(fault, DEFAULT_DUPLICATES), len(rows))
    picks = {round(i * (len(rows) - 1) / max(n - 1, 1)) for i in range(n)} if n > 1 else {len(rows) // 2}
    out: list[Row] = []
    for i, row in enumerate(rows):
        out.append(row)
        if i in picks:
            out.append(copy.deepcopy(row))
    return _with(envelope, out)


@register_data_fault("unsorted", check=_no_arg)
def unsorted(envelope: Envelope, fault: Fault, rng: random.Random) -> Envelope:
    rows = _rows(envelope)
    if rows is None:
        return envelope
    time_field = _time_field(rows)
    groups: dict[Any, list[Row]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(row.get(time_field) if time_field else i, []).append(row)
    order = list(groups)
    if len(order) < 2:
        return _with(envelope, rows)
    shuffled = order[:]
    rng.shuffle(shuffled)
    if shuffled == order:  # a tiny page can shuffle into its own order: make sure it is not sorted
        shuffled.reverse()
    return _with(envelope, [row for key in shuffled for row in groups[key]])


@register_data_fault("empty", check=_no_arg)
def empty(envelope: Envelope, fault: Fault, rng: random.Random) -> Envelope:
    data = envelope.get("data")
    return {**envelope, "data": {} if isinstance(data, dict) else []}


@register_data_fault("gap", check=_positive)
def gap(envelope: Envelope, fault: Fault, rng: random.Random) -> Envelope:
    rows = _rows(envelope)
    if rows is None:
        return envelope
    n = _count(fault, DEFAULT_GAP)
    if len(rows) <= 2:
        return _with(envelope, rows)
    n = min(n, len(rows) - 2)  # the first and last rows stay, so the page still spans its window
    start = (len(rows) - n) // 2
    return _with(envelope, rows[:start] + rows[start + n :])


@register_data_fault("pass", check=_no_arg)
def pass_(envelope: Envelope, fault: Fault, rng: random.Random) -> Envelope:
    return envelope


__all__ = ["DEFAULT_DUPLICATES", "DEFAULT_GAP", "NULL_EVERY", "TIME_FIELDS", "default_field"]
