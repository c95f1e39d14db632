"""`config/evaluation.yaml`: the notification budget and the walk-forward study's settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from sniper_pipeline.settings.yamlfile import load_model


class EvaluationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    notifications_per_coin_per_week: float = Field(
        default=1.0, gt=0, description="opens (watch or above) + upgrades to action, per coin per week"
    )
    top_liquidation_bars: int = Field(
        default=3, ge=1, description="largest liq bars per coin that must reach action"
    )
    fit_days: float = Field(default=60.0, gt=0)
    score_days: float = Field(default=30.0, gt=0)
    bootstrap_samples: int = Field(default=2000, ge=100)
    seed: int = 0


class EvaluationConfig(BaseModel):
    # Unknown keys are errors: a typo must not silently keep a default.
    model_config = ConfigDict(extra="forbid", frozen=True)

    evaluation: EvaluationSettings = EvaluationSettings()


def load_evaluation_settings(config_dir: Path) -> EvaluationSettings:
    """Validated settings; a missing file keeps every default (the file is optional)."""
    path = config_dir / "evaluation.yaml"
    if not path.exists():
        return EvaluationSettings()
    return load_model(path, EvaluationConfig).evaluation
