"""Set up the process environment for a command: DAGSTER_HOME, profile, and the API endpoint
(a replay server on a free loopback port unless --live)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sniper_pipeline.instance import ensure_dagster_home
from sniper_pipeline.intervals import interval_seconds
from sniper_pipeline.settings.errors import ConfigError

# The replay server accepts any non-empty key; this one is only ever sent to loopback.
REPLAY_PLACEHOLDER_KEY = "replay-local"


class UsageError(Exception):
    """Bad command-line usage or environment (exit code 2)."""


def recordings_end(folder: Path) -> datetime:
    """When every recorded bar has closed: the replay clock starts here, so a first backfill of
    `history_days` reaches into the recordings whatever their dates."""
    from sniper_pipeline.coinglass.replay.recordings import RecordingIndex

    end_ms = 0
    index = RecordingIndex.from_dir(folder)
    for endpoint in index.endpoints:
        for rec in index.for_endpoint(endpoint):
            interval = rec.params.get("interval")
            if rec.time_field and interval and isinstance(rec.data, list) and rec.data:
                last = max(
                    int(row[rec.time_field]) for row in rec.data if row.get(rec.time_field) is not None
                )
                end_ms = max(end_ms, last + interval_seconds(interval) * 1000)
    if not end_ms:
        return datetime.now(UTC)
    return datetime.fromtimestamp(end_ms / 1000, UTC)


@contextmanager
def api_environment(*, live: bool, replay_dir: Path | None) -> Iterator[str]:
    """Yield the API base URL; in replay mode a server runs for the duration of the block."""
    ensure_dagster_home()
    if live:
        if replay_dir is not None:
            raise UsageError("--live and --replay-dir exclude each other")
        if not os.environ.get("CG_API_KEY"):
            raise UsageError("--live needs CG_API_KEY in the environment")
        os.environ["SNIPER_PROFILE"] = "live"
        os.environ.pop("CG_BASE_URL", None)
        yield "live"
        return
    from sniper_pipeline.coinglass.replay import FaultSpecError, ReplayServer, parse_faults
    from sniper_pipeline.coinglass.replay.sample import sample_dir

    folder = replay_dir or sample_dir()
    if not (folder / "manifest.json").is_file():
        raise ConfigError(f"--replay-dir: {folder} has no manifest.json")
    # SNIPER_REPLAY_FAULTS: a --faults spec for this server (docs/reliability.md), e.g. "429:3".
    faults = os.environ.get("SNIPER_REPLAY_FAULTS") or None
    try:
        parse_faults(faults)
    except FaultSpecError as exc:
        raise UsageError(f"SNIPER_REPLAY_FAULTS: {exc}") from None
    os.environ["SNIPER_PROFILE"] = "replay"
    os.environ["SNIPER_REPLAY_DIR"] = str(folder.resolve())
    os.environ.setdefault("CG_API_KEY", REPLAY_PLACEHOLDER_KEY)
    with ReplayServer(folder, quiet=True, now=recordings_end(folder), faults=faults) as server:
        os.environ["CG_BASE_URL"] = server.base_url
        yield server.base_url
