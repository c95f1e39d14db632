"""`config/thresholds.yaml` and `config/alerts.yaml`: the signal engine's parameters.

Validated here (each error names the file and the key), then converted to the engine's
frozen dataclasses with `SignalSettings.engine_params()`. Every key is optional: a missing
one keeps the default of design.md section 4, the same as the engine's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sniper_pipeline.engine.params import (
    ConfluenceParams,
    DirectionParams,
    EngineParams,
    EpisodeParams,
    SanityParams,
    ThresholdParams,
    TighteningParams,
)
from sniper_pipeline.settings.yamlfile import load_model

Triple = tuple[float, float, float]


class _Section(BaseModel):
    """Unknown keys are errors (a typo must not silently keep a default); frozen, so a default
    instance can be shared as a field default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PercentileSettings(_Section):
    lookback_bars: int = Field(default=100, ge=10, description="bars before the scored bar")
    min_history_bars: int = Field(default=80, ge=1, description="valid values needed in the window")
    high: Triple = Field(default=(85.0, 95.0, 99.0), description="watch, action, extreme percentiles")
    low: Triple = Field(default=(15.0, 5.0, 1.0), description="taker low band percentiles")

    @field_validator("high")
    @classmethod
    def _high_increasing(cls, value: Triple) -> Triple:
        if not 50 < value[0] < value[1] < value[2] < 100:
            raise ValueError(
                f"must be strictly increasing percentiles above 50 and below 100, got {list(value)}"
            )
        return value

    @field_validator("low")
    @classmethod
    def _low_decreasing(cls, value: Triple) -> Triple:
        if not 50 > value[0] > value[1] > value[2] > 0:
            raise ValueError(
                f"must be strictly decreasing percentiles below 50 and above 0, got {list(value)}"
            )
        return value

    @model_validator(mode="after")
    def _history_within_lookback(self) -> PercentileSettings:
        if self.min_history_bars > self.lookback_bars:
            raise ValueError(
                f"min_history_bars ({self.min_history_bars}) must not exceed "
                f"lookback_bars ({self.lookback_bars})"
            )
        return self


class TighteningSettings(_Section):
    trigger: Literal["extreme", "action"] = "extreme"
    window_days: float = Field(default=7.0, gt=0, description="days armed after a trigger")
    window_bars: int | None = Field(default=None, ge=1, description="explicit override of window_days")
    decay_bars: int = Field(default=3, ge=0)
    taker_action_step: float = Field(default=0.05, ge=0, description="ratio units")
    oi_roc_action_step_pct: float = Field(default=0.5, ge=0, description="percentage points")


class ConfluenceSettings(_Section):
    watch_min_layers: int = Field(default=2, ge=1, le=4)
    action_min_layers: int = Field(default=3, ge=1, le=4)
    action_min_action_layers: int = Field(default=1, ge=1, le=4)
    extreme_override_layers: int | None = Field(default=None, ge=1, le=4)
    crash_liq_level: int | None = Field(
        default=None,
        ge=2,
        le=3,
        description="one-sided crash rule: liq level (2 action, 3 extreme); null = off",
    )
    crash_oi_level: int = Field(default=2, ge=0, le=3, description="one-sided crash rule: OI level (0 = any)")

    @model_validator(mode="after")
    def _ordered(self) -> ConfluenceSettings:
        if self.action_min_layers < self.watch_min_layers:
            raise ValueError(
                f"action_min_layers ({self.action_min_layers}) must be >= watch_min_layers "
                f"({self.watch_min_layers})"
            )
        if self.action_min_action_layers > self.action_min_layers:
            raise ValueError(
                f"action_min_action_layers ({self.action_min_action_layers}) must be <= action_min_layers "
                f"({self.action_min_layers})"
            )
        return self


class DirectionSettings(_Section):
    polarity_threshold: float = Field(default=0.2, gt=0, le=1)
    polarity_requires_liq_level: bool = True


class SanitySettings(_Section):
    max_funding_p99_bps_8h: float = Field(default=500.0, gt=0)
    taker_ratio_min: float = Field(default=0.05, gt=0)
    taker_ratio_max: float = Field(default=20.0, gt=0)

    @model_validator(mode="after")
    def _range(self) -> SanitySettings:
        if self.taker_ratio_min >= self.taker_ratio_max:
            raise ValueError("taker_ratio_min must be below taker_ratio_max")
        return self


class ThresholdsConfig(_Section):
    percentiles: PercentileSettings = PercentileSettings()
    tightening: TighteningSettings = TighteningSettings()
    confluence: ConfluenceSettings = ConfluenceSettings()
    direction: DirectionSettings = DirectionSettings()
    sanity: SanitySettings = SanitySettings()


class EpisodeSettings(_Section):
    clear_bars: int = Field(default=2, ge=1, description="tier-none bars that close an episode")
    escalate_bars: int = Field(default=3, ge=2, description="bars at the same tier for an escalate event")


class AlertsConfig(_Section):
    episodes: EpisodeSettings = EpisodeSettings()


@dataclass(frozen=True)
class SignalSettings:
    thresholds: ThresholdsConfig
    alerts: AlertsConfig

    def engine_params(self) -> EngineParams:
        """The engine's frozen parameters."""
        p, t, c, d, s = (
            self.thresholds.percentiles,
            self.thresholds.tightening,
            self.thresholds.confluence,
            self.thresholds.direction,
            self.thresholds.sanity,
        )
        return EngineParams(
            thresholds=ThresholdParams(p.lookback_bars, p.min_history_bars, p.high, p.low),
            tightening=TighteningParams(**t.model_dump()),
            confluence=ConfluenceParams(**c.model_dump()),
            direction=DirectionParams(**d.model_dump()),
            episodes=EpisodeParams(**self.alerts.episodes.model_dump()),
            sanity=SanityParams(**s.model_dump()),
        )


def load_signal_settings(config_dir: Path) -> SignalSettings:
    """Load and validate both files; raises `ConfigError` naming the file and the key."""
    return SignalSettings(
        thresholds=load_model(config_dir / "thresholds.yaml", ThresholdsConfig),
        alerts=load_model(config_dir / "alerts.yaml", AlertsConfig),
    )


def load_engine_params(config_dir: Path) -> EngineParams:
    return load_signal_settings(config_dir).engine_params()
