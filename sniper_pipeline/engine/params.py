"""Engine parameters: frozen dataclasses holding the defaults of design.md section 4.

`config/thresholds.yaml` and `config/alerts.yaml` carry the same defaults; they are
loaded and validated by `sniper_pipeline.signals.settings`, which builds these objects.
The checks in `__post_init__` only guard programmatic use (tests, notebooks).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from sniper_pipeline.settings.timeutil import interval_seconds

TriggerLevel = Literal["extreme", "action"]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class ThresholdParams:
    """Rolling point-in-time percentiles."""

    lookback_bars: int = 100
    # A window with fewer valid values gives no threshold (level 0). 80 rather than the full
    # lookback: one stale bar would otherwise blank a layer for the next `lookback_bars` bars.
    min_history_bars: int = 80
    high_percentiles: tuple[float, float, float] = (85.0, 95.0, 99.0)  # watch, action, extreme
    low_percentiles: tuple[float, float, float] = (15.0, 5.0, 1.0)  # taker low band, mirrored

    def __post_init__(self) -> None:
        _require(self.lookback_bars >= 1, "lookback_bars must be >= 1")
        _require(
            1 <= self.min_history_bars <= self.lookback_bars,
            "min_history_bars must be between 1 and lookback_bars",
        )
        hi, lo = self.high_percentiles, self.low_percentiles
        _require(
            len(hi) == 3 and 0 < hi[0] < hi[1] < hi[2] < 100,
            "high_percentiles must be 3 strictly increasing values in (0, 100)",
        )
        _require(
            len(lo) == 3 and 100 > lo[0] > lo[1] > lo[2] > 0,
            "low_percentiles must be 3 strictly decreasing values in (0, 100)",
        )


@dataclass(frozen=True)
class TighteningParams:
    """Dynamic tightening of the taker and OI ROC action thresholds after big liquidations."""

    trigger: TriggerLevel = "extreme"  # liq_total_usd above the coin's p99 (or p95 with "action")
    window_days: float = 7.0
    window_bars: int | None = None  # explicit override of window_days
    decay_bars: int = 3
    taker_action_step: float = 0.05  # ratio units
    oi_roc_action_step_pct: float = 0.5  # percentage points of |OI ROC|

    def __post_init__(self) -> None:
        _require(self.trigger in ("extreme", "action"), "trigger must be 'extreme' or 'action'")
        _require(self.window_days > 0, "window_days must be > 0")
        _require(self.window_bars is None or self.window_bars >= 1, "window_bars must be >= 1")
        _require(self.decay_bars >= 0, "decay_bars must be >= 0")
        _require(self.taker_action_step >= 0, "taker_action_step must be >= 0")
        _require(self.oi_roc_action_step_pct >= 0, "oi_roc_action_step_pct must be >= 0")

    def resolved_window_bars(self, interval: str) -> int:
        """The armed duration in bars of `interval` (42 for 7 days of 4h bars)."""
        if self.window_bars is not None:
            return self.window_bars
        return max(1, round(self.window_days * 86400 / interval_seconds(interval)))


@dataclass(frozen=True)
class ConfluenceParams:
    """Tier rules. The layer counts are parameters so the evaluation can tune them."""

    watch_min_layers: int = 2  # layers at level >= 1
    action_min_layers: int = 3  # layers at level >= 1 ...
    action_min_action_layers: int = 1  # ... of which at least this many at level >= 2
    # Off by default. When set (e.g. 2), that many layers at extreme make the tier action on
    # their own: the documented override for one-sided crashes that the evaluation may enable.
    extreme_override_layers: int | None = None
    # One-sided crash rule, off by default (None). When set, a bar with the liq layer at level
    # >= `crash_liq_level` and the OI layer at level >= `crash_oi_level` is action on its own:
    # a crash flushes positions (OI) and liquidates them while funding and taker flow can stay
    # quiet, so "three layers" never holds. `crash_oi_level` 0 means liquidations alone.
    crash_liq_level: int | None = None  # level 2 (action) or 3 (extreme)
    crash_oi_level: int = 2  # level 0..3; read only while crash_liq_level is set

    def __post_init__(self) -> None:
        _require(1 <= self.watch_min_layers <= 4, "watch_min_layers must be in 1..4")
        _require(
            self.watch_min_layers <= self.action_min_layers <= 4,
            "action_min_layers must be in watch_min_layers..4",
        )
        _require(
            1 <= self.action_min_action_layers <= self.action_min_layers,
            "action_min_action_layers must be in 1..action_min_layers",
        )
        _require(
            self.extreme_override_layers is None or 1 <= self.extreme_override_layers <= 4,
            "extreme_override_layers must be null or in 1..4",
        )
        # Below action the rule would make a bar action without any layer at action.
        _require(
            self.crash_liq_level is None or 2 <= self.crash_liq_level <= 3,
            "crash_liq_level must be null or in 2..3",
        )
        _require(0 <= self.crash_oi_level <= 3, "crash_oi_level must be in 0..3")


@dataclass(frozen=True)
class DirectionParams:
    """Direction from the taker band side and the liquidation polarity."""

    polarity_threshold: float = 0.2  # |(long - short) / (long + short)|
    # Polarity only speaks when the liq layer itself is at level >= 1: a 0.9 polarity on a
    # quiet bar is a handful of liquidations, not a crowd being flushed. The same signal
    # confirms a change of direction inside an episode (anti-flip).
    polarity_requires_liq_level: bool = True

    def __post_init__(self) -> None:
        _require(0 < self.polarity_threshold <= 1, "polarity_threshold must be in (0, 1]")


@dataclass(frozen=True)
class EpisodeParams:
    """Episode lifecycle (alerts.yaml)."""

    clear_bars: int = 2  # consecutive tier-none bars that close an episode
    escalate_bars: int = 3  # consecutive bars at the same tier for an `escalate` event

    def __post_init__(self) -> None:
        _require(self.clear_bars >= 1, "clear_bars must be >= 1")
        _require(self.escalate_bars >= 1, "escalate_bars must be >= 1")


@dataclass(frozen=True)
class SanityParams:
    """Limits used by `config_sanity` on percentile configs."""

    max_funding_p99_bps_8h: float = 500.0
    taker_ratio_min: float = 0.05
    taker_ratio_max: float = 20.0

    def __post_init__(self) -> None:
        _require(self.max_funding_p99_bps_8h > 0, "max_funding_p99_bps_8h must be > 0")
        _require(
            0 < self.taker_ratio_min < self.taker_ratio_max,
            "taker ratio limits must satisfy 0 < min < max",
        )


@dataclass(frozen=True)
class EngineParams:
    """Every engine parameter, grouped by rule."""

    thresholds: ThresholdParams = field(default_factory=ThresholdParams)
    tightening: TighteningParams = field(default_factory=TighteningParams)
    confluence: ConfluenceParams = field(default_factory=ConfluenceParams)
    direction: DirectionParams = field(default_factory=DirectionParams)
    episodes: EpisodeParams = field(default_factory=EpisodeParams)
    sanity: SanityParams = field(default_factory=SanityParams)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON-compatible), e.g. to hash the parameters in force."""
        return dataclasses.asdict(self)
