"""The code location: every module under `defs/` contributes its own `defs()`."""

from __future__ import annotations

import dagster as dg

import sniper_pipeline.defs


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_defs(defs_root=sniper_pipeline.defs)
