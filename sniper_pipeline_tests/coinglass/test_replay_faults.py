"""The fault spec parser and the injector's choices (no sockets here)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from sniper_pipeline.replay import faults as faults_mod
from sniper_pipeline.replay.faults import (
    DEFAULT_TIMEOUT_S,
    RANDOM_DEFAULT_CHOICES,
    Fault,
    FaultInjector,
    FaultRule,
    FaultSpecError,
    parse_duration,
    parse_fault,
    parse_faults,
    register_data_fault,
)

OI = "/api/futures/open-interest/aggregated-history"


def one(spec: str) -> FaultRule:
    rules = parse_faults(spec)
    assert len(rules) == 1
    return rules[0]


def test_empty_spec_means_no_faults() -> None:
    assert parse_faults(None) == []
    assert parse_faults("  ") == []


@pytest.mark.parametrize(
    ("spec", "fault", "count"),
    [
        ("429:3", Fault("status", status=429, seconds=1.0), 3),
        ("429=7:2", Fault("status", status=429, seconds=7.0), 2),
        ("500", Fault("status", status=500), 1),
        ("401:1", Fault("status", status=401), 1),
        ("noretryafter429:2", Fault("noretryafter429"), 2),
        ("timeout:1", Fault("timeout", seconds=DEFAULT_TIMEOUT_S), 1),
        ("timeout=5s:1", Fault("timeout", seconds=5.0, arg="5s"), 1),
        ("timeout=250ms", Fault("timeout", seconds=0.25, arg="250ms"), 1),
        ("reset:1", Fault("reset"), 1),
        ("truncated:4", Fault("truncated"), 4),
        ("html:1", Fault("html", status=502), 1),
        ("html=503:1", Fault("html", status=503, arg="503"), 1),
        ("code:1", Fault("code", code="50001"), 1),
        ("code=40001:1", Fault("code", code="40001", arg="40001"), 1),
        ("503:*", Fault("status", status=503), None),
    ],
)
def test_single_items(spec: str, fault: Fault, count: int | None) -> None:
    rule = one(spec)
    assert rule.fault == fault
    assert rule.count == count
    assert rule.path is None


def test_path_scoped_item_and_prefix() -> None:
    rule = one(f"429@{OI}:2")
    assert (rule.path, rule.count) == (OI, 2)
    assert rule.matches(OI) and not rule.matches(OI + "x")
    prefix = one(" 500@/api/futures/* : * ")
    assert prefix.count is None
    assert prefix.matches(OI) and not prefix.matches("/api/spot/price/history")


def test_several_items_keep_spec_order() -> None:
    rules = parse_faults("500:2,503:1, timeout=1.5")
    assert [(r.fault.describe() if r.fault else None, r.count) for r in rules] == [
        ("500", 2),
        ("503", 1),
        ("timeout=1.5", 1),
    ]


def test_random_items() -> None:
    rule = one("random=0.1")
    assert rule.fault is None and rule.probability == 0.1 and rule.count is None
    assert [f.describe() for f in rule.choices] == list(RANDOM_DEFAULT_CHOICES)
    custom = one("random=0.5/500+reset+timeout=2s@/api/futures/*:3")
    assert [f.describe() for f in custom.choices] == ["500", "reset", "timeout=2s"]
    assert (custom.path, custom.count) == ("/api/futures/*", 3)


@pytest.mark.parametrize(
    "spec",
    [
        "bogus",
        "600",
        "399:1",
        "429:0",
        "429:-1",
        "429:x",
        "429=x",
        "500=3",
        "reset=1",
        "truncated=2",
        "timeout=abc",
        "timeout=",
        "html=200",
        "code=0",
        "random=0",
        "random=1.5",
        "random=x",
        "random=0.1/bogus",
        "429@api/x",
        ",",
        "500,,503",
        "@/api/x:1",
    ],
)
def test_bad_specs_are_refused(spec: str) -> None:
    with pytest.raises(FaultSpecError):
        parse_faults(spec)


def test_parse_duration() -> None:
    assert parse_duration("5s") == 5.0
    assert parse_duration("500ms") == 0.5
    assert parse_duration("2.5") == 2.5
    with pytest.raises(FaultSpecError):
        parse_duration("5m")


def test_counted_items_fire_in_order_then_stop() -> None:
    inj = FaultInjector("500:2,503:1")
    got = [inj.next_fault("/a") for _ in range(5)]
    assert [f.describe() if f else None for f in got] == ["500", "500", "503", None, None]
    assert inj.remaining() == [0, 0]
    assert [f.describe() for _, f in inj.fired] == ["500", "500", "503"]


def test_path_filter_leaves_other_paths_alone() -> None:
    inj = FaultInjector(f"429@{OI}:1,500:1")
    assert inj.next_fault("/api/futures/funding-rate/history") == Fault("status", status=500)
    assert inj.next_fault("/api/futures/funding-rate/history") is None
    assert inj.next_fault(OI) == Fault("status", status=429, seconds=1.0)
    assert inj.next_fault(OI) is None


def test_unlimited_item_never_runs_out() -> None:
    inj = FaultInjector("503:*")
    assert all(inj.next_fault("/x") is not None for _ in range(50))


def test_random_faults_follow_the_seed() -> None:
    def run(seed: int) -> list[str | None]:
        inj = FaultInjector("random=0.3", seed=seed)
        return [(f.describe() if (f := inj.next_fault("/x")) else None) for _ in range(200)]

    first = run(1)
    assert first == run(1)
    assert first != run(2)
    hits = [x for x in first if x is not None]
    assert 30 < len(hits) < 90  # about 30 % of 200
    assert set(hits) <= set(RANDOM_DEFAULT_CHOICES)


def test_counted_items_win_over_random_and_random_can_be_capped() -> None:
    inj = FaultInjector("random=1.0/503:2,429:1")
    got = [inj.next_fault("/x") for _ in range(4)]
    assert [f.describe() if f else None for f in got] == ["429", "503", "503", None]


def test_injector_accepts_parsed_rules() -> None:
    inj = FaultInjector(parse_faults("reset:1"))
    assert inj.next_fault("/x") == Fault("reset")


def test_data_faults_plug_in_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faults_mod, "DATA_FAULTS", dict(faults_mod.DATA_FAULTS))
    with pytest.raises(FaultSpecError):
        parse_fault("nulls")

    @register_data_fault("nulls")
    def nulls(envelope: dict[str, Any], fault: Fault, rng: random.Random) -> dict[str, Any]:
        return envelope

    assert one("nulls=close:2").fault == Fault("nulls", arg="close")
    for reserved in ("reset", "random", "timeout", "Bad-Name"):
        with pytest.raises(ValueError):
            register_data_fault(reserved)
