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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
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
class EpisodeRun:
    """The events of one run as columns (in bar order), per-bar episode ids and the state."""

    event_index: NDArray[np.intp]  # bar position of each event
    event: NDArray[np.object_]
    tier: NDArray[np.object_]
    direction: NDArray[np.object_]
    episode_id: NDArray[np.object_]
    attempted_direction: NDArray[np.object_]  # anti_flip_suppressed only, else None
    dedup_key: NDArray[np.object_]  # see `dedup_key`
    episode_ids: NDArray[np.object_]  # per bar: the episode the bar belongs to, else None
    start: int  # first bar decided by this run
    state: EpisodeState

    @property
    def events(self) -> list[EventRecord]:
        columns = (self.event, self.tier, self.direction, self.episode_id, self.attempted_direction)
        return [
            EventRecord(int(i), *rest)
            for i, *rest in zip(self.event_index.tolist(), *(c.tolist() for c in columns), strict=True)
        ]


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
    """The state's open episode as codes (`open` False: none)."""

    open: bool
    direction: int
    tier: int
    quiet: int
    run_tier: int
    run_len: int
    escalated: int  # bit per tier code

    @classmethod
    def of(cls, state: EpisodeState) -> _Carried:
        return cls(
            open=state.episode_id is not None,
            direction=_DIRECTION_CODES[state.direction],
            tier=_TIER_CODES[state.tier],
            quiet=state.none_streak,
            run_tier=_TIER_CODES[state.streak_tier],
            run_len=state.streak_bars,
            escalated=sum(1 << _TIER_CODES[name] for name in state.escalated),
        )


