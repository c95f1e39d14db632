"""Fault injection for the replay server: a small spec language, its parser and the injector.

Grammar (whitespace around items is ignored)::

    spec   := item ("," item)*
    item   := kind ["=" arg] ["@" path] [":" count]
            | "random=" prob ["/" choice ("+" choice)*] ["@" path] [":" count]
    choice := kind ["=" arg]
    count  := positive integer | "*"          (default 1; "*" = every matching request;
                                               random items default to "*")
    path   := "/api/..." exact, a prefix ending in "*", or a glob with "*" inside
              (e.g. "/api/futures/*history")                   (default: any path)

Kinds (transport level)::

    400..599         that HTTP status with an error envelope {"code": "<status>", "msg": ...}
    429[=S]          429 with "Retry-After: S" (default 1 s)
    noretryafter429  429 without a Retry-After header
    timeout[=DUR]    sleep DUR (e.g. 5s, 500ms, 2.5; default 30s), then answer normally: longer
                     than the client's read timeout it is a timeout, shorter it is a slow answer
    reset            close the connection (TCP RST) without any response
    truncated        HTTP 200 whose JSON body is cut in half (Content-Length matches the cut body)
    html[=STATUS]    an HTML error page, status 502 by default
    code[=CODE]      HTTP 200 with {"code": "<CODE>", "msg": ...}; CODE defaults to 50001

Examples: ``429:3`` (the next 3 requests get 429), ``500:2,503:1``, ``timeout=5s:1``,
``429@/api/futures/open-interest/aggregated-history:2``, ``random=0.1`` (10 % of requests
get a fault drawn with the server's seed from 429, 500, 502, 503, reset, truncated,
html, code), ``random=0.2/500+reset@/api/futures/*``.

Counted items fire in spec order: the first item whose path matches and that has
requests left answers the request. Random items are tried only when no counted item
fired.

Data faults (payload edits such as renamed fields, nulls, duplicates) plug in through
``register_data_fault``: the server builds the normal envelope and passes it to the
registered function. Their names then parse like any other kind. The project's own set
(rename, missing, extra, null, strnum, dup, unsorted, empty, gap, pass) is in
``data_faults.py``.
"""

from __future__ import annotations

import fnmatch
import random
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRY_AFTER_S = 1
DEFAULT_HTML_STATUS = 502
DEFAULT_ERROR_CODE = "50001"
RANDOM_DEFAULT_CHOICES = ("429", "500", "502", "503", "reset", "truncated", "html", "code")

NO_ARG_KINDS = frozenset({"reset", "truncated", "noretryafter429"})
ARG_KINDS = frozenset({"timeout", "html", "code"})

_COUNT = re.compile(r"^(?:[1-9][0-9]*|\*)$")
_DURATION = re.compile(r"^(?P<num>[0-9]+(?:\.[0-9]+)?)(?P<unit>ms|s)?$")


class FaultSpecError(ValueError):
    """The --faults spec does not follow the grammar."""


@dataclass(frozen=True)
class Fault:
    """One fault applied to one response."""

    kind: str  # "status", "noretryafter429", "timeout", "reset", "truncated", "html", "code" or a data fault
    status: int | None = None
    seconds: float | None = None  # timeout: sleep; status 429: Retry-After
    code: str | None = None
    arg: str | None = None  # raw argument, for data faults

    def describe(self) -> str:
        if self.kind == "status":
            return str(self.status)
        return self.kind if self.arg is None else f"{self.kind}={self.arg}"


@dataclass(frozen=True)
class FaultRule:
    """One item of the spec."""

    fault: Fault | None  # None for random items
    path: str | None = None
    count: int | None = 1  # None: unlimited
    probability: float | None = None
    choices: tuple[Fault, ...] = ()

    def matches(self, path: str) -> bool:
        if self.path is None:
            return True
        if "*" in self.path[:-1]:
            # A '*' inside (e.g. /api/futures/*history) is a glob: it targets every history
            # endpoint without hitting supported-coins, which a prefix cannot express.
            return fnmatch.fnmatchcase(path, self.path)
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path


