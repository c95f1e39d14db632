from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sniper_pipeline.engine import (
    EpisodeParams,
    EpisodeRun,
    EpisodeState,
    dedup_key,
    iso_utc,
    run_episodes,
    run_episodes_many,
)
from sniper_pipeline.engine.segments import Segments

from .reference_episodes import reference_episodes

TIERS = {".": 0, "w": 1, "a": 2}
SIDES = {"+": 1, "-": -1, "": 0}
TS = pd.date_range("2025-01-01", periods=64, freq="4h", tz="UTC")


def timeline(spec: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokens: tier (. w a), then direction (+ up, - down, nothing mixed), then L when the
    bar's liquidations confirm that direction. "w+ a-L ." = watch up, action down confirmed, none."""
    tiers, directions, liq = [], [], []
    for token in spec.split():
        side = SIDES[token[1:].rstrip("L")]
        tiers.append(TIERS[token[0]])
        directions.append(side)
        liq.append(side if token.endswith("L") else 0)
    return (np.array(tiers, np.int8), np.array(directions, np.int8), np.array(liq, np.int8))


def run(spec: str, state: EpisodeState | None = None, params: EpisodeParams | None = None) -> EpisodeRun:
    tier, direction, liq = timeline(spec)
    ts = TS[: len(tier)]
    return run_episodes("BTC", ts, tier, direction, liq, params or EpisodeParams(), state)


def events(spec: str, **params: int) -> list[tuple[object, ...]]:
    """(bar, event, tier, direction) plus the attempted direction for anti-flip records."""
    out: list[tuple[object, ...]] = []
    for ev in run(spec, params=EpisodeParams(**params)).events:
        row: tuple[object, ...] = (ev.bar, ev.event, ev.tier, ev.direction)
        out.append((*row, ev.attempted_direction) if ev.attempted_direction else row)
    return out


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # Hysteresis: the second consecutive none bar closes (clear_bars = 2).
        ("w w . . .", [(0, "open", "watch", "mixed"), (3, "close", "watch", "mixed")]),
        ("w . w . .", [(0, "open", "watch", "mixed"), (4, "close", "watch", "mixed")]),
        (
            "w . . w",
            [(0, "open", "watch", "mixed"), (2, "close", "watch", "mixed"), (3, "open", "watch", "mixed")],
        ),
        # Upgrade at once; escalate after 3 bars at the tier, once per tier.
        (
            "w a a a a a",
            [
                (0, "open", "watch", "mixed"),
                (1, "upgrade", "action", "mixed"),
                (3, "escalate", "action", "mixed"),
            ],
        ),
        ("w w w w w w", [(0, "open", "watch", "mixed"), (2, "escalate", "watch", "mixed")]),
        (
            "w w w a a a a",
            [
                (0, "open", "watch", "mixed"),
                (2, "escalate", "watch", "mixed"),
                (3, "upgrade", "action", "mixed"),
                (5, "escalate", "action", "mixed"),
            ],
        ),
        # A none bar breaks the run: no escalate.
        ("w w . w w", [(0, "open", "watch", "mixed")]),
        # Opened at action: no upgrade; a later run of watch is not escalated (below the episode's tier).
        ("a a a", [(0, "open", "action", "mixed"), (2, "escalate", "action", "mixed")]),
        ("a w w w", [(0, "open", "action", "mixed")]),
        # Escalation is once per tier per episode, even after a dip.
        (
            "a a a w a a a",
            [(0, "open", "action", "mixed"), (2, "escalate", "action", "mixed")],
        ),
    ],
)
def test_lifecycle(spec: str, expected: list[tuple[object, ...]]) -> None:
    assert events(spec) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # Unconfirmed change of side: recorded, direction kept.
        (
            "w+ w- a+",
            [
                (0, "open", "watch", "up"),
                (1, "anti_flip_suppressed", "watch", "up", "down"),
                (2, "upgrade", "action", "up"),
            ],
        ),
        # Confirmed by liquidations on the new side: close and reopen the other way.
        (
            "w+ w-L w- . .",
            [
                (0, "open", "watch", "up"),
                (1, "close", "watch", "up"),
                (1, "open", "watch", "down"),
                (4, "close", "watch", "down"),
            ],
        ),
        # Liquidations on the old side do not confirm.
        ("w+ w+L", [(0, "open", "watch", "up")]),
        # Mixed never flips.
        ("w+ w w+", [(0, "open", "watch", "up"), (2, "escalate", "watch", "up")]),
        # An episode opened as mixed adopts the first side seen, without an event; then guards it.
        (
            "w w- w+",
            [
                (0, "open", "watch", "mixed"),
                (2, "anti_flip_suppressed", "watch", "down", "up"),
                (2, "escalate", "watch", "down"),
            ],
        ),
    ],
)
def test_anti_flip(spec: str, expected: list[tuple[object, ...]]) -> None:
    assert events(spec) == expected