@dataclass(frozen=True)
class _Events:
    """Event columns as codes, in the machine's order; `episode` numbers episodes
    (0: the carried one, then by opening bar)."""

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
    d: NDArray[np.intp], s: NDArray[np.intp], fresh: NDArray[np.bool_], carried: _Carried
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """The episode direction before and after each active bar.

    Within a stretch between quiet closes the direction is taken from each bar up to the
    first up/down one (adopted, no event: mixed before), then only from up/down bars whose
    liquidations confirm them (a confirmed flip, or the same side again). The carried
    stretch starts from the state's direction.
    """
    stretch = _last_true(fresh)  # first bar since the last quiet close (-1: the carried episode)
    since = np.maximum(stretch, 0)
    known = d != DIRECTION_MIXED
    seen_known = (_previous(_last_true(known), -1) >= since) | (
        (stretch < 0) & (carried.direction != DIRECTION_MIXED)
    )
    anchor = _last_true(~seen_known | (known & (s == d)))
    after = np.where(anchor >= since, d[np.maximum(anchor, 0)], carried.direction)
    before = np.where(fresh, DIRECTION_MIXED, _previous(after, carried.direction))
    return before, after


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
    Vectorised over the bars with a tier ("active" bars, in order): each quantity the
    bar-by-bar machine tracks is "the value at the last active bar where ... since the episode
    (or stretch) began", i.e. a running max of indexes (`_last_true`). Pinned to a plain
    bar-by-bar machine by the tests.
    """
    previous = state if state is not None else EpisodeState(coin=coin)
    if previous.coin != coin:
        raise ValueError(f"state is for coin {previous.coin!r}, bars are for {coin!r}")
    n = len(ts)
    start = 0 if previous.last_ts is None else int(ts.searchsorted(previous.last_ts, side="right"))
    clear, carried = params.clear_bars, _Carried.of(previous)
    carried_need = clear - carried.quiet if carried.quiet < clear else 1  # quiet bars closing it

    bar = np.flatnonzero(tier[start:] != TIER_NONE) + start
    k = np.arange(bar.shape[0])
    t, d, s = (a[bar].astype(np.intp) for a in (tier, direction, liq_side))
    gap = bar - _previous(bar + 1, start)  # quiet bars before each active bar

    # Quiet closes: right after an active bar the quiet streak is 0, so a gap of `clear`
    # bars closes the episode; the carried episode starts with the state's streak.
    gap_close = gap >= np.where(k == 0, carried_need if carried.open else n + 1, clear)
    fresh = gap_close | ((k == 0) & (not carried.open))  # opens an episode, nothing before
    dir_before, dir_after = _directions(d, s, fresh, carried)
    attempt = (dir_before != DIRECTION_MIXED) & (d != DIRECTION_MIXED) & (d != dir_before)
    flip, anti = attempt & (s == d), attempt & (s != d)

    # Episodes open on fresh bars and confirmed flips; episode 0 is the carried one.
    opens = fresh | flip
    episode = np.cumsum(opens)
    began = _last_true(opens)
    top_tier = np.where(_last_true(t == TIER_ACTION) >= np.maximum(began, 0), TIER_ACTION, TIER_WATCH)
    top_tier = np.where(began < 0, np.maximum(top_tier, carried.tier), top_tier)
    upgrade = ~opens & (t > _previous(top_tier, carried.tier))
    # Runs of one tier: adjacent active bars (no quiet bar between) of one episode.
    run_on = ~opens & (gap == 0) & (t == _previous(t, carried.run_tier if carried.run_len else -1))
    run_began = _last_true(~run_on)
    run_len = np.where(run_began >= 0, k - run_began + 1, k + 1 + carried.run_len)
    escalate = _first_escalations(t, top_tier, run_len, episode, params.escalate_bars, carried)

    # Closes before an active bar: on a confirmed flip (its bar), after `clear` quiet bars.
    closing = np.flatnonzero(flip | gap_close)
    quiet_close = _previous(bar, start - 1)[closing] + np.where(closing == 0, carried_need, clear)
    close_bar = np.where(flip[closing], bar[closing], quiet_close)
    close = [
        close_bar,
        _previous(top_tier, carried.tier)[closing],
        _previous(dir_after, carried.direction)[closing],
        _previous(episode, 0)[closing],
    ]
    episode_end = close_bar - flip[closing]  # a flip's bar belongs to the new episode
    # The episode open after the last active bar (or the carried one without any).
    active = bool(bar.shape[0])
    last = _Carried(
        open=active or carried.open,
        direction=int(dir_after[-1]) if active else carried.direction,
        tier=int(top_tier[-1]) if active else carried.tier,
        quiet=(n - 1 - int(bar[-1])) if active else carried.quiet + n - start,
        run_tier=int(t[-1]) if active else carried.run_tier,
        run_len=int(run_len[-1]) if active else carried.run_len,
        escalated=0,
    )
    last_episode = int(episode[-1]) if active else 0
    tail = last.quiet if active else n - start  # quiet bars at the end of this run
    if last.open and tail >= (clear if active else carried_need):
        end_bar = (int(bar[-1]) + clear) if active else start + carried_need - 1
        ending = (end_bar, last.tier, last.direction, last_episode)
        close = [np.append(c, v) for c, v in zip(close, ending, strict=True)]
        episode_end = np.append(episode_end, end_bar)
        last = replace(last, open=False)

    events = _Events.sorted(
        [
            (_OPEN, bar[opens], t[opens], d[opens], episode[opens]),
            (_UPGRADE, bar[upgrade], t[upgrade], dir_after[upgrade], episode[upgrade]),
            (_ESCALATE, bar[escalate], t[escalate], dir_after[escalate], episode[escalate]),
            (_ANTI_FLIP, bar[anti], t[anti], dir_before[anti], episode[anti], d[anti]),
            (_CLOSE, *close),
        ]
    )
    # Episode ids: the carried one, then "coin|opening time" by episode number.
    opened = bar[opens]
    ids = np.empty(opened.shape[0] + 1, dtype=object)
    ids[0] = previous.episode_id
    ids[1:] = iso_utc(ts.asi8[opened], prefix=f"{coin}|")
    ends = np.full(ids.shape[0], n - 1)
    ends[close[3]] = episode_end
    bar_ids = _bar_episode_ids(n, np.append(start, opened), ends, ids, first=0 if carried.open else 1)

    last_ts = ts[n - 1] if n > start else previous.last_ts
    if last.open:
        bits = carried.escalated if last_episode == 0 else 0
        for code in events.tier[(events.kind == _ESCALATE) & (events.episode == last_episode)].tolist():
            bits |= 1 << code
        final_state = EpisodeState(
            coin=coin,
            last_ts=last_ts,
            episode_id=ids[last_episode],
            direction=DIRECTION_NAMES[last.direction],
            tier=TIER_NAMES[last.tier],
            none_streak=last.quiet,
            streak_tier=TIER_NAMES[TIER_NONE if tail else last.run_tier],  # a quiet bar ends a run
            streak_bars=0 if tail else last.run_len,
            escalated=tuple(name for code, name in enumerate(TIER_NAMES) if bits & (1 << code)),
        )
    else:
        final_state = EpisodeState(coin=coin, last_ts=last_ts)
    return EpisodeRun(
        event_index=events.bar,
        event=_EVENT_BY_CODE[events.kind],
        tier=TIER_BY_CODE[events.tier],
        direction=DIRECTION_BY_CODE[events.direction + 1],
        episode_id=ids[events.episode],
        attempted_direction=_DIRECTION_OR_NONE[events.attempted + 1],
        dedup_key=_dedup_keys(coin, previous.episode_id, ids, events, ts),
        episode_ids=bar_ids,
        start=start,
        state=final_state,
    )


def _dedup_keys(
    coin: str, carried_id: str | None, ids: NDArray[np.object_], events: _Events, ts: pd.DatetimeIndex
) -> NDArray[np.object_]:
    """`dedup_key` of every event, with one object-array concatenation per event (plus two per
    anti-flip record, which adds the bar time)."""
    prefix = np.empty_like(ids)  # "coin|episode_id" by episode number
    prefix[0] = f"{coin}|{carried_id}"
    prefix[1:] = f"{coin}|" + ids[1:]
    keys: NDArray[np.object_] = prefix[events.episode] + _KEY_SUFFIX[events.kind, events.tier]
    flips = np.flatnonzero(events.kind == _ANTI_FLIP)
    keys[flips] += iso_utc(ts.asi8[events.bar[flips]], prefix="|")
    return keys


def _first_escalations(
    t: NDArray[np.intp],
    top_tier: NDArray[np.intp],
    run_len: NDArray[np.intp],
    episode: NDArray[np.intp],
    escalate_bars: int,
    carried: _Carried,
) -> NDArray[np.bool_]:
    """Bars escalating: the episode's highest tier held `escalate_bars` bars, the first time
    per (episode, tier); the carried episode skips the tiers it already escalated."""
    due = np.flatnonzero((t == top_tier) & (run_len >= escalate_bars))
    first = np.zeros(due.shape[0], dtype=bool)
    first[np.unique(episode[due] * len(TIER_NAMES) + t[due], return_index=True)[1]] = True
    done = (episode[due] == 0) & ((carried.escalated >> t[due]) & 1 == 1)
    out = np.zeros(t.shape[0], dtype=bool)
    out[due[first & ~done]] = True
    return out


def _bar_episode_ids(
    n: int, begins: NDArray[np.intp], ends: NDArray[np.intp], ids: NDArray[np.object_], first: int
) -> NDArray[np.object_]:
    """Per bar, the id of the episode covering it (episodes first.. are disjoint, in order),
    else None: runs of None and of ids, repeated."""
    begins, ends = begins[first:], ends[first:]
    values = np.full(2 * begins.shape[0] + 1, None, dtype=object)
    values[1::2] = ids[first:]
    counts = np.empty(values.shape[0], dtype=np.intp)
    counts[0:-1:2] = begins - np.concatenate([[0], ends[:-1] + 1])
    counts[1::2] = ends - begins + 1
    counts[-1] = n - (ends[-1] + 1 if ends.shape[0] else 0)
    return np.repeat(values, counts)