DataFaultFn = Callable[[dict[str, Any], Fault, random.Random], dict[str, Any]]
ArgCheck = Callable[[str | None], None]
# name -> function editing a successful envelope; filled by register_data_fault.
DATA_FAULTS: dict[str, DataFaultFn] = {}
# name -> check of the fault's argument at parse time (raises FaultSpecError).
DATA_FAULT_CHECKS: dict[str, ArgCheck] = {}


def register_data_fault(name: str, check: ArgCheck | None = None) -> Callable[[DataFaultFn], DataFaultFn]:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name in NO_ARG_KINDS | ARG_KINDS | {"random"}:
        raise ValueError(f"invalid or reserved data fault name {name!r}")

    def deco(fn: DataFaultFn) -> DataFaultFn:
        DATA_FAULTS[name] = fn
        if check is not None:
            DATA_FAULT_CHECKS[name] = check
        return fn

    return deco


def parse_duration(text: str) -> float:
    m = _DURATION.match(text.strip())
    if not m:
        raise FaultSpecError(f"bad duration {text!r} (use e.g. 5s, 500ms, 2.5)")
    value = float(m.group("num"))
    return value / 1000.0 if m.group("unit") == "ms" else value


def parse_fault(text: str) -> Fault:
    """Parse ``kind[=arg]`` into a Fault."""
    kind, sep, arg = text.strip().partition("=")
    kind = kind.strip()
    arg_or_none = arg.strip() if sep else None
    if sep and not arg_or_none:
        raise FaultSpecError(f"empty argument in {text!r}")
    if kind.isdigit():
        status = int(kind)
        if not 400 <= status <= 599:
            raise FaultSpecError(f"status fault must be 400..599, got {kind}")
        if status == 429:
            retry_after = DEFAULT_RETRY_AFTER_S if arg_or_none is None else _int_arg(arg_or_none, text)
            return Fault("status", status=429, seconds=float(retry_after))
        if arg_or_none is not None:
            raise FaultSpecError(f"status {status} takes no argument: {text!r}")
        return Fault("status", status=status)
    if kind in NO_ARG_KINDS:
        if arg_or_none is not None:
            raise FaultSpecError(f"{kind} takes no argument: {text!r}")
        return Fault(kind)
    if kind == "timeout":
        seconds = DEFAULT_TIMEOUT_S if arg_or_none is None else parse_duration(arg_or_none)
        return Fault("timeout", seconds=seconds, arg=arg_or_none)
    if kind == "html":
        status = DEFAULT_HTML_STATUS if arg_or_none is None else _int_arg(arg_or_none, text)
        if not 400 <= status <= 599:
            raise FaultSpecError(f"html status must be 400..599: {text!r}")
        return Fault("html", status=status, arg=arg_or_none)
    if kind == "code":
        code = DEFAULT_ERROR_CODE if arg_or_none is None else arg_or_none
        if code == "0":
            raise FaultSpecError("code=0 is success, not a fault")
        return Fault("code", code=code, arg=arg_or_none)
    if kind in DATA_FAULTS:
        check = DATA_FAULT_CHECKS.get(kind)
        if check is not None:
            try:
                check(arg_or_none)
            except FaultSpecError as exc:
                raise FaultSpecError(f"{kind}: {exc} in {text!r}") from None
        return Fault(kind, arg=arg_or_none)
    known = ", ".join(["400..599", *sorted(NO_ARG_KINDS | ARG_KINDS), *sorted(DATA_FAULTS), "random"])
    raise FaultSpecError(f"unknown fault kind {kind!r} (known: {known})")


def _int_arg(arg: str, text: str) -> int:
    if not arg.isdigit():
        raise FaultSpecError(f"expected a whole number in {text!r}")
    return int(arg)


