"""`data/stream_thresholds.json`: each coin's liquidation action threshold, for the stream sensor.

Written by the scoring run (the signals asset) after each run, read by
`liquidation_stream_sensor`, which must not open the warehouse. Format:

    {"BTC": {"liq_total_action_usd": 1250000.0, "interval": "4h"}, ...}

`liq_total_action_usd` is the coin's current action level (p95) of `liq_total_usd` per bar of
`interval`; null means "no threshold yet" (too little history) and the coin is skipped. Other
keys of an entry (e.g. `data_through`) are kept by the writer and ignored by the reader.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sniper_pipeline.settings.paths import data_dir
from sniper_pipeline.settings.timeutil import INTERVALS

FILE_NAME = "stream_thresholds.json"
ACTION_KEY = "liq_total_action_usd"


@dataclass(frozen=True)
class CoinThreshold:
    liq_total_action_usd: float
    interval: str


class ThresholdsFileError(ValueError):
    """The thresholds file exists but cannot be used; the message names the file and the entry."""


def thresholds_path() -> Path:
    """`$SNIPER_DATA_DIR/stream_thresholds.json` (default `data/`)."""
    return data_dir() / FILE_NAME


def _entry(coin: str, value: Any, where: str) -> dict[str, Any]:
    if isinstance(value, CoinThreshold):
        value = {ACTION_KEY: value.liq_total_action_usd, "interval": value.interval}
    if not isinstance(value, Mapping):
        raise ThresholdsFileError(f"{where}: {coin}: expected an object with {ACTION_KEY} and interval")
    interval = value.get("interval")
    if interval not in INTERVALS:
        raise ThresholdsFileError(
            f"{where}: {coin}: interval {interval!r} is not one of {' '.join(INTERVALS)}"
        )
    action = value.get(ACTION_KEY)
    if action is not None:
        if isinstance(action, bool) or not isinstance(action, int | float):
            raise ThresholdsFileError(f"{where}: {coin}: {ACTION_KEY} {action!r} is not a number")
        if not math.isfinite(action) or action < 0:
            raise ThresholdsFileError(f"{where}: {coin}: {ACTION_KEY} {action!r} is not a finite USD amount")
    return {**value, ACTION_KEY: None if action is None else float(action), "interval": interval}


def write_thresholds(path: Path, mapping: Mapping[str, Mapping[str, Any] | CoinThreshold]) -> None:
    """Validate and write atomically (temp file + rename): the sensor never reads half a file."""
    content = {
        coin.strip().upper(): _entry(coin, value, str(path)) for coin, value in sorted(mapping.items())
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(content, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock next to the file: coin partitions run in parallel processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        try:
            import fcntl
        except ImportError:  # not on POSIX: no lock, last writer wins for its own coin only
            yield
            return
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def update_threshold(
    path: Path, coin: str, liq_total_action_usd: float | None, interval: str, **extra: Any
) -> None:
    """Set one coin's entry and keep the others (the scoring run is partitioned by coin)."""
    with _locked(path):
        try:
            current = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            current = {}  # a broken file is replaced rather than blocking every later run
        if not isinstance(current, dict):
            current = {}
        current[coin.strip().upper()] = {**extra, ACTION_KEY: liq_total_action_usd, "interval": interval}
        write_thresholds(path, current)


def read_thresholds(path: Path) -> dict[str, CoinThreshold]:
    """Coins with a threshold; {} when the file does not exist. ThresholdsFileError when it is broken."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ThresholdsFileError(f"{path}: not JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(raw, dict):
        raise ThresholdsFileError(f"{path}: expected an object {{coin: {{{ACTION_KEY}, interval}}}}")
    out: dict[str, CoinThreshold] = {}
    for coin, value in raw.items():
        entry = _entry(str(coin), value, str(path))
        if entry[ACTION_KEY] is not None:
            out[str(coin).strip().upper()] = CoinThreshold(entry[ACTION_KEY], entry["interval"])
    return out
