"""`config/delivery.yaml`: alert channels, wall-clock delivery rules and configured mutes.

Validated here; every error names the file and the key (`ConfigError`). Every key is
optional and keeps the default documented in the file. Channel URLs carry secrets, so the
usual place for them is the environment (`SNIPER_ALERT_URLS`, see `channels.py`), not this file.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sniper_pipeline.delivery.policy import GLOBAL_SCOPE
from sniper_pipeline.settings.paths import config_dir as default_config_dir
from sniper_pipeline.settings.timeutil import naive_utc
from sniper_pipeline.settings.yamlfile import load_model

FILE_NAME = "delivery.yaml"


def normalize_scope(coin: str | None) -> str:
    """A mute scope: '*' (every coin) or an upper-case coin."""
    text = (coin or "").strip().upper()
    return text or GLOBAL_SCOPE


class ConfiguredMute(BaseModel):
    """A mute written in the config file (operators add ad-hoc ones with `sniper mute`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    coin: str = Field(default=GLOBAL_SCOPE, description="a coin, or '*' for every coin")
    until: datetime
    reason: str | None = None

    @field_validator("coin")
    @classmethod
    def _scope(cls, value: str) -> str:
        return normalize_scope(value)

    @field_validator("until")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return naive_utc(value)


class DeliverySettings(BaseModel):
    """Unknown keys are errors: a typo must not silently keep a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: list[str] = Field(default_factory=list, description="apprise URLs (env overrides)")
    ops_channels: list[str] = Field(default_factory=list, description="apprise URLs for ops alerts")
    cooldown_minutes: float = Field(default=5.0, ge=0)
    per_coin_per_hour: int | None = Field(default=4, ge=1, description="null: no per-coin limit")
    global_per_hour: int | None = Field(default=20, ge=1, description="null: no global limit")
    retry_base_seconds: float = Field(default=30.0, gt=0)
    retry_max_seconds: float = Field(default=1800.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    send_timeout_seconds: float = Field(default=30.0, gt=0, description="per apprise call")
    deliver_since_bars: int | None = Field(default=2, ge=1, description="null: no cut-off")
    mutes: list[ConfiguredMute] = Field(default_factory=list)

    @field_validator("channels", "ops_channels")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        # Positions only: the URLs themselves must never appear in an error message.
        blank = [str(i) for i, url in enumerate(value) if not url.strip()]
        if blank:
            raise ValueError(f"empty URL at position {', '.join(blank)}")
        return [url.strip() for url in value]

    @model_validator(mode="after")
    def _backoff_order(self) -> DeliverySettings:
        if self.retry_max_seconds < self.retry_base_seconds:
            raise ValueError(
                f"retry_max_seconds ({self.retry_max_seconds:g}) must be >= "
                f"retry_base_seconds ({self.retry_base_seconds:g})"
            )
        return self


def load_delivery_settings(config_dir: Path | None = None) -> DeliverySettings:
    """Load and validate `delivery.yaml` (default: the project's config folder)."""
    folder = config_dir if config_dir is not None else default_config_dir()
    return load_model(folder / FILE_NAME, DeliverySettings)
