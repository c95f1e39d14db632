"""What a command runs against: DAGSTER_HOME, profile, and the API endpoint (a replay server on a
free loopback port unless --live). The endpoint is handed to the command as an `Api`, from which
it builds its Runtime; nothing here writes the API side into the process environment."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sniper_pipeline.settings.errors import ConfigError
from sniper_pipeline.settings.instance import ensure_dagster_home

if TYPE_CHECKING:  # imported where used: every `sniper` command imports this module
    from sniper_pipeline.ingest.runtime import Profile, Runtime
    from sniper_pipeline.replay.recordings import RecordingIndex
    from sniper_pipeline.warehouse.url import WarehouseLocation

# --speed beyond this replays months in minutes: a typo, not a wish.
MAX_SPEED = 100_000.0


class UsageError(Exception):
    """Bad command-line usage or environment (exit code 2)."""


@dataclass(frozen=True)
class Api:
    """Where a command's API calls go: the live API, or the replay server of its block."""

    profile: Profile
    base_url: str
    replay_dir: Path | None  # the recordings the replay server serves; None live
    dagster_home: Path  # the Dagster instance's folder (DAGSTER_HOME or the project's .dagster/)

    def runtime(self, warehouse: WarehouseLocation | None = None) -> Runtime:
        from sniper_pipeline.ingest.runtime import load_runtime

        return load_runtime(
            profile=self.profile, base_url=self.base_url, replay_dir=self.replay_dir, warehouse=warehouse
        )

    def child_env(self) -> dict[str, str]:
        """The environment for a child that loads the code location by module name (it has no
        arguments to take a Runtime from): this process's plus this API."""
        from sniper_pipeline.ingest.runtime import runtime_env

        return {
            **os.environ,
            **runtime_env(self.profile, self.base_url, self.replay_dir),
            "DAGSTER_HOME": str(self.dagster_home),
        }


def replay_folder(replay_dir: Path | None) -> Path:
    """The recordings folder a replay command serves: --replay-dir, else the shipped sample."""
    from sniper_pipeline.replay.sample import sample_dir

    return replay_dir or sample_dir()


def check_recordings(folder: Path) -> RecordingIndex:
    """Load every recording of the folder; any problem is one ConfigError line naming the file
    (a missing or corrupt file must stop a command before a job or server starts)."""
    from sniper_pipeline.replay.recordings import load_index

    manifest = folder / "manifest.json"
    if not folder.is_dir():
        raise ConfigError(f"--replay-dir: {folder} is not a folder")
    if not manifest.is_file():
        raise ConfigError(f"--replay-dir: {folder} has no manifest.json")
    try:
        return load_index(folder)
    except json.JSONDecodeError as exc:  # the manifest itself (entries' files name themselves)
        raise ConfigError(f"{manifest}: not JSON ({exc})") from None
    except ValueError as exc:
        raise ConfigError(_one_line(str(exc))) from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{manifest}: malformed entry ({exc.__class__.__name__}: {exc})") from None
    except OSError as exc:
        raise ConfigError(f"--replay-dir: cannot read {exc.filename or folder}: {exc.strerror}") from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def check_replay_clock(*, live: bool, now: datetime | None, speed: float | None) -> None:
    """--now/--speed drive the replay server's clock: meaningless live, and speed must be sane."""
    if live and (now is not None or speed is not None):
        raise UsageError("--now and --speed set the replay clock: not with --live")
    if speed is not None and not (math.isfinite(speed) and 0 <= speed <= MAX_SPEED):
        raise UsageError(f"--speed: {speed} is not between 0 and {MAX_SPEED:g}")


@contextmanager
def api_environment(
    *, live: bool, replay_dir: Path | None, now: datetime | None = None, speed: float | None = None
) -> Iterator[Api]:
    """Yield the API to call; in replay mode a server runs for the duration of the block.

    `now`/`speed` set the replay clock (default: the end of the recordings, at real time)."""
    check_replay_clock(live=live, now=now, speed=speed)
    home = ensure_dagster_home()
    if live:
        if replay_dir is not None:
            raise UsageError("--live and --replay-dir exclude each other")
        if not os.environ.get("CG_API_KEY"):
            raise UsageError("--live needs CG_API_KEY in the environment")
        from sniper_pipeline.ingest.runtime import LIVE_BASE_URL

        yield Api(profile="live", base_url=LIVE_BASE_URL, replay_dir=None, dagster_home=home)
        return
    from sniper_pipeline.replay.faults import FaultSpecError, parse_faults
    from sniper_pipeline.replay.recordings import recordings_end
    from sniper_pipeline.replay.server import ReplayServer

    folder = replay_folder(replay_dir)
    index = check_recordings(folder)
    # SNIPER_REPLAY_FAULTS: a --faults spec for this server (docs/reliability.md), e.g. "429:3".
    faults = os.environ.get("SNIPER_REPLAY_FAULTS") or None
    try:
        parse_faults(faults)
    except FaultSpecError as exc:
        raise UsageError(f"SNIPER_REPLAY_FAULTS: {exc}") from None
    try:
        start = now or recordings_end(folder, index)
    except (ValueError, TypeError, KeyError) as exc:  # a time column that is not epoch ms
        raise ConfigError(f"--replay-dir: {folder}: unreadable bar times ({exc})") from None
    with ReplayServer(
        folder, quiet=True, now=start, faults=faults, speed=1.0 if speed is None else speed
    ) as server:
        yield Api(profile="replay", base_url=server.base_url, replay_dir=folder.resolve(), dagster_home=home)
