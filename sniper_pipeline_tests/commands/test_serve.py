"""`sniper serve` stops its whole process tree on SIGINT/SIGTERM, and its replay clock options.

The expensive test starts the real `sniper serve` (dagster dev, webserver, daemon, code servers)
once, with SIGTERM; SIGINT, the SIGKILL after the grace period and a process that left the group
are covered by `supervise` over a small tree of plain Python processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sniper_pipeline import cli
from sniper_pipeline.commands import environment
from sniper_pipeline.commands.serve import KILL_WAIT_S, session_pids, supervise
from sniper_pipeline_tests.conftest import free_port

SNIPER = str(Path(sys.executable).with_name("sniper"))
STOP_BUDGET_S = 10.0  # the limit, from the signal to the last process gone

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")


def _alive(pid: int) -> bool:
    """Running, i.e. not gone and not a zombie (an exited orphan waits for init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = entry.joinpath("stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _wait_all_gone(pids: set[int], sessions: set[int], budget_s: float) -> tuple[float, set[int]]:
    """Seconds until none of `pids` and no process of `sessions` runs, or the leftovers."""
    start = time.monotonic()
    left: set[int] = set()
    while time.monotonic() - start < budget_s:
        left = {p for p in pids if _alive(p)}
        for sid in sessions:
            left |= session_pids(sid) or set()
        if not left:
            return time.monotonic() - start, set()
        time.sleep(0.05)
    return time.monotonic() - start, left


def _kill_all(pids: set[int], sessions: set[int]) -> None:
    """Test clean-up of processes this test started, whatever happened."""
    for sid in sessions:
        for pid in session_pids(sid) or set():
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    for pid in pids:
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


# A child that starts two grandchildren: one ignoring SIGINT and SIGTERM (only SIGKILL ends it),
# one in a process group of its own (a group signal misses it). Each says when it is ready.
TREE = """
import os, signal, subprocess, sys, time
stubborn = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "signal.signal(signal.SIGINT, signal.SIG_IGN); print('ready', flush=True); time.sleep(600)")
own_group = "import os, time; os.setpgid(0, 0); print('ready', flush=True); time.sleep(600)"
kids = [subprocess.Popen([sys.executable, "-c", code]) for code in (stubborn, own_group)]
print("tree", os.getpid(), *(k.pid for k in kids), flush=True)
time.sleep(600)
"""
SUPERVISOR = """
import sys
from sniper_pipeline.commands.serve import supervise
sys.exit(supervise([sys.executable, "-c", sys.argv[1]], grace_s=float(sys.argv[2])))
"""


def _readies(lines: list[list[str]]) -> int:
    return sum(" ".join(line).count("ready") for line in lines)


def test_supervise_stops_the_whole_session_on_sigint() -> None:
    grace = 1.0
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, TREE, str(grace)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    pids: set[int] = {supervisor.pid}
    sessions: set[int] = set()
    try:
        assert supervisor.stdout is not None
        # The grandchildren print at the same moment: their lines may interleave on the pipe.
        lines: list[list[str]] = []
        while not (any(line[:1] == ["tree"] for line in lines) and _readies(lines) >= 2):
            line = supervisor.stdout.readline()
            assert line, f"the tree ended early: {lines}"
            lines.append(line.split())
        [tree] = [line for line in lines if line[:1] == ["tree"]]
        assert _readies(lines) == 2, lines
        child, *grandchildren = (int(p) for p in tree[1:])
        pids |= {child, *grandchildren}
        sessions.add(child)
        assert os.getsid(child) == child != os.getsid(supervisor.pid)  # a session of its own
        assert all(os.getsid(p) == child for p in grandchildren)

        supervisor.send_signal(signal.SIGINT)
        elapsed, left = _wait_all_gone(pids, sessions, grace + KILL_WAIT_S + 3)
        assert not left, f"still running: {left}"
        # The stubborn grandchild needed the SIGKILL after the grace period.
        assert grace <= elapsed < grace + KILL_WAIT_S + 3
        assert supervisor.wait(timeout=5) == 0
    finally:
        _kill_all(pids, sessions)


def test_supervise_clears_what_the_child_leaves_behind(tmp_path: Path) -> None:
    """dagster dev dying on its own must not leave its webserver and daemon running."""
    pid_file = tmp_path / "orphan.pid"
    orphan_maker = (
        "import pathlib, subprocess, sys; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
        f"pathlib.Path({str(pid_file)!r}).write_text(str(p.pid)); sys.exit(3)"
    )
    started = time.monotonic()
    code = supervise([sys.executable, "-c", orphan_maker], grace_s=2.0)
    orphan = int(pid_file.read_text())
    try:
        assert code == 1
        assert not _alive(orphan)
        assert time.monotonic() - started < 10
    finally:
        _kill_all({orphan}, set())


def test_api_environment_passes_the_replay_clock(project_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sniper_pipeline.replay import server as replay

    seen: dict[str, Any] = {}

    class Recording(replay.ReplayServer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            seen.update(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(replay, "ReplayServer", Recording)
    start = datetime(2025, 5, 1, tzinfo=UTC)
    with environment.api_environment(live=False, replay_dir=None, now=start, speed=60.0):
        assert seen["now"] == start and seen["speed"] == 60.0
    seen.clear()
    with environment.api_environment(live=False, replay_dir=None):
        # Today's behaviour: the end of the recordings, real time.
        assert seen["now"] > datetime(2025, 1, 1, tzinfo=UTC) and seen["speed"] == 1.0


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["serve", "--live", "--now", "2025-05-01"], "--now and --speed set the replay clock"),
        (["serve", "--speed", "-2"], "--speed: -2.0 is not between 0"),
        (["serve", "--speed", "nan"], "--speed: nan is not between 0"),
    ],
)
def test_serve_refuses_a_bad_clock(
    project_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    fragment: str,
) -> None:
    monkeypatch.setenv("CG_API_KEY", "k")
    assert cli.main(argv) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("sniper serve: ") and fragment in line


def _get(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.mark.slow
def test_sniper_serve_stops_its_whole_tree_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "SNIPER_DATA_DIR": str(tmp_path / "data"),
        "SNIPER_REPORTS_DIR": str(tmp_path / "reports"),
    }
    for var in ("SNIPER_WAREHOUSE_URL", "CG_BASE_URL", "SNIPER_PROFILE", "SNIPER_REPLAY_DIR", "CG_API_KEY"):
        env.pop(var, None)
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [SNIPER, "serve", "--port", str(port), "--now", "2025-05-10T00:00:00Z", "--speed", "60"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the test's own group and session: nothing else in it
        )
    pids: set[int] = {proc.pid}
    sessions: set[int] = {proc.pid}
    try:
        deadline = time.monotonic() + 180
        while not _get(f"http://127.0.0.1:{port}/server_info"):
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        [dagster_dev] = _children(proc.pid)
        sessions.add(dagster_dev)
        # dagster dev, webserver, daemon and code servers: the tree to stop.
        while len(session_pids(dagster_dev) or ()) < 4 and time.monotonic() < deadline:
            time.sleep(0.5)
        tree = session_pids(dagster_dev) or set()
        assert len(tree) >= 4, tree
        pids |= tree
        assert "(clock from 2025-05-10T00:00:00+00:00 at x60)" in log.read_text()

        proc.send_signal(signal.SIGTERM)  # to the sniper process alone
        elapsed, left = _wait_all_gone(pids, sessions, STOP_BUDGET_S)
        assert not left, f"still running after {elapsed:.1f} s: {left}\n{log.read_text()[-3000:]}"
        assert proc.wait(timeout=1) == 0
    finally:
        _kill_all(pids, sessions)
