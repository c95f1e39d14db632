"""The `sniper` console script leaves without Python's slow finalization, losing nothing."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from sniper_pipeline import cli

# A command that prints (buffered: stdout is a pipe), registers an exit handler, and fails.
_SCRIPT = """
import atexit, sys
from sniper_pipeline import cli

def command(argv=None):
    print("summary line")
    sys.stderr.write("progress line\\n")
    atexit.register(lambda: print("exit handler ran"))
    return 7

cli.main = command
cli.entry()
"""


def test_entry_flushes_runs_exit_handlers_and_keeps_the_exit_code() -> None:
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 7
    assert done.stdout.splitlines() == ["summary line", "exit handler ran"]
    assert done.stderr == "progress line\n"


def test_entry_exits_normally_while_a_non_daemon_thread_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    worker = threading.Thread(target=time.sleep, args=(0.2,))

    def command(argv: object = None) -> int:
        worker.start()
        return 3

    monkeypatch.setattr(cli, "main", command)
    # os._exit would end this test process; the normal exit raises SystemExit and waits.
    with pytest.raises(SystemExit) as exited:
        cli.entry()
    assert exited.value.code == 3
    worker.join()
