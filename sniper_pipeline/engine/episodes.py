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

The machine steps in Python only over bars with tier != none; runs of none bars are
jumped over arithmetically. It resumes from an `EpisodeState`: bars at or before
`state.last_ts` were decided by an earlier run and are skipped, so no event is made twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .confluence import (
    DIRECTION_BY_CODE,
    DIRECTION_MIXED,
    DIRECTION_NAMES,
    TIER_BY_CODE,
    TIER_NAMES,
    TIER_NONE,
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
_DIRECTION_OR_NONE = np.array([*DIRECTION_BY_CODE, None], dtype=object)  # index = code + 1
_CARRIED = -1  # the episode carried over from the state


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


def iso_utc(ts_ns: NDArray[np.int64]) -> NDArray[np.object_]:
    """ISO 8601 (seconds, "+00:00") of UTC epochs in ns, vectorised: boxing one pandas
    Timestamp per bar is ~50x slower."""
    text = np.datetime_as_string(np.asarray(ts_ns, dtype=np.int64).view("M8[ns]"), unit="s")
    return cast(NDArray[np.object_], np.asarray(text, dtype=object) + "+00:00")


def episode_id_for(coin: str, opening_ts: pd.Timestamp) -> str:
    """Deterministic id: the coin and the opening bar's time, e.g. "BTC|2025-02-03T00:00:00+00:00"."""
    return f"{coin}|{iso_utc(np.array([opening_ts.value]))[0]}"


def dedup_key(coin: str, episode_id: str, event: str, tier: str, bar_iso: str) -> str:
    """`coin|episode_id|event|tier`; anti-flip records can repeat in an episode, so they add
    the bar time (ISO)."""
    key = f"{coin}|{episode_id}|{event}|{tier}"
    return f"{key}|{bar_iso}" if event == EVENT_ANTI_FLIP else key


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
    One flat loop with local variables: it runs once per bar with a tier, so it is kept lean.
    """
    previous = state if state is not None else EpisodeState(coin=coin)
    if previous.coin != coin:
        raise ValueError(f"state is for coin {previous.coin!r}, bars are for {coin!r}")
    n = len(ts)
    start = 0 if previous.last_ts is None else int(ts.searchsorted(previous.last_ts, side="right"))
    clear_bars, escalate_bars = params.clear_bars, params.escalate_bars

    # The open episode, keyed inside the loop by its opening bar (CARRIED: the episode of
    # the state); ids are formatted once at the end. Everything is an int code in the loop.
    ep: int | None = None if previous.episode_id is None else _CARRIED
    ep_start = start  # first bar of the episode within this run
    ep_dir = _DIRECTION_CODES[previous.direction]
    ep_tier = _TIER_CODES[previous.tier]
    quiet = previous.none_streak  # consecutive tier-none bars inside the episode
    run_tier, run_len = _TIER_CODES[previous.streak_tier], previous.streak_bars
    escalated = sum(1 << _TIER_CODES[name] for name in previous.escalated)  # bit per tier code
    flat: list[int] = []  # events, 6 ints each: bar, event, tier, direction, episode, attempted
    emit = flat.extend
    segments: list[tuple[int, int, int]] = []  # (first bar, last bar, episode)

    pos = start  # next bar not yet decided; bars pos..i-1 below are tier none
    active = np.flatnonzero(tier[start:] != TIER_NONE) + start
    # A final pseudo-bar at n settles the trailing quiet bars.
    steps = zip(
        [*active.tolist(), n],
        [*tier[active].tolist(), TIER_NONE],
        [*direction[active].tolist(), DIRECTION_MIXED],
        [*liq_side[active].tolist(), DIRECTION_MIXED],
        strict=True,
    )
    for i, t, d, s in steps:
        gap = i - pos
        if gap and ep is not None:
            need = clear_bars - quiet if quiet < clear_bars else 1
            if gap >= need:  # the need-th quiet bar closes the episode
                close_bar = pos + need - 1
                emit((close_bar, _CLOSE, ep_tier, ep_dir, ep, _NO_ATTEMPT))
                segments.append((ep_start, close_bar, ep))
                ep = None
            else:
                quiet += gap
                run_tier, run_len = TIER_NONE, 0  # a quiet bar breaks a run of equal tiers
        if i == n:
            break

        if ep is not None and d != DIRECTION_MIXED and ep_dir not in (DIRECTION_MIXED, d):
            if s == d:  # liquidations confirm the new side: close, then open below
                emit((i, _CLOSE, ep_tier, ep_dir, ep, _NO_ATTEMPT))
                segments.append((ep_start, i - 1, ep))
                ep = None
            else:
                emit((i, _ANTI_FLIP, t, ep_dir, ep, d))
        if ep is None:
            ep, ep_start, ep_dir, ep_tier = i, i, d, t
            quiet, run_tier, run_len, escalated = 0, t, 1, 0
            emit((i, _OPEN, t, d, ep, _NO_ATTEMPT))
        else:
            quiet = 0
            if ep_dir == DIRECTION_MIXED:
                ep_dir = d  # adopt the first up/down seen (stays mixed when d is mixed)
            if t > ep_tier:
                ep_tier = t
                emit((i, _UPGRADE, t, ep_dir, ep, _NO_ATTEMPT))
            if t == run_tier:
                run_len += 1
            else:
                run_tier, run_len = t, 1
        # Only the episode's highest tier escalates: a run of watch after an upgrade to
        # action is a calming market, not news.
        if t == ep_tier and run_len >= escalate_bars and not escalated & (1 << t):
            escalated |= 1 << t
            emit((i, _ESCALATE, t, ep_dir, ep, _NO_ATTEMPT))
        pos = i + 1

    if ep is not None:
        segments.append((ep_start, n - 1, ep))
    # Episode ids: the carried one from the state, new ones from their opening bar's time.
    opened = np.array([seg[2] for seg in segments if seg[2] != _CARRIED], dtype=np.intp)
    id_by_key: dict[int, Any] = dict(zip(opened.tolist(), f"{coin}|" + iso_utc(ts.asi8[opened]), strict=True))
    id_by_key[_CARRIED] = previous.episode_id
    ids = np.full(n, None, dtype=object)
    for first, last, key in segments:
        ids[first : last + 1] = id_by_key[key]

    codes = np.array(flat, dtype=np.int64).reshape(-1, 6)
    episode_keys = codes[:, 4].tolist()
    if ep is None:
        ep_dir, ep_tier, quiet, run_tier, run_len, escalated = DIRECTION_MIXED, TIER_NONE, 0, TIER_NONE, 0, 0
    final = EpisodeState(
        coin=coin,
        last_ts=ts[n - 1] if n > start else previous.last_ts,
        episode_id=None if ep is None else id_by_key[ep],
        direction=DIRECTION_NAMES[ep_dir],
        tier=TIER_NAMES[ep_tier],
        none_streak=quiet,
        streak_tier=TIER_NAMES[run_tier],
        streak_bars=run_len,
        escalated=tuple(name for code, name in enumerate(TIER_NAMES) if escalated & (1 << code)),
    )
    return EpisodeRun(
        event_index=codes[:, 0].astype(np.intp),
        event=_EVENT_BY_CODE[codes[:, 1]],
        tier=TIER_BY_CODE[codes[:, 2]],
        direction=DIRECTION_BY_CODE[codes[:, 3] + 1],
        episode_id=np.array([id_by_key[key] for key in episode_keys], dtype=object),
        attempted_direction=_DIRECTION_OR_NONE[codes[:, 5] + 1],
        episode_ids=ids,
        start=start,
        state=final,
    )