def test_flip_opens_a_new_episode_id_and_labels_bars() -> None:
    result = run("w+ w-L . .")
    first, second = f"BTC|{TS[0].isoformat()}", f"BTC|{TS[1].isoformat()}"
    assert [ev.episode_id for ev in result.events] == [first, first, second, second]
    assert result.episode_ids.tolist() == [first, second, second, second]


def test_episode_ids_cover_the_episode_through_its_close_bar() -> None:
    result = run("w . . . w w")
    first, second = f"BTC|{TS[0].isoformat()}", f"BTC|{TS[4].isoformat()}"
    assert result.episode_ids.tolist() == [first, first, first, None, second, second]


def test_clear_and_escalate_bars_are_parameters() -> None:
    assert events("w . w", clear_bars=1) == [
        (0, "open", "watch", "mixed"),
        (1, "close", "watch", "mixed"),
        (2, "open", "watch", "mixed"),
    ]
    assert events("w w", escalate_bars=2) == [
        (0, "open", "watch", "mixed"),
        (1, "escalate", "watch", "mixed"),
    ]


def test_final_state_describes_the_open_episode() -> None:
    state = run("w+ w+ a+ .").state
    assert state.episode_id == f"BTC|{TS[0].isoformat()}"
    assert (state.direction, state.tier, state.none_streak) == ("up", "action", 1)
    assert state.last_ts == TS[3]
    assert run("w . .").state.episode_id is None


SPECS = [
    "w+ w+ w+ a- . w- a-L a . . . w w w a a a . w+L . .",
    "a a a a . a w w w . . . a+ w- w-L w+ . a a",
    ". . w . . w w . w w w . . . a",
]


@pytest.mark.parametrize("spec", SPECS)
def test_resume_from_any_bar_gives_the_same_events(spec: str) -> None:
    whole = run(spec)
    tier, direction, liq = timeline(spec)
    ts = TS[: len(tier)]
    params = EpisodeParams()
    for k in range(len(tier) + 1):
        first = run_episodes("BTC", ts[:k], tier[:k], direction[:k], liq[:k], params)
        saved = EpisodeState.from_dict(json.loads(json.dumps(first.state.to_dict())))
        rest = run_episodes("BTC", ts, tier, direction, liq, params, saved)
        assert first.events + rest.events == whole.events, k
        assert rest.start == k
        ids = np.concatenate([first.episode_ids, rest.episode_ids[k:]])
        assert ids.tolist() == whole.episode_ids.tolist(), k
        # Re-running the same bars from the final state decides nothing twice.
        again = run_episodes("BTC", ts, tier, direction, liq, params, rest.state)
        assert again.events == []
        assert again.state == rest.state


def test_state_of_another_coin_is_refused() -> None:
    with pytest.raises(ValueError, match="ETH"):
        run("w", EpisodeState(coin="ETH"))


