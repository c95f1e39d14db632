"""Episode state machine, anti-flip and alert events, in bar time.

One open episode per coin. It opens at tier >= watch and closes at the `clear_bars`-th
consecutive tier-none bar. Events: `open` (with the tier), `upgrade` (watch -> action, at
once), `escalate` (the episode's highest tier held `escalate_bars` consecutive bars, once per
tier per episode), `close`, and `anti_flip_suppressed` records.

Direction inside an episode: a bar whose direction is up/down and differs from the
episode's up/down direction is a flip attempt (mixed never flips). It is confirmed when the
bar's liquidation side (see `confluence.liquidation_side`) is the new side: the episode
closes and a new one opens on that bar. Otherwise the attempt is recorded as
`anti_flip_suppressed` and the episode keeps its direction. An episode opened as mixed
adopts the first up/down direction it sees, without an event (nothing was claimed yet).

The machine is vectorised over the bars with tier != none (runs of none bars only count
towards a close): see `run_episodes`; tests pin it to a plain bar-by-bar machine. It
resumes from an `EpisodeState`: bars at or before `state.last_ts` were decided by an
earlier run and are skipped, so no event is made twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .confluence import (
    DIRECTION_BY_CODE,
    DIRECTION_MIXED,
    DIRECTION_NAMES,
    TIER_ACTION,
    TIER_BY_CODE,
    TIER_NAMES,
    TIER_NONE,
    TIER_WATCH,
)
from .params import EpisodeParams
from .segments import Segments

EVENT_OPEN = "open"
EVENT_UPGRADE = "upgrade"
EVENT_ESCALATE = "escalate"
EVENT_CLOSE = "close"
EVENT_ANTI_FLIP = "anti_flip_suppressed"

_TIER_CODES = {name: code for code, name in enumerate(TIER_NAMES)}
_DIRECTION_CODES = {name: code for code, name in DIRECTION_NAMES.items()}
# Int codes used inside the loop, mapped to names once at the end.
_OPEN, _UPGRADE, _ESCALATE, _CLOSE, _ANTI_FLIP = range(5)
_EVENT_BY_CODE = np.array(
    [EVENT_OPEN, EVENT_UPGRADE, EVENT_ESCALATE, EVENT_CLOSE, EVENT_ANTI_FLIP], dtype=object
)
_NO_ATTEMPT = 2  # after the direction codes -1, 0, 1: names None
# Order of events on one bar, by event code: close, anti-flip, open, upgrade, escalate.
_KIND_ORDER = np.array([2, 3, 4, 0, 1])
# "|event|tier" of a dedup key, by event and tier code.
_KEY_SUFFIX = np.array(
    [[f"|{event}|{tier}" for tier in TIER_NAMES] for event in _EVENT_BY_CODE], dtype=object
)
_DIRECTION_OR_NONE = np.array([*DIRECTION_BY_CODE, None], dtype=object)  # index = code + 1
_DAY_NS = 86_400 * 10**9
IntArray = NDArray[np.intp]


@dataclass(frozen=True)
class EpisodeState:
    """Everything needed to continue a coin's event stream after `last_ts`.

    JSON round trip with `to_dict` / `from_dict`.
    """

    coin: str
    last_ts: pd.Timestamp | None = None  # last bar already decided
    episode_id: str | None = None  # the open episode, if any
    direction: str = "mixed"
    tier: str = "none"  # highest tier reached by the open episode
    none_streak: int = 0  # consecutive tier-none bars inside the open episode
    streak_tier: str = "none"  # tier of the current run of equal-tier bars
    streak_bars: int = 0
    escalated: tuple[str, ...] = field(default_factory=tuple)  # tiers already escalated

    def to_dict(self) -> dict[str, Any]:
        return {
            "coin": self.coin,
            "last_ts": None if self.last_ts is None else self.last_ts.isoformat(),
            "episode_id": self.episode_id,
            "direction": self.direction,
            "tier": self.tier,
            "none_streak": self.none_streak,
            "streak_tier": self.streak_tier,
            "streak_bars": self.streak_bars,
            "escalated": list(self.escalated),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EpisodeState:
        last_ts = data.get("last_ts")
        return cls(
            coin=str(data["coin"]),
            last_ts=None if last_ts is None else pd.Timestamp(last_ts),
            episode_id=data.get("episode_id"),
            direction=str(data.get("direction", "mixed")),
            tier=str(data.get("tier", "none")),
            none_streak=int(data.get("none_streak", 0)),
            streak_tier=str(data.get("streak_tier", "none")),
            streak_bars=int(data.get("streak_bars", 0)),
            escalated=tuple(data.get("escalated", ())),
        )


class EventRecord(NamedTuple):
    bar: int  # bar position in the arrays given to run_episodes
    event: str
    tier: str
    direction: str
    episode_id: str
    attempted_direction: str | None  # anti_flip_suppressed only


@dataclass(frozen=True)
class EpisodeEvents:
    """The events of a run as columns (in bar order) and the per-bar episode ids."""

    event_index: NDArray[np.intp]  # bar position of each event
    event: NDArray[np.object_]
    tier: NDArray[np.object_]
    direction: NDArray[np.object_]
    episode_id: NDArray[np.object_]
    attempted_direction: NDArray[np.object_]  # anti_flip_suppressed only, else None
    dedup_key: NDArray[np.object_]  # see `dedup_key`
    episode_ids: NDArray[np.object_]  # per bar: the episode the bar belongs to, else None

    @property
    def events(self) -> list[EventRecord]:
        columns = (self.event, self.tier, self.direction, self.episode_id, self.attempted_direction)
        return [
            EventRecord(int(i), *rest)
            for i, *rest in zip(self.event_index.tolist(), *(c.tolist() for c in columns), strict=True)
        ]


@dataclass(frozen=True)
class EpisodeRun(EpisodeEvents):
    """One coin's run: its events, per-bar episode ids and the state to carry on from."""

    start: int  # first bar decided by this run
    state: EpisodeState


