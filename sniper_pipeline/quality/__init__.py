"""Data-quality validation of raw CoinGlass frames before they are written (design.md section 6, "Checks").

No Dagster here: `defs/` turns the outcomes into asset check results. great_expectations is
imported only when a frame is validated.
"""

from sniper_pipeline.quality.outcomes import (
    ASCENDING_TS,
    CHECK_NAMES,
    ERROR,
    FRESH,
    NON_NULL_KEYS,
    PLAUSIBLE_RANGES,
    TYPED_COLUMNS,
    UNIQUE_KEYS,
    WARN,
    CheckOutcome,
    FrameValidation,
)
from sniper_pipeline.quality.suites import RAW_TABLES
from sniper_pipeline.quality.validate import validate_frame

__all__ = [
    "ASCENDING_TS",
    "CHECK_NAMES",
    "ERROR",
    "FRESH",
    "NON_NULL_KEYS",
    "PLAUSIBLE_RANGES",
    "RAW_TABLES",
    "TYPED_COLUMNS",
    "UNIQUE_KEYS",
    "WARN",
    "CheckOutcome",
    "FrameValidation",
    "validate_frame",
]