@pytest.mark.parametrize("seed", range(4))
def test_vectorised_machine_equals_the_bar_by_bar_reference(seed: int) -> None:
    """Random timelines, split at random bars and resumed from the state each time."""
    rng = np.random.default_rng(seed)
    for _ in range(300):
        n = int(rng.integers(0, 40))
        tier = np.where(rng.random(n) < rng.random(), rng.integers(1, 3, n), 0).astype(np.int8)
        direction = rng.integers(-1, 2, n).astype(np.int8)
        liq = np.where(rng.random(n) < 0.5, direction, rng.integers(-1, 2, n)).astype(np.int8)
        params = EpisodeParams(clear_bars=int(rng.integers(1, 4)), escalate_bars=int(rng.integers(1, 4)))
        ts = TS[:n]
        cuts = sorted({*rng.integers(0, n + 1, int(rng.integers(0, 3))).tolist(), n})
        state: EpisodeState | None = None
        for cut in cuts:
            got = run_episodes("BTC", ts[:cut], tier[:cut], direction[:cut], liq[:cut], params, state)
            want = reference_episodes("BTC", ts[:cut], tier[:cut], direction[:cut], liq[:cut], params, state)
            assert [tuple(event) for event in got.events] == want.events
            assert got.episode_ids.tolist() == want.episode_ids
            assert got.state == want.state
            assert got.dedup_key.tolist() == [
                dedup_key("BTC", ev[4] or "", ev[1], ev[2], ts[ev[0]].isoformat()) for ev in want.events
            ]
            state = got.state


@pytest.mark.parametrize("ascending", [True, False])
@pytest.mark.parametrize("whole_hours", [True, False])
def test_iso_utc_equals_numpy_formatting(ascending: bool, whole_hours: bool) -> None:
    rng = np.random.default_rng(5)
    ns = rng.integers(0, 4_102_444_800 * 10**9, 5000)  # 1970..2100, with sub-second parts
    ns[::3] = ns[::3] // 10**9 * 10**9
    if whole_hours:  # bar grids of 1h and coarser: formatted from a table
        ns = ns // (3600 * 10**9) * (3600 * 10**9)
    ns = np.sort(ns) if ascending else ns
    want = np.datetime_as_string(ns.view("M8[ns]"), unit="s").astype(object) + "+00:00"
    assert (iso_utc(ns) == want).all()
    assert (iso_utc(ns, prefix="BTC|") == "BTC|" + want).all()


@pytest.mark.parametrize("seed", range(3))
def test_many_coins_equal_one_run_each(seed: int) -> None:
    """Random coins laid end to end, each with its own state (resumed or not): the same
    events, ids and states as a run per coin."""
    rng = np.random.default_rng(100 + seed)
    for _ in range(100):
        params = EpisodeParams(clear_bars=int(rng.integers(1, 4)), escalate_bars=int(rng.integers(1, 4)))
        coins, parts, states, alone = [], [], [], []
        for c in range(int(rng.integers(1, 5))):
            n = int(rng.integers(1, 30))
            tier = np.where(rng.random(n) < rng.random(), rng.integers(1, 3, n), 0).astype(np.int8)
            direction = rng.integers(-1, 2, n).astype(np.int8)
            liq = np.where(rng.random(n) < 0.5, direction, rng.integers(-1, 2, n)).astype(np.int8)
            coin, ts = f"C{c}", TS[:n]
            cut = int(rng.integers(0, n + 1))
            state = None
            if rng.random() < 0.6:
                state = run_episodes(coin, ts[:cut], tier[:cut], direction[:cut], liq[:cut], params).state
            coins.append(coin)
            parts.append((ts, tier, direction, liq))
            states.append(state)
            alone.append(run_episodes(coin, ts, tier, direction, liq, params, state))
        ts = parts[0][0].append([p[0] for p in parts[1:]])
        tier, direction, liq = (np.concatenate([p[i] for p in parts]) for i in (1, 2, 3))
        segments = Segments.of([len(p[0]) for p in parts])
        many = run_episodes_many(coins, ts, tier, direction, liq, segments, params, states)
        offsets = segments.bounds[:-1]
        assert many.starts == [run.start for run in alone]
        assert many.states == [run.state for run in alone]
        assert many.event_counts == [len(run.event) for run in alone]
        assert many.episode_ids.tolist() == [i for run in alone for i in run.episode_ids.tolist()]
        want_index = [i + o for run, o in zip(alone, offsets, strict=True) for i in run.event_index.tolist()]
        assert many.event_index.tolist() == want_index
        for name in ("event", "tier", "direction", "episode_id", "attempted_direction", "dedup_key"):
            assert getattr(many, name).tolist() == [v for run in alone for v in getattr(run, name).tolist()]