# Formatted days ("YYYY-MM-DD", by day since the epoch) and times of day
# ("THH:MM:SS+00:00", by second of the day), filled as they are first seen.
_DAY_TEXT: dict[int, str] = {}
_CLOCK_TEXT: dict[int, str] = {}


def _texts(
    cache: dict[int, str], keys: NDArray[np.int64], fmt: Callable[[list[int]], list[str]]
) -> list[str]:
    wanted = keys.tolist()
    texts = list(map(cache.get, wanted))  # a C loop, unlike a comprehension
    if None in texts:  # format the keys not seen yet, once
        missing = [key for key, text in zip(wanted, texts, strict=True) if text is None]
        cache.update(zip(missing, fmt(missing), strict=True))
        texts = list(map(cache.__getitem__, wanted))
    return cast(list[str], texts)


def _format_days(days: list[int]) -> list[str]:
    return list(np.datetime_as_string(np.array(days, dtype="M8[D]")).tolist())


def _format_clocks(seconds: list[int]) -> list[str]:
    return [f"T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00:00" for s in seconds]


_HOUR_NS = 3600 * 10**9
_HOUR_TEXT = np.array(_format_clocks(list(range(0, 86_400, 3600))), dtype=object)  # by hour of day


def _distinct(values: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.intp]]:
    """np.unique(values, return_inverse=True), without its sort when values ascend (bar
    times do)."""
    if values.shape[0] and (values[1:] >= values[:-1]).all():
        new = np.empty(values.shape[0], dtype=bool)
        new[0] = True
        np.not_equal(values[1:], values[:-1], out=new[1:])
        return values[new], np.cumsum(new) - 1
    return np.unique(values, return_inverse=True)


