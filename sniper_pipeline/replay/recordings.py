"""Load a folder of recorded CoinGlass v4 responses and find the one a request asks for.

Folder format (see ``sniper_pipeline/sample/README.md``): JSON envelopes
``{"code": "0", "msg": "success", "data": ...}`` plus ``manifest.json`` whose
``files`` list maps each file to ``endpoint``, ``params`` (the non-paging query),
``time_field`` (null for snapshots) and optionally ``symbol_aliases`` (other
spellings of ``symbol`` that reach the same recording) and ``synthetic``.

Nothing here knows particular endpoints, coins, dates or exchanges: any folder of
that format is served.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sniper_pipeline.replay.paging import SortedSeries, sort_series
from sniper_pipeline.settings.timeutil import from_epoch_ms, interval_seconds

PAGING_PARAMS = frozenset({"limit", "start_time", "end_time"})
# How many recorded combinations a 400 answer lists: enough to spot a typo, short enough to read.
MAX_LISTED = 20

ParamKey = frozenset[tuple[str, str]]


def param_str(value: Any) -> str:
    """Query-string spelling of a manifest param value (manifests may hold ints or booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def param_key(params: Mapping[str, str]) -> ParamKey:
    return frozenset((k, v) for k, v in params.items() if k not in PAGING_PARAMS)


def format_params(params: Mapping[str, str]) -> str:
    return "&".join(f"{k}={params[k]}" for k in sorted(params)) or "(no params)"


@dataclass(frozen=True)
class Recording:
    """One recorded response: a file of the folder and the request it answers."""

    file: str
    endpoint: str
    params: Mapping[str, str]
    time_field: str | None
    code: str
    msg: str | None
    data: Any
    aliases: frozenset[str] = frozenset()
    synthetic: bool = False
    entry: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    series: SortedSeries | None = field(default=None, repr=False, compare=False)

    @property
    def is_time_series(self) -> bool:
        return self.series is not None


class LookupFailed(Exception):
    """A request no recording answers; ``status`` is the HTTP status to answer with."""

    status = 400


class UnknownEndpoint(LookupFailed):
    status = 404


class UnknownSymbol(LookupFailed):
    status = 404


class UnrecordedParams(LookupFailed):
    status = 400

    def __init__(self, message: str, recorded: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.recorded = recorded


def _load_recording(data_dir: Path, entry: Mapping[str, Any]) -> Recording:
    try:
        file, endpoint = str(entry["file"]), str(entry["endpoint"])
    except KeyError as exc:
        raise ValueError(f"manifest entry without {exc.args[0]!r}: {dict(entry)}") from None
    path = data_dir / file
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: listed in manifest.json but missing") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    # A file is normally a whole envelope; a bare payload is tolerated and wrapped.
    if isinstance(body, dict) and "code" in body and ("data" in body or "msg" in body):
        code, msg, data = str(body["code"]), body.get("msg"), body.get("data")
    else:
        code, msg, data = "0", "success", body
    params = {str(k): param_str(v) for k, v in dict(entry.get("params") or {}).items() if v is not None}
    params = {k: v for k, v in params.items() if k not in PAGING_PARAMS}
    time_field = entry.get("time_field")
    series = (
        sort_series(data, str(time_field)) if time_field and isinstance(data, list) and code == "0" else None
    )
    return Recording(
        file=file,
        endpoint=endpoint,
        params=params,
        time_field=str(time_field) if time_field else None,
        code=code,
        msg=None if msg is None else str(msg),
        data=data,
        aliases=frozenset(str(a) for a in entry.get("symbol_aliases") or ()),
        synthetic=bool(entry.get("synthetic", False)),
        entry=dict(entry),
        series=series,
    )


class RecordingIndex:
    """All recordings of a folder, keyed by (endpoint, frozenset of non-paging params)."""

    def __init__(self, recordings: Iterable[Recording], manifest: Mapping[str, Any] | None = None) -> None:
        self.manifest: Mapping[str, Any] = manifest or {}
        self.recordings: list[Recording] = list(recordings)
        self._exact: dict[tuple[str, ParamKey], Recording] = {}
        self._alias: dict[tuple[str, ParamKey], Recording] = {}
        self._by_endpoint: dict[str, list[Recording]] = {}
        self._symbols: dict[str, set[str]] = {}
        for rec in self.recordings:
            key = (rec.endpoint, param_key(rec.params))
            if key in self._exact:
                # Two answers to one request would make replays depend on manifest order.
                raise ValueError(
                    f"{rec.file} and {self._exact[key].file} both answer "
                    f"{rec.endpoint}?{format_params(rec.params)}"
                )
            self._exact[key] = rec
            self._by_endpoint.setdefault(rec.endpoint, []).append(rec)
            if "symbol" in rec.params:
                self._symbols.setdefault(rec.endpoint, set()).update({rec.params["symbol"], *rec.aliases})
        for rec in self.recordings:
            if "symbol" not in rec.params:
                continue
            for alias in sorted(rec.aliases):
                key = (rec.endpoint, param_key({**rec.params, "symbol": alias}))
                # An exact recording always beats an alias; between aliases the first entry wins.
                if key not in self._exact:
                    self._alias.setdefault(key, rec)

    @classmethod
    def from_dir(cls, data_dir: Path | str) -> RecordingIndex:
        data_dir = Path(data_dir)
        manifest_path = data_dir / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"{manifest_path}: no manifest.json in the recordings folder") from None
        files = manifest.get("files") if isinstance(manifest, dict) else None
        if not isinstance(files, list):
            raise ValueError(f"{manifest_path}: expected an object with a 'files' list")
        return cls((_load_recording(data_dir, entry) for entry in files), manifest)

    @property
    def endpoints(self) -> list[str]:
        return sorted(self._by_endpoint)

    def for_endpoint(self, endpoint: str) -> list[Recording]:
        return list(self._by_endpoint.get(endpoint, ()))

    def lookup(self, endpoint: str, params: Mapping[str, str]) -> Recording:
        """The recording answering ``endpoint`` with ``params`` (paging params ignored)."""
        recs = self._by_endpoint.get(endpoint)
        if not recs:
            raise UnknownEndpoint(f"unknown endpoint {endpoint}")
        key = (endpoint, param_key(params))
        found = self._exact.get(key) or self._alias.get(key)
        if found is not None:
            return found
        symbol = params.get("symbol")
        known = self._symbols.get(endpoint, set())
        if symbol is not None and known and symbol not in known:
            raise UnknownSymbol(f"symbol {symbol} not supported by {endpoint}")
        # List the recordings closest to what was asked: same symbol first, else all of the endpoint.
        near = [r for r in recs if symbol is not None and symbol in {r.params.get("symbol"), *r.aliases}]
        listed = [dict(r.params) for r in (near or recs)][:MAX_LISTED]
        wanted = {k: v for k, v in params.items() if k not in PAGING_PARAMS}
        message = f"no recording of {endpoint} for {format_params(wanted)}; recorded: " + "; ".join(
            format_params(p) for p in listed
        )
        raise UnrecordedParams(message, listed)


_CACHE_SIZE = 8
_cache: dict[tuple[Path, tuple[tuple[str, int, int], ...]], RecordingIndex] = {}
_cache_lock = threading.Lock()


def _fingerprint(data_dir: Path) -> tuple[tuple[str, int, int], ...]:
    stats = ((p.name, p.stat()) for p in sorted(data_dir.iterdir()) if p.suffix == ".json")
    return tuple((name, st.st_mtime_ns, st.st_size) for name, st in stats)


def load_index(data_dir: Path | str) -> RecordingIndex:
    """RecordingIndex.from_dir, shared between servers of one process while the folder is unchanged.

    Indexes are read-only once built, so sharing is safe; it saves re-parsing megabytes of
    JSON for every server a test suite starts.
    """
    data_dir = Path(data_dir).resolve()
    if not data_dir.is_dir():
        raise ValueError(f"{data_dir}: not a folder")
    key = (data_dir, _fingerprint(data_dir))
    with _cache_lock:
        found = _cache.get(key)
    if found is not None:
        return found
    index = RecordingIndex.from_dir(data_dir)
    with _cache_lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[key] = index
    return index


def recordings_end(folder: Path, index: RecordingIndex | None = None) -> datetime:
    """When every recorded bar has closed: the replay clock starts here, so a first backfill of
    `history_days` reaches into the recordings whatever their dates."""
    end_ms = 0
    index = index or load_index(folder)
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
    return from_epoch_ms(end_ms)
