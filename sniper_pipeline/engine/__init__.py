"""Signal engine: pure pandas/numpy (no Dagster, no I/O). Semantics: design.md section 4,
worked examples: docs/signals.md."""

from .bars import closed_bars
from .columns import signal_columns, threshold_columns
from .confluence import TIER_NAMES, confluence_tier, direction, liquidation_side
from .episodes import (
    EVENT_ANTI_FLIP,
    EVENT_CLOSE,
    EVENT_ESCALATE,
    EVENT_OPEN,
    EVENT_UPGRADE,
    EpisodeRun,
    EpisodeRuns,
    EpisodeState,
    EventRecord,
    dedup_key,
    episode_id_for,
    iso_utc,
    run_episodes,
    run_episodes_many,
)
from .events import EVENT_COLUMNS, EVENT_DTYPES, event_layers
from .levels import LEVEL_NAMES, combine_bands, high_band_level, low_band_level
from .metrics import LAYERS, THRESHOLD_SPECS, ThresholdSpec
from .params import (
    ConfluenceParams,
    DirectionParams,
    EngineParams,
    EpisodeParams,
    SanityParams,
    ThresholdParams,
    TighteningParams,
)
from .percentile_config import config_sanity, percentile_config
from .pipeline import EngineBatch, EngineResult, run_engine, run_engine_many
from .scoring import LayerScores, score_layers, score_segments
from .thresholds import rolling_percentiles, window_percentiles
from .tightening import tighten_lower, tighten_upper, tightening_factor, trigger_flags

__all__ = [
    "EVENT_ANTI_FLIP",
    "EVENT_CLOSE",
    "EVENT_COLUMNS",
    "EVENT_DTYPES",
    "EVENT_ESCALATE",
    "EVENT_OPEN",
    "EVENT_UPGRADE",
    "LAYERS",
    "LEVEL_NAMES",
    "THRESHOLD_SPECS",
    "TIER_NAMES",
    "ConfluenceParams",
    "DirectionParams",
    "EngineBatch",
    "EngineParams",
    "EngineResult",
    "EpisodeParams",
    "EpisodeRun",
    "EpisodeRuns",
    "EpisodeState",
    "EventRecord",
    "LayerScores",
    "SanityParams",
    "ThresholdParams",
    "ThresholdSpec",
    "TighteningParams",
    "closed_bars",
    "combine_bands",
    "config_sanity",
    "confluence_tier",
    "dedup_key",
    "direction",
    "episode_id_for",
    "event_layers",
    "high_band_level",
    "iso_utc",
    "liquidation_side",
    "low_band_level",
    "percentile_config",
    "rolling_percentiles",
    "run_engine",
    "run_engine_many",
    "run_episodes",
    "run_episodes_many",
    "score_layers",
    "score_segments",
    "signal_columns",
    "threshold_columns",
    "tighten_lower",
    "tighten_upper",
    "tightening_factor",
    "trigger_flags",
    "window_percentiles",
]
