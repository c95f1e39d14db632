"""The replay server against ``replay_conformance.py`` (design.md section 7), folder by folder.

The tool lives in the team's shared folder (``../shared/tools``), absent from a fresh
clone; ``$SNIPER_CONFORMANCE_TOOL`` may point at a copy. Without it the shipped-sample
and synthetic checks still run, against ``builtin_conformance`` below, which checks the
same unambiguous cases the tool's docstring lists.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from sniper_pipeline.replay.server import ReplayServer
from sniper_pipeline_tests.coinglass.conftest import (
    REPO_ROOT,
    SHARED_DIR,
    SHARED_REAL_DIR,
    SYNTHETIC_DRIFT_DIR,
    SYNTHETIC_ENDPOINTS_DIR,
    ReplayFactory,
)

CLOSING = re.compile(r"^(\d+) passed, (\d+) failed$")


def conformance_tool() -> Path | None:
    env = os.environ.get("SNIPER_CONFORMANCE_TOOL")
    candidates = [Path(env)] if env else []
    candidates += [
        REPO_ROOT / "tools" / "replay_conformance.py",
        SHARED_DIR / "tools" / "replay_conformance.py",
    ]
    return next((c for c in candidates if c.is_file()), None)


def run_tool(tool: Path, base_url: str, data_dir: Path) -> tuple[int, list[str]]:
    proc = subprocess.run(
        [sys.executable, str(tool), "--base-url", base_url, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, (proc.stdout + proc.stderr).strip().splitlines()


def builtin_conformance(base_url: str, data_dir: Path) -> list[str]:
    """Failures of the plain, limit, end_time and window checks plus the two refusals."""
    failures: list[str] = []

    def fetch(endpoint: str, params: dict[str, Any], key: str | None = "conformance") -> tuple[int, Any]:
        headers = {"CG-API-KEY": key} if key else {}
        r = requests.get(base_url + endpoint, params=params, headers=headers, timeout=30)
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, None

    manifest = json.loads((data_dir / "manifest.json").read_text())
    for entry in manifest["files"]:
        ep, params, tf = entry["endpoint"], dict(entry["params"]), entry.get("time_field")
        data = json.loads((data_dir / entry["file"]).read_text())["data"]
        status, env = fetch(ep, params)
        if status != 200 or not isinstance(env, dict) or env.get("code") != "0":
            failures.append(f"{ep} {params}: plain -> {status}")
        if not tf or not isinstance(data, list) or len(data) < 20:
            continue
        rt = sorted(int(r[tf]) for r in data)
        u = sorted(set(rt))
        cases = [
            ({"limit": 5}, rt[-5:]),
            ({"end_time": u[-10], "limit": 5}, [t for t in rt if t <= u[-10]][-5:]),
            ({"start_time": u[-8], "end_time": u[-4]}, [t for t in rt if u[-8] <= t <= u[-4]]),
        ]
        for extra, want in cases:
            _, env = fetch(ep, {**params, **extra})
            got = [int(r[tf]) for r in env["data"]] if isinstance(env, dict) else None
            if got != want:
                failures.append(f"{ep} {params} {extra}: {got} != {want}")
    first = next(e for e in manifest["files"] if e.get("time_field") and "symbol" in e["params"])
    status, env = fetch(first["endpoint"], first["params"], key=None)
    if status != 401:
        failures.append(f"no key -> {status}")
    status, env = fetch(first["endpoint"], {**first["params"], "symbol": "NOSUCHCOIN"})
    if status < 400 and (not isinstance(env, dict) or env.get("code") == "0"):
        failures.append(f"unknown symbol -> {status}")
    return failures


def assert_conformant(base_url: str, data_dir: Path) -> None:
    tool = conformance_tool()
    if tool is None:
        assert builtin_conformance(base_url, data_dir) == []
        return
    code, lines = run_tool(tool, base_url, data_dir)
    assert lines, "conformance tool printed nothing"
    match = CLOSING.match(lines[-1])
    assert match, lines[-5:]
    assert code == 0 and match.group(2) == "0", "\n".join(lines[-20:])
    assert int(match.group(1)) > 0


def test_shipped_sample(replay_server: ReplayServer, sample_data_dir: Path) -> None:
    assert_conformant(replay_server.base_url, sample_data_dir)


@pytest.mark.parametrize("folder", [SYNTHETIC_ENDPOINTS_DIR, SYNTHETIC_DRIFT_DIR], ids=["endpoints", "drift"])
def test_synthetic_folders(replay_factory: ReplayFactory, folder: Path) -> None:
    assert_conformant(replay_factory(folder).base_url, folder)


def test_builtin_check_agrees_with_the_tool_on_the_sample(
    replay_server: ReplayServer, sample_data_dir: Path
) -> None:
    # Keeps the fallback honest: it must pass where the tool passes.
    assert builtin_conformance(replay_server.base_url, sample_data_dir) == []


@pytest.mark.skipif(not SHARED_REAL_DIR.is_dir(), reason="no ../shared/fixtures/coinglass-real")
def test_shared_real_folder_served_directly(replay_factory: ReplayFactory) -> None:
    assert_conformant(replay_factory(SHARED_REAL_DIR).base_url, SHARED_REAL_DIR)


def test_an_unrelated_folder(replay_factory: ReplayFactory, tmp_path: Path) -> None:
    """Other coin, interval, exchange list, time field and a dict snapshot: nothing sample-specific."""
    t0, step = 1_600_000_000_000, 15 * 60 * 1000
    rows = [{"ts": t0 + i * step, "v": str(i)} for i in range(60)]
    rows += [rows[30], rows[45]]  # duplicates
    files: list[tuple[dict[str, Any], dict[str, Any]]] = [
        (
            {
                "file": "doge.json",
                "endpoint": "/api/futures/some/history",
                "params": {"symbol": "DOGE", "interval": "15m", "exchange_list": "OKX,Bybit"},
                "time_field": "ts",
            },
            {"code": "0", "msg": "success", "data": rows[::-1]},
        ),
        (
            {"file": "snap.json", "endpoint": "/api/futures/snapshot", "params": {}, "time_field": None},
            {"code": "0", "msg": "success", "data": {"OKX": [1, 2]}},
        ),
    ]
    for entry, body in files:
        (tmp_path / str(entry["file"])).write_text(json.dumps(body))
    (tmp_path / "manifest.json").write_text(json.dumps({"files": [e for e, _ in files]}))
    assert_conformant(replay_factory(tmp_path).base_url, tmp_path)
