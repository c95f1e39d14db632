"""The HTML signal report: `write_report(engine, path)` writes one self-contained page."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from sniper_pipeline.report.data import load_report_data
from sniper_pipeline.report.html import render_page
from sniper_pipeline.settings.timeutil import naive_utc

__all__ = ["write_report"]


def write_report(
    engine: Engine,
    path: Path,
    *,
    coins: Sequence[str] | None = None,
    now: datetime | None = None,
) -> Path:
    """Write the report for `coins` (default: every coin in the warehouse) to `path`.

    `now` (naive or aware; shown as UTC) is the "generated at" time. Ages of series are measured
    against the newest bar in the warehouse instead, so a replayed recording reads the same."""
    if now is None:
        now = datetime.now(UTC)
    now = naive_utc(now)
    page = render_page(load_report_data(engine, coins), now)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename: a browser or a web server never sees half a page.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