def _parse_item(item: str) -> FaultRule:
    head, count_text = item, ""
    if ":" in item:
        head, _, count_text = item.rpartition(":")
        count_text = count_text.strip()
        if not _COUNT.match(count_text):
            raise FaultSpecError(f"bad count {count_text!r} in {item!r} (a positive integer or *)")
    path = None
    if "@" in head:
        head, _, path = head.partition("@")
        path = path.strip()
        if not path.startswith("/"):
            raise FaultSpecError(f"path must start with '/': {item!r}")
    head = head.strip()
    count: int | None
    if head.startswith("random="):
        prob_text, _, choice_text = head[len("random=") :].partition("/")
        try:
            prob = float(prob_text)
        except ValueError:
            raise FaultSpecError(f"bad probability {prob_text!r} in {item!r}") from None
        if not 0.0 < prob <= 1.0:
            raise FaultSpecError(f"probability must be in (0, 1]: {item!r}")
        names = choice_text.split("+") if choice_text else list(RANDOM_DEFAULT_CHOICES)
        choices = tuple(parse_fault(n) for n in names)
        count = None if count_text in ("", "*") else int(count_text)
        return FaultRule(None, path=path, count=count, probability=prob, choices=choices)
    if not head:
        raise FaultSpecError(f"missing fault kind in {item!r}")
    count = 1 if count_text == "" else (None if count_text == "*" else int(count_text))
    return FaultRule(parse_fault(head), path=path, count=count)


def parse_faults(spec: str | None) -> list[FaultRule]:
    """Parse a whole spec; None or blank means no faults."""
    if spec is None or not spec.strip():
        return []
    items = spec.split(",")
    if any(not i.strip() for i in items):
        raise FaultSpecError(f"empty item in fault spec {spec!r}")
    return [_parse_item(i.strip()) for i in items]


class FaultInjector:
    """Decides, request by request, which fault (if any) to apply. Thread safe."""

    def __init__(self, rules: list[FaultRule] | str | None = None, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.rules = parse_faults(rules) if rules is None or isinstance(rules, str) else list(rules)
        self._left: list[int | None] = [r.count for r in self.rules]
        self.fired: deque[tuple[str, Fault]] = deque(maxlen=10_000)  # (path, fault), for tests and logs

    @property
    def rng(self) -> random.Random:
        return self._rng

    def remaining(self) -> list[int | None]:
        with self._lock:
            return list(self._left)

    def next_fault(self, path: str) -> Fault | None:
        with self._lock:
            fault = self._pick(path)
            if fault is not None:
                self.fired.append((path, fault))
            return fault

    def _pick(self, path: str) -> Fault | None:
        for i, rule in enumerate(self.rules):
            if rule.fault is None or self._left[i] == 0 or not rule.matches(path):
                continue
            self._take(i)
            return rule.fault
        for i, rule in enumerate(self.rules):
            if rule.fault is not None or self._left[i] == 0 or not rule.matches(path):
                continue
            # Draw for every matching random rule so the sequence depends on the seed only.
            if self._rng.random() < (rule.probability or 0.0):
                self._take(i)
                return self._rng.choice(rule.choices)
        return None

    def add(self, rules: list[FaultRule]) -> None:
        """Append rules after the current ones (whose counts go on)."""
        with self._lock:
            self.rules.extend(rules)
            self._left.extend(r.count for r in rules)

    def clear(self, path: str | None = None) -> int:
        """Drop the rules targeting exactly `path` (None: every rule); returns how many went."""
        with self._lock:
            keep = [i for i, r in enumerate(self.rules) if path is not None and r.path != path]
            dropped = len(self.rules) - len(keep)
            self.rules = [self.rules[i] for i in keep]
            self._left = [self._left[i] for i in keep]
            return dropped

    def describe(self) -> list[dict[str, Any]]:
        """The rules with their remaining counts (None: unlimited), for the control endpoint."""
        with self._lock:
            return [
                {
                    "fault": r.fault.describe() if r.fault is not None else f"random={r.probability}",
                    "path": r.path,
                    "left": left,
                }
                for r, left in zip(self.rules, self._left, strict=True)
            ]

    def _take(self, i: int) -> None:
        left = self._left[i]
        if left is not None:
            self._left[i] = left - 1
