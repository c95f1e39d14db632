"""`sniper serve`: the Dagster UI and daemon (sensors and schedules on), replay or live.

`dagster dev` runs as a child in a session of its own, so its whole tree (webserver, daemon,
code servers, run workers) is one process group: on SIGINT or SIGTERM to `sniper serve` the
signal goes to that group, and whatever is still alive after GRACE_S is killed. The replay
server thread stops when `api_environment` exits, after the group is gone. The children get the
API (replay server URL, recordings) in their environment, from `Api.child_env`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from types import FrameType

from sniper_pipeline.commands.environment import api_environment, check_replay_clock
from sniper_pipeline.commands.preflight import checked_warehouse
from sniper_pipeline.settings.paths import project_dir

EXIT_OK, EXIT_FAILED = 0, 1
# SIGHUP too: in a session of its own the tree no longer gets the closing terminal's hang-up.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# The whole stop must fit in 10 s: a graceful part (dagster dev tells its children to stop and
# they close their storage), then SIGKILL and the reaping of the leader.
GRACE_S = 6.0
KILL_WAIT_S = 2.0
_POLL_S = 0.1


def serve_command(
    *,
    live: bool,
    replay_dir: Path | None,
    host: str,
    port: int,
    now: datetime | None = None,
    speed: float | None = None,
) -> int:
    check_replay_clock(live=live, now=now, speed=speed)
    # A bad SNIPER_WAREHOUSE_URL stops here, not in the daemon's first run an hour later.
    checked_warehouse()
    with api_environment(live=live, replay_dir=replay_dir, now=now, speed=speed) as api:
        rate = 1.0 if speed is None else speed
        clock = f" (clock from {now.isoformat()} at x{rate:g})" if now is not None else ""
        print(
            f"API: {'CoinGlass live' if live else api.base_url}{clock}; Dagster UI: http://{host}:{port}",
            flush=True,
        )
        # The children load the code location by module name: the API reaches them in their
        # environment (the only place the replay server's URL is handed on that way).
        env = api.child_env()
        _create_pool_limits(env)
        dagster = Path(sys.executable).with_name("dagster")
        cmd = [str(dagster), "dev", "-w", str(project_dir() / "workspace.yaml"), "-h", host, "-p", str(port)]
        return supervise(cmd, env=env)


def _create_pool_limits(env: Mapping[str, str]) -> None:
    """Before the daemon can start runs side by side (see defs/ops/pools.py). In a child process:
    loading the definitions here would leave helper processes in this one."""
    subprocess.run([sys.executable, "-m", "sniper_pipeline.commands.pools"], check=True, env=env)


def supervise(cmd: Sequence[str], *, env: Mapping[str, str] | None = None, grace_s: float = GRACE_S) -> int:
    """Run `cmd` (with `env`, default this process's environment) in a new session until it
    exits or this process gets SIGINT, SIGTERM or SIGHUP; either way no process of its session
    is left. 0 when stopped by a signal or when `cmd` exits 0, else 1."""
    received: list[int] = []
    wake = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        wake.set()

    # Installed before the child starts, so no signal falls between start and watch.
    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        # A new session: the terminal's Ctrl-C reaches only us, and we decide what the tree gets.
        child = subprocess.Popen(list(cmd), start_new_session=True, env=env)
        try:
            while child.poll() is None and not received:
                wake.wait(0.5)
        finally:
            # Also after the child's own exit (its children may outlive it) or an error here.
            # Ctrl-C is passed on as SIGINT; a hang-up, like the child's own exit, as SIGTERM.
            forward = signal.SIGINT if received[:1] == [signal.SIGINT] else signal.SIGTERM
            stop_session(child, forward, grace_s=grace_s)
        if received:
            return EXIT_OK
        return EXIT_OK if child.returncode == 0 else EXIT_FAILED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stop_session(child: subprocess.Popen[bytes], signum: int, *, grace_s: float = GRACE_S) -> None:
    """Send `signum` to the child's process group, wait up to `grace_s` for every process of its
    session to end, then SIGKILL what is left and reap the child."""
    sid = child.pid  # a session leader's pid is its session's and group's id
    if not session_alive(sid, child):
        return
    _signal_session(sid, signum)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not session_alive(sid, child):
            return
        time.sleep(_POLL_S)
    _signal_session(sid, signal.SIGKILL)
    deadline = time.monotonic() + KILL_WAIT_S
    while time.monotonic() < deadline and session_alive(sid, child):
        time.sleep(_POLL_S)


def _signal_session(sid: int, signum: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(sid, signum)
    # A process that moved to a group of its own stays in the session: signalled one by one.
    for pid in session_pids(sid) or ():
        with suppress(ProcessLookupError):
            if os.getpgid(pid) != sid:
                os.kill(pid, signum)


def session_alive(sid: int, child: subprocess.Popen[bytes]) -> bool:
    """Whether any process of the session still runs. The child is reaped here; exited
    grandchildren (zombies until init reaps them) do not count."""
    child.poll()
    pids = session_pids(sid)
    if pids is None:  # no /proc: the process group is what we can see
        try:
            os.killpg(sid, 0)
        except ProcessLookupError:
            return False
        return True
    return bool(pids)


def session_pids(sid: int) -> set[int] | None:
    """Live (not zombie) processes of session `sid`, from /proc; None where there is no /proc."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return None
    found = set()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        # "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.add(int(entry.name))
    return found
