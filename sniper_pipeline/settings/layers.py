"""`config/layers.yaml`: the ordered sources of every layer, per profile."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sniper_pipeline.settings.layer import Layer
from sniper_pipeline.settings.timeutil import INTERVALS
from sniper_pipeline.settings.yamlfile import load_model

LAYERS: tuple[str, ...] = tuple(layer.value for layer in Layer)  # the scored layers, by name
CONTEXT_LAYERS: tuple[str, ...] = ("price",)
Profile = Literal["live", "replay"]


class SourceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(pattern=r"^/api/")
    scope: Literal["coin", "pair"]
    interval: str = "grid"
    exchange: str | None = None
    exchange_list: str | None = None
    unit: Literal["coin", "usd"] | None = None
    value_unit: Literal["usd", "base_coin"] = "usd"

    @model_validator(mode="after")
    def _check_interval(self) -> SourceSpec:
        if self.interval not in (*INTERVALS, "grid", "any"):
            raise ValueError(f"interval {self.interval!r} is not one of {', '.join(INTERVALS)}, grid, any")
        return self


class ProfileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grid_interval: str | None = None
    layers: dict[str, list[SourceSpec]]

    @model_validator(mode="after")
    def _check_layers(self) -> ProfileSpec:
        unknown = set(self.layers) - set(LAYERS) - set(CONTEXT_LAYERS)
        if unknown:
            raise ValueError(f"unknown layers {sorted(unknown)}; known: {[*LAYERS, *CONTEXT_LAYERS]}")
        missing = [layer for layer in LAYERS if not self.layers.get(layer)]
        if missing:
            raise ValueError(f"no sources for layers {missing}")
        if self.grid_interval is not None and self.grid_interval not in INTERVALS:
            raise ValueError(f"grid_interval {self.grid_interval!r} is not a CoinGlass interval")
        return self


class LayersConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    history_days: int = Field(180, ge=1, le=3650)
    overlap_bars: int = Field(3, ge=0, le=100)
    profiles: dict[Profile, ProfileSpec]


def load_layers(config_dir: Path) -> LayersConfig:
    return load_model(config_dir / "layers.yaml", LayersConfig)
