"""A plain bar-by-bar episode machine: the reference the vectorised `run_episodes` is pinned to.

It follows the rules of design.md section 4 literally (one step per bar, tier-none bars
included), without any of the engine's shortcuts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sniper_pipeline.engine import EpisodeParams, EpisodeState

TIERS = ("none", "watch", "action")
DIRECTIONS = {1: "up", -1: "down", 0: "mixed"}
CODES = {name: code for code, name in DIRECTIONS.items()}


@dataclass
class ReferenceRun:
    events: list[
        tuple[int, str, str, str, str | None, str | None]
    ]  # bar, event, tier, direction, id, attempted
    episode_ids: list[str | None]
    state: EpisodeState


def reference_episodes(
    coin: str,
    ts: pd.DatetimeIndex,
    tier: np.ndarray,
    direction: np.ndarray,
    liq_side: np.ndarray,
    params: EpisodeParams,
    state: EpisodeState | None = None,
) -> ReferenceRun:
    prev = state or EpisodeState(coin=coin)
    start = 0 if prev.last_ts is None else int(ts.searchsorted(prev.last_ts, side="right"))
    episode = prev.episode_id
    ep_dir = CODES[prev.direction]
    ep_tier = TIERS.index(prev.tier)
    quiet = prev.none_streak
    run_tier, run_len = TIERS.index(prev.streak_tier), prev.streak_bars
    escalated = {TIERS.index(name) for name in prev.escalated}
    events: list[tuple[int, str, str, str, str | None, str | None]] = []
    ids: list[str | None] = [None] * len(ts)

    def emit(bar: int, event: str, t: int, d: int, attempted: int | None = None) -> None:
        events.append(
            (
                bar,
                event,
                TIERS[t],
                DIRECTIONS[d],
                episode,
                None if attempted is None else DIRECTIONS[attempted],
            )
        )

    for i in range(start, len(ts)):
        t, d, s = int(tier[i]), int(direction[i]), int(liq_side[i])
        if t == 0:
            if episode is not None:
                quiet += 1
                run_tier, run_len = 0, 0
                ids[i] = episode
                if quiet >= params.clear_bars:
                    emit(i, "close", ep_tier, ep_dir)
                    episode = None
            continue
        if episode is not None and d != 0 and ep_dir not in (0, d):
            if s == d:
                emit(i, "close", ep_tier, ep_dir)
                episode = None
            else:
                emit(i, "anti_flip_suppressed", t, ep_dir, d)
        if episode is None:
            episode = f"{coin}|{ts[i].isoformat()}"
            ep_dir, ep_tier, quiet, run_tier, run_len, escalated = d, t, 0, t, 1, set()
            emit(i, "open", t, d)
        else:
            quiet = 0
            if ep_dir == 0:
                ep_dir = d
            if t > ep_tier:
                ep_tier = t
                emit(i, "upgrade", t, ep_dir)
            run_tier, run_len = (t, run_len + 1) if t == run_tier else (t, 1)
        if t == ep_tier and run_len >= params.escalate_bars and t not in escalated:
            escalated.add(t)
            emit(i, "escalate", t, ep_dir)
        ids[i] = episode
    if episode is None:
        ep_dir, ep_tier, quiet, run_tier, run_len, escalated = 0, 0, 0, 0, 0, set()
    final = EpisodeState(
        coin=coin,
        last_ts=ts[len(ts) - 1] if len(ts) > start else prev.last_ts,
        episode_id=episode,
        direction=DIRECTIONS[ep_dir],
        tier=TIERS[ep_tier],
        none_streak=quiet,
        streak_tier=TIERS[run_tier],
        streak_bars=run_len,
        escalated=tuple(name for code, name in enumerate(TIERS) if code in escalated),
    )
    return ReferenceRun(events, ids, final)