def iso_utc(ts_ns: NDArray[np.int64], prefix: str = "") -> NDArray[np.object_]:
    """`prefix` + ISO 8601 (seconds, "+00:00") of UTC epochs in ns, vectorised.

    Formatting is the slow part (np.datetime_as_string ~250 ns a value, a pandas Timestamp
    per bar ~50x that): each distinct day and time of day is formatted once per process
    (cached), and they are joined by one object-array concatenation.
    """
    day, nanos = np.divmod(np.asarray(ts_ns, dtype=np.int64), _DAY_NS)
    days, day_at = _distinct(day)
    dates = np.array(_texts(_DAY_TEXT, days, _format_days), dtype=object)
    if prefix:
        dates = prefix + dates  # one object-array concatenation
    hour, rest = np.divmod(nanos, _HOUR_NS)
    if not rest.any():  # bars on whole hours (the usual grids): no sort for the distinct times
        return cast(NDArray[np.object_], dates[day_at] + _HOUR_TEXT[hour])
    seconds, second_at = np.unique(nanos // 10**9, return_inverse=True)
    clock = np.array(_texts(_CLOCK_TEXT, seconds, _format_clocks), dtype=object)
    return cast(NDArray[np.object_], dates[day_at] + clock[second_at])


def episode_id_for(coin: str, opening_ts: pd.Timestamp) -> str:
    """Deterministic id: the coin and the opening bar's time, e.g. "BTC|2025-02-03T00:00:00+00:00"."""
    return f"{coin}|{iso_utc(np.array([opening_ts.value]))[0]}"


def dedup_key(coin: str, episode_id: str, event: str, tier: str, bar_iso: str) -> str:
    """`coin|episode_id|event|tier`; anti-flip records can repeat in an episode, so they add
    the bar time (ISO)."""
    key = f"{coin}|{episode_id}|{event}|{tier}"
    return f"{key}|{bar_iso}" if event == EVENT_ANTI_FLIP else key


def _last_true(mask: NDArray[np.bool_]) -> NDArray[np.intp]:
    """Per position, the index of the last True at or before it (-1 when none)."""
    return np.maximum.accumulate(np.where(mask, np.arange(mask.shape[0]), -1))


def _previous(values: NDArray[Any], first: Any) -> NDArray[Any]:
    """values shifted one step later, `first` in front."""
    out = np.empty_like(values)
    if values.shape[0]:
        out[0] = first
        out[1:] = values[:-1]
    return out


@dataclass(frozen=True)
class _Carried:
    """The states' open episodes as codes, one entry per coin (`open` False: none)."""

    open: NDArray[np.bool_]
    direction: IntArray
    tier: IntArray
    quiet: IntArray
    run_tier: IntArray
    run_len: IntArray
    escalated: IntArray  # bit per tier code

    @classmethod
    def of(cls, states: Sequence[EpisodeState]) -> _Carried:
        rows = [
            (
                state.episode_id is not None,
                _DIRECTION_CODES[state.direction],
                _TIER_CODES[state.tier],
                state.none_streak,
                _TIER_CODES[state.streak_tier],
                state.streak_bars,
                sum(1 << _TIER_CODES[name] for name in state.escalated),
            )
            for state in states
        ]
        is_open, *codes = (np.array(column) for column in zip(*rows, strict=True))
        return cls(is_open.astype(bool), *(c.astype(np.intp) for c in codes))


@dataclass(frozen=True)
class _Layout:
    """Which coin each active bar (in order) belongs to, for the per-coin starts and ends."""

    coin: IntArray  # per active bar
    first: IntArray  # per active bar: index of its coin's first active bar
    coins_seen: IntArray  # coins with active bars
    firsts: IntArray  # their first active bars (indexes)

    @classmethod
    def of(cls, first_k: IntArray, counts: IntArray) -> _Layout:
        coin = np.repeat(np.arange(counts.shape[0]), counts)
        seen = np.flatnonzero(counts)
        return cls(coin, np.repeat(first_k, counts), seen, first_k[seen])

    def previous(self, values: NDArray[Any], carried: NDArray[Any]) -> NDArray[Any]:
        """The value at the coin's previous active bar; the coin's `carried` value at its first."""
        out = _previous(values, 0)
        out[self.firsts] = carried[self.coins_seen]
        return out

    def first_or(self, per_coin: NDArray[Any], other: Any) -> NDArray[Any]:
        """The coin's value at its first active bar, `other` at the others."""
        out = np.full(self.coin.shape[0], other, dtype=np.asarray(per_coin).dtype)
        out[self.firsts] = per_coin[self.coins_seen]
        return out


@dataclass(frozen=True)
class _Events:
    """Event columns as codes, in the machine's order; `episode` numbers episodes
    (coin after coin: the coin's carried one, then by opening bar)."""

    bar: NDArray[np.intp]
    kind: NDArray[np.intp]
    tier: NDArray[np.intp]
    direction: NDArray[np.intp]
    episode: NDArray[np.intp]
    attempted: NDArray[np.intp]

    @classmethod
    def sorted(cls, parts: list[tuple[Any, ...]]) -> _Events:
        """(kind, bar, tier, direction, episode) parts; anti-flip parts carry the attempted
        direction as a 6th column. In bar order, and on one bar in the machine's order
        (close, anti-flip, open, upgrade, escalate)."""
        bar = np.concatenate([p[1] for p in parts])
        kind = np.repeat([p[0] for p in parts], [p[1].shape[0] for p in parts])
        attempted = np.full(bar.shape[0], _NO_ATTEMPT)
        attempted[kind == _ANTI_FLIP] = np.concatenate([p[5] for p in parts if p[0] == _ANTI_FLIP])
        order = np.argsort(bar * 8 + _KIND_ORDER[kind], kind="stable")
        columns = (bar, kind, *(np.concatenate([p[i] for p in parts]) for i in (2, 3, 4)), attempted)
        return cls(*(c[order] for c in columns))


def _directions(
    d: IntArray, s: IntArray, fresh: NDArray[np.bool_], layout: _Layout, carried: _Carried
) -> tuple[IntArray, IntArray]:
    """The episode direction before and after each active bar.

    Within a stretch between quiet closes the direction is taken from each bar up to the
    first up/down one (adopted, no event: mixed before), then only from up/down bars whose
    liquidations confirm them (a confirmed flip, or the same side again). The carried
    stretch (before the coin's first quiet close) starts from the state's direction.
    """
    stretch = _last_true(fresh)  # first bar since the last quiet close
    in_carried = stretch < layout.first  # no quiet close yet in this coin
    since = np.where(in_carried, layout.first, stretch)
    carried_direction = carried.direction[layout.coin]
    known = d != DIRECTION_MIXED
    seen_known = (_previous(_last_true(known), -1) >= since) | (
        in_carried & (carried_direction != DIRECTION_MIXED)
    )
    anchor = _last_true(~seen_known | (known & (s == d)))
    after = np.where(anchor >= since, d[np.maximum(anchor, 0)], carried_direction)
    before = np.where(fresh, DIRECTION_MIXED, layout.previous(after, carried.direction))
    return before, after


@dataclass(frozen=True)
class EpisodeRuns(EpisodeEvents):
    """`run_episodes` of several coins laid end to end: the events coin after coin and in bar
    order (`event_index`: positions in the arrays of all coins), per-bar ids of every coin."""

    event_counts: list[int]  # per coin
    starts: list[int]  # per coin: its first bar decided by this run (from its first bar)
    states: list[EpisodeState]  # per coin


def run_episodes(
    coin: str,
    ts: pd.DatetimeIndex,
    tier: NDArray[np.int8],
    direction: NDArray[np.int8],
    liq_side: NDArray[np.int8],
    params: EpisodeParams,
    state: EpisodeState | None = None,
) -> EpisodeRun:
    """Step the episode machine over the bars after `state.last_ts` (all bars without a state).

    `tier`, `direction` and `liq_side` are per-bar codes (see confluence.py); `ts` is ascending.
    """
    runs = run_episodes_many([coin], ts, tier, direction, liq_side, Segments.of([len(ts)]), params, [state])
    shared = {column.name: getattr(runs, column.name) for column in fields(EpisodeEvents)}
    return EpisodeRun(**shared, start=runs.starts[0], state=runs.states[0])


def run_episodes_many(
    coins: Sequence[str],
    ts: pd.DatetimeIndex,
    tier: NDArray[np.int8],
    direction: NDArray[np.int8],
    liq_side: NDArray[np.int8],
    segments: Segments,
    params: EpisodeParams,
    states: Sequence[EpisodeState | None],
) -> EpisodeRuns:
    """`run_episodes` of each coin (coin k: bars `segments` k, its state `states[k]`), at once.

    Vectorised over the bars with a tier ("active" bars, in order, coin after coin): each
    quantity the bar-by-bar machine tracks is "the value at the last active bar where ...
    since the episode (or stretch) began", i.e. a running max of indexes (`_last_true`); at
    a coin's first active bar the coin's carried state stands in for its previous bar.
    Pinned to a plain bar-by-bar machine by the tests.
    """
    previous = [
        state if state is not None else EpisodeState(coin=coin)
        for coin, state in zip(coins, states, strict=True)
    ]
    for coin, state in zip(coins, previous, strict=True):
        if state.coin != coin:
            raise ValueError(f"state is for coin {state.coin!r}, bars are for {coin!r}")
    bounds = segments.bounds
    n_coins, n = len(coins), int(bounds[-1])
    starts = [
        0 if state.last_ts is None else int(ts[lo:hi].searchsorted(state.last_ts, side="right"))
        for state, lo, hi in zip(previous, bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
    ]
    begin = bounds[:-1] + np.array(starts, dtype=np.intp)  # each coin's first bar to decide
    coin_end = bounds[1:] - 1
    clear, carried = params.clear_bars, _Carried.of(previous)
    # Quiet bars closing the carried episode.
    carried_need = np.where(carried.quiet < clear, clear - carried.quiet, 1)

    active = tier != TIER_NONE
    for lo, first in zip(bounds[:-1].tolist(), begin.tolist(), strict=True):
        active[lo:first] = False  # decided by an earlier run
    bar = np.flatnonzero(active)
    first_k, end_k = np.searchsorted(bar, begin), np.searchsorted(bar, bounds[1:])
    layout = _Layout.of(first_k, end_k - first_k)
    k = np.arange(bar.shape[0])
    t, d, s = (a[bar].astype(np.intp) for a in (tier, direction, liq_side))
    gap = bar - layout.previous(bar + 1, begin)  # quiet bars before each active bar

    # Quiet closes: right after an active bar the quiet streak is 0, so a gap of `clear`
    # bars closes the episode; a carried episode starts with the state's streak.
    gap_close = gap >= layout.first_or(np.where(carried.open, carried_need, n + 1), clear)
    fresh = gap_close | ((k == layout.first) & ~carried.open[layout.coin])  # opens, nothing before
    dir_before, dir_after = _directions(d, s, fresh, layout, carried)
    attempt = (dir_before != DIRECTION_MIXED) & (d != DIRECTION_MIXED) & (d != dir_before)
    flip, anti = attempt & (s == d), attempt & (s != d)

    # Episodes open on fresh bars and confirmed flips. Numbers: coin k's carried episode is
    # slot[k], its opened ones follow it.
    opens = fresh | flip
    opened_so_far = np.cumsum(opens)
    slot = np.concatenate([[0], opened_so_far])[first_k] + np.arange(n_coins)
    episode = opened_so_far + layout.coin
    began = _last_true(opens)
    in_carried = began < layout.first
    since = np.where(in_carried, layout.first, began)
    top_tier = np.where(_last_true(t == TIER_ACTION) >= since, TIER_ACTION, TIER_WATCH)
    top_tier = np.where(in_carried, np.maximum(top_tier, carried.tier[layout.coin]), top_tier)
    upgrade = ~opens & (t > layout.previous(top_tier, carried.tier))
    # Runs of one tier: adjacent active bars (no quiet bar between) of one episode.
    run_tier = np.where(carried.run_len > 0, carried.run_tier, -1)
    run_on = ~opens & (gap == 0) & (t == layout.previous(t, run_tier))
    run_began = _last_true(~run_on)
    run_len = np.where(
        run_began >= layout.first, k - run_began + 1, k - layout.first + 1 + carried.run_len[layout.coin]
    )
    carried_bits = np.where(episode == slot[layout.coin], carried.escalated[layout.coin], 0)
    escalate = _first_escalations(t, top_tier, run_len, episode, params.escalate_bars, carried_bits)

    # Closes before an active bar: on a confirmed flip (its bar), after `clear` quiet bars.
    closing = np.flatnonzero(flip | gap_close)
    quiet_close = layout.previous(bar, begin - 1)[closing] + layout.first_or(carried_need, clear)[closing]
    close_bar = np.where(flip[closing], bar[closing], quiet_close)
    close = [
        close_bar,
        layout.previous(top_tier, carried.tier)[closing],
        layout.previous(dir_after, carried.direction)[closing],
        layout.previous(episode, slot)[closing],
    ]
    episode_end = close_bar - flip[closing]  # a flip's bar belongs to the new episode

    # Each coin's episode open after its last active bar (or its carried one without any).
    seen = end_k > first_k
    last_k = np.maximum(end_k - 1, 0)

    def at_last(values: NDArray[Any], otherwise: NDArray[Any]) -> NDArray[Any]:
        return np.where(seen, values[last_k], otherwise) if bar.shape[0] else np.asarray(otherwise)

    decided = bounds[1:] - begin
    last_open = seen | carried.open
    last_direction = at_last(dir_after, carried.direction)
    last_tier = at_last(top_tier, carried.tier)
    last_episode = at_last(episode, slot)
    last_run_tier, last_run_len = at_last(t, carried.run_tier), at_last(run_len, carried.run_len)
    tail = np.where(seen, coin_end - at_last(bar, coin_end), decided)  # quiet bars at the end
    quiet = np.where(seen, tail, carried.quiet + decided)
    ending = last_open & (tail >= np.where(seen, clear, carried_need))
    end_bar = np.where(seen, at_last(bar, coin_end) + clear, begin + carried_need - 1)
    ended = np.flatnonzero(ending)
    close = [
        np.append(c, v[ended])
        for c, v in zip(close, (end_bar, last_tier, last_direction, last_episode), strict=True)
    ]
    episode_end = np.append(episode_end, end_bar[ended])
    still_open = last_open & ~ending

    events = _Events.sorted(
        [
            (_OPEN, bar[opens], t[opens], d[opens], episode[opens]),
            (_UPGRADE, bar[upgrade], t[upgrade], dir_after[upgrade], episode[upgrade]),
            (_ESCALATE, bar[escalate], t[escalate], dir_after[escalate], episode[escalate]),
            (_ANTI_FLIP, bar[anti], t[anti], dir_before[anti], episode[anti], d[anti]),
            (_CLOSE, *close),
        ]
    )
    ids, prefixes = _episode_names(coins, previous, ts, bar[opens], episode[opens], slot, bounds)
    slot_coin = np.repeat(np.arange(n_coins), np.diff(np.append(slot, ids.shape[0])))
    begins = np.empty(ids.shape[0], dtype=np.intp)
    begins[slot] = begin
    begins[episode[opens]] = bar[opens]
    ends = coin_end[slot_coin]
    ends[close[3]] = episode_end
    exists = np.ones(ids.shape[0], dtype=bool)
    exists[slot] = carried.open
    bar_ids = _bar_episode_ids(n, begins[exists], ends[exists], ids[exists])

    escalated = events.kind == _ESCALATE
    final_states = []
    for c, state in enumerate(previous):
        last_ts = ts[coin_end[c]] if decided[c] else state.last_ts
        if not still_open[c]:
            final_states.append(EpisodeState(coin=state.coin, last_ts=last_ts))
            continue
        bits = int(carried.escalated[c]) if last_episode[c] == slot[c] else 0
        for code in events.tier[escalated & (events.episode == last_episode[c])].tolist():
            bits |= 1 << code
        ended_run = bool(tail[c])  # a quiet bar ends a run of one tier
        final_states.append(
            EpisodeState(
                coin=state.coin,
                last_ts=last_ts,
                episode_id=ids[last_episode[c]],
                direction=DIRECTION_NAMES[int(last_direction[c])],
                tier=TIER_NAMES[int(last_tier[c])],
                none_streak=int(quiet[c]),
                streak_tier=TIER_NAMES[TIER_NONE if ended_run else int(last_run_tier[c])],
                streak_bars=0 if ended_run else int(last_run_len[c]),
                escalated=tuple(name for code, name in enumerate(TIER_NAMES) if bits & (1 << code)),
            )
        )
    keys = prefixes[events.episode] + _KEY_SUFFIX[events.kind, events.tier]
    flips = np.flatnonzero(events.kind == _ANTI_FLIP)  # anti-flip keys add the bar time
    keys[flips] += iso_utc(ts.asi8[events.bar[flips]], prefix="|")
    return EpisodeRuns(
        event_index=events.bar,
        event=_EVENT_BY_CODE[events.kind],
        tier=TIER_BY_CODE[events.tier],
        direction=DIRECTION_BY_CODE[events.direction + 1],
        episode_id=ids[events.episode],
        attempted_direction=_DIRECTION_OR_NONE[events.attempted + 1],
        dedup_key=keys,
        event_counts=np.diff(np.searchsorted(events.bar, bounds)).tolist(),
        episode_ids=bar_ids,
        starts=starts,
        states=final_states,
    )


def _episode_names(
    coins: Sequence[str],
    previous: Sequence[EpisodeState],
    ts: pd.DatetimeIndex,
    opened: IntArray,
    opened_slot: IntArray,
    slot: IntArray,
    bounds: IntArray,
) -> tuple[NDArray[np.object_], NDArray[np.object_]]:
    """Per episode number: the id ("coin|opening time"; a carried one's from its state) and
    the dedup key's "coin|episode_id" prefix."""
    size = int(slot[-1]) + 1 + int(np.count_nonzero(opened_slot > slot[-1]))
    ids = np.full(size, None, dtype=object)
    prefixes = np.empty(size, dtype=object)
    ids[slot] = [state.episode_id for state in previous]
    prefixes[slot] = [f"{coin}|{state.episode_id}" for coin, state in zip(coins, previous, strict=True)]
    cuts = np.searchsorted(opened, bounds).tolist()
    for coin, lo, hi in zip(coins, cuts, cuts[1:], strict=False):
        if hi > lo:
            named = iso_utc(ts.asi8[opened[lo:hi]], prefix=f"{coin}|")
            ids[opened_slot[lo:hi]] = named
            prefixes[opened_slot[lo:hi]] = f"{coin}|" + named
    return ids, prefixes


def _first_escalations(
    t: IntArray,
    top_tier: IntArray,
    run_len: IntArray,
    episode: IntArray,
    escalate_bars: int,
    carried_bits: IntArray,
) -> NDArray[np.bool_]:
    """Bars escalating: the episode's highest tier held `escalate_bars` bars, the first time
    per (episode, tier); a carried episode skips the tiers it already escalated (`carried_bits`
    per bar, 0 outside carried episodes)."""
    due = np.flatnonzero((t == top_tier) & (run_len >= escalate_bars))
    first = np.zeros(due.shape[0], dtype=bool)
    first[np.unique(episode[due] * len(TIER_NAMES) + t[due], return_index=True)[1]] = True
    done = (carried_bits[due] >> t[due]) & 1 == 1
    out = np.zeros(t.shape[0], dtype=bool)
    out[due[first & ~done]] = True
    return out


def _bar_episode_ids(
    n: int, begins: NDArray[np.intp], ends: NDArray[np.intp], ids: NDArray[np.object_]
) -> NDArray[np.object_]:
    """Per bar, the id of the episode covering it (the episodes are disjoint, in order), else
    None: runs of None and of ids, repeated."""
    values = np.full(2 * begins.shape[0] + 1, None, dtype=object)
    values[1::2] = ids
    counts = np.empty(values.shape[0], dtype=np.intp)
    counts[0:-1:2] = begins - np.concatenate([[0], ends[:-1] + 1])
    counts[1::2] = ends - begins + 1
    counts[-1] = n - (ends[-1] + 1 if ends.shape[0] else 0)
    return np.repeat(values, counts)
