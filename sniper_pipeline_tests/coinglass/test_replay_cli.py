"""``python -m sniper_pipeline.replay`` / ``serve_main``: the command line."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import requests

from sniper_pipeline.replay.cli import build_parser, parse_now, serve_main
from sniper_pipeline_tests.coinglass.conftest import REPO_ROOT, SYNTHETIC_ENDPOINTS_DIR, TEST_KEY


def test_module_serves_until_sigterm() -> None:
    cmd = [
        sys.executable,
        "-m",
        "sniper_pipeline.replay",
        "serve",
        "--data-dir",
        str(SYNTHETIC_ENDPOINTS_DIR),
        "--now",
        "2025-05-18T00:00:00Z",
        "--speed",
        "0",
        "--faults",
        "503:1",
        "--rate-limit",
        "50",
        "--rate-window",
        "10",
    ]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        if not base_url.startswith("http://127.0.0.1:"):
            proc.kill()
            pytest.fail(
                f"no base URL on stdout: {base_url!r}; stderr: {proc.communicate(timeout=10)[1][-2000:]}"
            )
        url = base_url + "/api/futures/supported-coins"
        assert requests.get(url, headers={"CG-API-KEY": TEST_KEY}, timeout=5).status_code == 503
        r = requests.get(url, headers={"CG-API-KEY": TEST_KEY}, timeout=5)
        assert r.status_code == 200 and "BTC" in r.json()["data"]
        assert r.headers["Date"] == "Sun, 18 May 2025 00:00:00 GMT"
        assert r.headers["API-KEY-MAX-LIMIT"] == "50"
        # SIGUSR1 prints the threads' stacks and the server goes on serving.
        proc.send_signal(signal.SIGUSR1)
        assert requests.get(url, headers={"CG-API-KEY": TEST_KEY}, timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert TEST_KEY not in err
    assert "GET /api/futures/supported-coins -> 200" in err  # access log on by default in the CLI
    assert "most recent call first" in err and "serve_forever" in err  # the SIGUSR1 stack dump


@pytest.mark.parametrize(
    "argv",
    [
        ["--data-dir", str(SYNTHETIC_ENDPOINTS_DIR), "--faults", "bogus:1"],
        ["--data-dir", str(SYNTHETIC_ENDPOINTS_DIR), "--rate-limit", "0"],
        ["--data-dir", str(SYNTHETIC_ENDPOINTS_DIR), "--speed", "-1"],
        ["--data-dir", "/no/such/folder"],
    ],
)
def test_bad_options_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert serve_main(argv) == 2
    assert "sniper replay serve:" in capsys.readouterr().err


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as info:
        serve_main(["--now", "not-a-time"])
    assert info.value.code == 2


def test_parse_now() -> None:
    want = datetime(2025, 5, 10, tzinfo=UTC)
    assert parse_now("2025-05-10T00:00:00Z") == want
    assert parse_now("2025-05-10T02:00:00+02:00") == want
    assert parse_now("2025-05-10") == want  # naive = UTC
    assert parse_now(str(int(want.timestamp() * 1000))) == want


def test_help_documents_every_option() -> None:
    text = build_parser().format_help()
    for option in ("--data-dir", "--port", "--now", "--speed", "--faults", "--rate-limit", "--rate-window"):
        assert option in text
