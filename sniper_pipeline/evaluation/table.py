"""The evaluation table of one coin: alert events and bars at each tier against every bar.

Rows per (subject, tier, horizon): `event` = the notifications (opens at watch; opens at action
and upgrades under action), `bar` = every bar at that tier. The period starts at the first
bar with a threshold (before it nothing can alert) and ends at the last closed bar; the
baseline is every bar of that period with a complete horizon.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sniper_pipeline.engine import EngineParams, EngineResult, run_engine, threshold_columns

from .budget import notifications, weeks_between
from .forward import Horizon, default_horizons, duration_label, forward_metrics, price_step_seconds
from .metrics import N_BOOT, conditional_metric

TIERS = ("watch", "action")
DIRECTION_CODES = {"up": 1, "down": -1}

EVALUATION_COLUMNS = (
    "coin",
    "interval",
    "price_step",
    "subject",
    "tier",
    "horizon",
    "n",
    "per_week",
    "lift",
    "lift_lo",
    "lift_hi",
    "rv_lift",
    "rv_lift_lo",
    "rv_lift_hi",
    "hit_n",
    "hit_rate",
    "hit_lo",
    "hit_hi",
    "base_hit_rate",
    "baseline_absret",
    "period_start",
    "period_end",
    "weeks",
)


def direction_codes(values: pd.Series) -> NDArray[np.int8]:
    return values.map(DIRECTION_CODES).fillna(0).to_numpy(dtype=np.int8)


def first_scored_position(signals: pd.DataFrame, params: EngineParams) -> int:
    """Position of the first bar with any threshold in force (the end of the warm-up)."""
    cols = [c for c in threshold_columns(params) if c in signals.columns]
    has = signals[cols].notna().any(axis=1).to_numpy() if cols else np.ones(len(signals), dtype=bool)
    hits = np.flatnonzero(has)
    return int(hits[0]) if len(hits) else len(signals)


def event_mask(signals: pd.DataFrame, events: pd.DataFrame, tier: str) -> tuple[NDArray[np.bool_], pd.Series]:
    """Bars carrying a notification of `tier`, and the direction of each such notification."""
    sent = notifications(events)
    sent = sent[sent["tier"] == tier]
    ts = pd.DatetimeIndex(pd.to_datetime(signals["ts"], utc=True))
    # One bar carries at most one notification per tier (an upgrade never shares its bar with
    # an action open), so a mask over bars loses nothing.
    sent = sent.drop_duplicates("ts", keep="last")
    pos = ts.get_indexer(pd.DatetimeIndex(pd.to_datetime(sent["ts"], utc=True)))
    mask = np.zeros(len(signals), dtype=bool)
    mask[pos[pos >= 0]] = True
    directions = pd.Series("mixed", index=range(len(signals)), dtype=object)
    directions.iloc[pos[pos >= 0]] = sent["direction"].to_numpy()[pos >= 0]
    return mask, directions


def evaluate_result(
    bars: pd.DataFrame,
    result: EngineResult,
    params: EngineParams,
    *,
    horizons: Sequence[Horizon] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """The evaluation rows of one coin's engine run over `bars` (all closed bars, one coin)."""
    signals = result.signals.reset_index(drop=True)
    if signals.empty:
        return pd.DataFrame(columns=list(EVALUATION_COLUMNS))
    horizons = tuple(horizons or default_horizons(bars))
    fwd = forward_metrics(bars, horizons)
    fwd = fwd.set_index("ts").reindex(pd.DatetimeIndex(pd.to_datetime(signals["ts"], utc=True)))
    start = first_scored_position(signals, params)
    period = np.arange(len(signals)) >= start
    interval = str(signals["interval"].iloc[0])
    ts = pd.DatetimeIndex(pd.to_datetime(signals["ts"], utc=True))
    close_at = pd.DatetimeIndex(fwd["close_at"])
    if start >= len(signals):
        return pd.DataFrame(columns=list(EVALUATION_COLUMNS))
    period_start, period_end = ts[start], close_at[-1]
    weeks = weeks_between(period_start, period_end)
    rows: list[dict[str, object]] = []
    bar_dirs = direction_codes(signals["direction"])
    for subject in ("event", "bar"):
        for tier in TIERS:
            if subject == "event":
                mask, dirs = event_mask(signals, result.events, tier)
                directions = direction_codes(dirs)
                block = 1  # notifications are sparse: their windows rarely overlap
            else:
                mask, directions = (signals["tier"] == tier).to_numpy(), bar_dirs
                block = 0  # set per horizon below
            mask = mask & period
            for k, h in enumerate(horizons):
                absret = np.where(period, fwd[f"absret_{h.label}"].to_numpy(dtype=float), np.nan)
                rv = np.where(period, fwd[f"rv_{h.label}"].to_numpy(dtype=float), np.nan)
                ret = np.where(period, fwd[f"ret_{h.label}"].to_numpy(dtype=float), np.nan)
                metric = conditional_metric(
                    absret,
                    rv,
                    ret,
                    mask,
                    directions,
                    n_boot=n_boot,
                    seed=seed + 10 * k,
                    block=block or h.bars(interval),
                )
                rows.append(
                    {
                        "coin": str(signals["coin"].iloc[0]),
                        "interval": interval,
                        "price_step": duration_label(price_step_seconds(bars)),
                        "subject": subject,
                        "tier": tier,
                        "horizon": h.label,
                        **metric.as_dict(),
                        "per_week": float(mask.sum()) / weeks if weeks > 0 else float("nan"),
                        "baseline_absret": float(np.nanmean(absret)) if np.isfinite(absret).any() else np.nan,
                        "period_start": period_start,
                        "period_end": period_end,
                        "weeks": weeks,
                    }
                )
    return pd.DataFrame(rows, columns=list(EVALUATION_COLUMNS))


def evaluate_coin(
    bars: pd.DataFrame,
    params: EngineParams,
    *,
    horizons: Sequence[Horizon] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """Run the engine over one coin's bars and evaluate its alerts."""
    return evaluate_result(
        bars, run_engine(bars, params), params, horizons=horizons, n_boot=n_boot, seed=seed
    )


def evaluate_coins(
    bars_by_coin: dict[str, pd.DataFrame], params: EngineParams, *, n_boot: int = N_BOOT, seed: int = 0
) -> pd.DataFrame:
    """`evaluate_coin` for every coin with bars, one frame (coins in name order)."""
    frames = [
        evaluate_coin(bars, params, n_boot=n_boot, seed=seed)
        for _, bars in sorted(bars_by_coin.items())
        if not bars.empty
    ]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=list(EVALUATION_COLUMNS))
    return pd.concat(frames, ignore_index=True)
