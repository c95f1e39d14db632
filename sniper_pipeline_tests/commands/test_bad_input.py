"""Bad input ends a command with one line on stderr and exit code 2, before anything runs:
a bad SNIPER_WAREHOUSE_URL, a missing or corrupt recording, a bad `--for`, an unknown coin,
and a second `sniper run` on a warehouse another run holds.

For `sniper run`, a tripwire stands in for `api_environment`: the checks must come before it.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from sniper_pipeline import cli
from sniper_pipeline.commands import environment
from sniper_pipeline.commands.environment import UsageError
from sniper_pipeline.commands.preflight import CoinWithoutDataError, UnknownCoinError, preflight_run
from sniper_pipeline.delivery.mutes import MAX_MUTE_DURATION, parse_duration
from sniper_pipeline.replay.sample import sample_dir
from sniper_pipeline.settings.errors import ConfigError
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.run_lock import WarehouseBusyError, lock_path, warehouse_run_lock
from sniper_pipeline.warehouse.tables import coin_layer_sources
from sniper_pipeline.warehouse.url import WarehouseUrlError, warehouse_location

Hold = Callable[[str], "subprocess.Popen[str]"]


def one_line(err: str) -> str:
    """The single line a refused command printed (no traceback, no second line)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def refused(argv: list[str], capsys: pytest.CaptureFixture[str], code: int = 2) -> str:
    assert cli.main(argv) == code
    return one_line(capsys.readouterr().err)


def bad_urls(tmp_path: Path) -> list[tuple[str, str]]:
    """(SNIPER_WAREHOUSE_URL, what the line must say) for each kind of bad URL."""
    (tmp_path / "a-file").write_text("")
    return [
        ("mysql://u:secretpw@h/db", "unsupported backend 'mysql'"),
        ("not a url", "not a database URL"),
        ("duckdb://", "needs a file path"),
        (f"duckdb:///{tmp_path / 'no-such-folder' / 'w.duckdb'}", "does not exist"),
        (f"duckdb:///{tmp_path / 'a-file' / 'w.duckdb'}", "is not a folder"),
        ("duckdb:////proc/sniper-w.duckdb", "cannot create files in /proc"),  # unwritable, even as root
    ]


@pytest.fixture
def tripwire(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a command gets as far as setting up its API environment."""

    def reached(**_: object) -> Iterator[str]:
        raise AssertionError("api_environment reached: the checks must come first")

    import sniper_pipeline.commands.run as run_module
    import sniper_pipeline.commands.serve as serve_module

    for module in (environment, run_module, serve_module):
        monkeypatch.setattr(module, "api_environment", reached, raising=False)


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    """A writable copy of the shipped recordings, to break."""
    return Path(shutil.copytree(sample_dir(), tmp_path / "recordings"))


# --- the warehouse URL -----------------------------------------------------------------------


def test_bad_warehouse_urls(project_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for url, fragment in bad_urls(project_env):
        monkeypatch.setenv("SNIPER_WAREHOUSE_URL", url)
        with pytest.raises(WarehouseUrlError, match="SNIPER_WAREHOUSE_URL") as caught:
            warehouse_location().check_writable()
        message = str(caught.value)
        assert fragment in message and "secretpw" not in message and "\n" not in message
        # Still a ValueError for callers that caught that (sniper report).
        assert isinstance(caught.value, ValueError)


def test_the_default_warehouse_folder_is_created(project_env: Path) -> None:
    location = warehouse_location()
    location.check_writable()
    assert location.duckdb_path == (project_env / "data" / "sniper.duckdb").resolve()


@pytest.mark.parametrize(
    "argv",
    [["mute", "--for", "2h"], ["unmute"], ["signals", "--coin", "BTC"], ["config", "generate", "BTC"]],
    ids=lambda argv: argv[0],
)
def test_commands_refuse_a_bad_warehouse_url(
    project_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    for url, fragment in bad_urls(project_env):
        monkeypatch.setenv("SNIPER_WAREHOUSE_URL", url)
        line = refused(argv, capsys)
        assert line.startswith(f"sniper {argv[0]}") and fragment in line and "secretpw" not in line


def test_serve_refuses_a_bad_warehouse_url(
    project_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tripwire: None
) -> None:
    monkeypatch.setenv("SNIPER_WAREHOUSE_URL", f"duckdb:///{project_env / 'nowhere' / 'w.duckdb'}")
    assert "does not exist" in refused(["serve"], capsys)


# --- recordings -------------------------------------------------------------------------------


def _break_first_file(folder: Path, how: str) -> str:
    manifest = json.loads((folder / "manifest.json").read_text())
    name = manifest["files"][0]["file"]
    if how == "missing":
        (folder / name).unlink()
    else:
        (folder / name).write_text('{"code": "0", "data": [')
    return str(name)


@pytest.mark.parametrize(
    ("how", "fragment"), [("missing", "listed in manifest.json but missing"), ("corrupt", "not JSON")]
)
def test_preflight_refuses_broken_recordings(
    project_env: Path, recordings: Path, how: str, fragment: str
) -> None:
    name = _break_first_file(recordings, how)
    with pytest.raises(ConfigError) as caught:
        preflight_run(live=False, replay_dir=recordings, coins=None)
    assert name in str(caught.value) and fragment in str(caught.value) and "\n" not in str(caught.value)


def test_preflight_refuses_a_folder_without_a_readable_manifest(project_env: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no-such-folder is not a folder"):
        preflight_run(live=False, replay_dir=tmp_path / "no-such-folder", coins=None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"has no manifest\.json"):
        preflight_run(live=False, replay_dir=tmp_path / "empty", coins=None)
    (tmp_path / "empty" / "manifest.json").write_text("{files: ")
    with pytest.raises(ConfigError, match=r"manifest.json: not JSON"):
        preflight_run(live=False, replay_dir=tmp_path / "empty", coins=None)


@pytest.mark.parametrize("command", ["run", "health"])
def test_commands_refuse_broken_recordings(
    project_env: Path, recordings: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """Refused in api_environment already: before any server or job starts."""
    name = _break_first_file(recordings, "corrupt")
    line = refused([command, "--replay-dir", str(recordings)], capsys)
    assert line.startswith(f"sniper {command}: ") and name in line and "not JSON" in line


# --- coins ------------------------------------------------------------------------------------


def test_preflight_accepts_the_sample(project_env: Path) -> None:
    checked = preflight_run(live=False, replay_dir=None, coins=None)
    assert checked.coins is None and checked.replay_dir == sample_dir()
    assert {"BTC", "ETH"} <= set(checked.coins_with_data)
    assert checked.warehouse.duckdb_path.parent == (project_env / "data").resolve()
    again = preflight_run(live=False, replay_dir=None, coins=["btc", " BTC ", "eth"])
    assert again.coins == ["BTC", "ETH"]


def test_preflight_tells_unknown_coins_from_coins_without_data(project_env: Path) -> None:
    with pytest.raises(UnknownCoinError) as unknown:
        preflight_run(live=False, replay_dir=None, coins=["BTC", "FOO"])
    assert "unknown coin 'FOO'" in str(unknown.value) and "configured: " in str(unknown.value)
    # DOGE is in coins.yaml but the sample has no recordings of it.
    with pytest.raises(CoinWithoutDataError) as without:
        preflight_run(live=False, replay_dir=None, coins=["DOGE"])
    assert "DOGE is configured but has no data in the recordings" in str(without.value)
    assert "coins with data: BTC" in str(without.value)
    # A symbol of a configured coin names the coin (POL is MATIC's).
    with pytest.raises(CoinWithoutDataError, match="MATIC is configured"):
        preflight_run(live=False, replay_dir=None, coins=["pol"])
    # Both at once: one line, the unknown coin first.
    with pytest.raises(UnknownCoinError) as both:
        preflight_run(live=False, replay_dir=None, coins=["DOGE", "FOO"])
    assert str(both.value).index("'FOO'") < str(both.value).index("DOGE") and "\n" not in str(both.value)


def test_preflight_live(project_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CG_API_KEY", raising=False)
    with pytest.raises(UsageError, match="CG_API_KEY"):
        preflight_run(live=True, replay_dir=None, coins=None)
    monkeypatch.setenv("CG_API_KEY", "k")
    with pytest.raises(UsageError, match="exclude each other"):
        preflight_run(live=True, replay_dir=sample_dir(), coins=None)
    checked = preflight_run(live=True, replay_dir=None, coins=["doge"])
    assert checked.coins == ["DOGE"] and checked.replay_dir is None  # live: every configured coin
    with pytest.raises(UnknownCoinError):
        preflight_run(live=True, replay_dir=None, coins=["FOO"])


def test_mute_tells_unknown_coins_from_coins_without_data(
    project_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused(["mute", "--coin", "FOO", "--for", "2h"], capsys)
    assert line.startswith("sniper mute: --coin: unknown coin 'FOO'") and "configured: " in line
    # A configured coin without data yet can be muted: its first alerts are what to hold.
    assert cli.main(["mute", "--coin", "doge", "--for", "2h"]) == 0
    assert "muted DOGE until" in capsys.readouterr().out
    assert cli.main(["mute", "--coin", "pol", "--for", "2h"]) == 0
    assert "muted MATIC until" in capsys.readouterr().out


@pytest.mark.parametrize(
    "duration",
    ["0m", "0", "=-2h", "soon", "2x", "31d", "5w", "99999999999w"],
)
def test_mute_refuses_a_bad_duration(
    project_env: Path, capsys: pytest.CaptureFixture[str], duration: str
) -> None:
    # "=-2h": `--for=-2h`, as argparse reads a bare `-2h` as an option.
    argv = ["mute", f"--for{duration}"] if duration.startswith("=") else ["mute", "--for", duration]
    assert refused(argv, capsys).startswith("sniper mute: --for: ")
    assert not (project_env / "data" / "sniper.duckdb").exists()  # refused before the warehouse


def test_the_mute_limit() -> None:
    assert parse_duration("30d", maximum=MAX_MUTE_DURATION) == timedelta(days=30)
    with pytest.raises(ValueError, match="30-day limit"):
        parse_duration("30d1s", maximum=MAX_MUTE_DURATION)
    with pytest.raises(ValueError, match="positive"):
        parse_duration("-2h")


@pytest.mark.parametrize(
    ("argv", "table"),
    [(["signals", "--coin"], "layer_signals"), (["config", "generate"], "fct_layer_bars")],
    ids=["signals", "config"],
)
def test_signals_and_config_tell_unknown_coins_from_coins_without_data(
    project_env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], table: str
) -> None:
    command = " ".join(argv[:2]) if argv[0] == "config" else "signals"
    line = refused([*argv, "FOO"], capsys)
    assert line.startswith(f"sniper {command}: ") and "unknown coin 'FOO'" in line
    # Configured, nothing stored yet: exit 1 (a run is missing, not a typo), and it says so.
    line = refused([*argv, "doge"], capsys, code=1)
    assert f"DOGE is configured but has no data in {table}" in line and "sniper run" in line
    # A coin the warehouse knows (scored from recordings, absent from coins.yaml) is not a typo.
    engine = make_engine()
    with engine.begin() as conn:
        conn.execute(
            coin_layer_sources.insert().values(
                coin="HYPE",
                layer="funding",
                source_key="x",
                interval="4h",
                grid_interval="4h",
                chosen_at=datetime(2025, 5, 1),
            )
        )
    engine.dispose()
    line = refused([*argv, "hype"], capsys, code=1)
    assert f"HYPE has no data in {table}" in line


def test_signals_refuses_a_negative_limit(project_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "--limit" in refused(["signals", "--coin", "BTC", "--limit", "-3"], capsys)


# --- the run lock -----------------------------------------------------------------------------

HOLDER = """
import sys
from sniper_pipeline.warehouse.run_lock import warehouse_run_lock
from sniper_pipeline.warehouse.url import warehouse_location
with warehouse_run_lock(warehouse_location(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def hold_lock() -> Iterator[Hold]:
    """hold(url) -> the process holding that warehouse's run lock until the test ends."""
    procs: list[subprocess.Popen[str]] = []

    def hold(url: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        return proc

    yield hold
    for proc in procs:
        proc.kill()
        proc.wait()


def _lock_cycle(url: str, hold_lock: Hold) -> None:
    location = warehouse_location(url)
    with warehouse_run_lock(location):
        pass  # free: taken and given back
    holder = hold_lock(url)
    started = time.monotonic()
    with pytest.raises(WarehouseBusyError) as caught, warehouse_run_lock(location):
        pytest.fail("entered a held lock")
    assert time.monotonic() - started < 5  # refused at once, not queued
    assert "another `sniper run` is using the warehouse" in str(caught.value)
    assert "\n" not in str(caught.value)
    # A holder killed outright leaves no stale lock.
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with warehouse_run_lock(location):
        pass


def test_run_lock_duckdb(tmp_path: Path, hold_lock: Hold) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    _lock_cycle(url, hold_lock)
    assert lock_path(warehouse_location(url)) == tmp_path / "w.duckdb.run.lock"


def test_run_lock_names_the_holder(tmp_path: Path, hold_lock: Hold) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    holder = hold_lock(url)
    with (
        pytest.raises(WarehouseBusyError, match=f"pid {holder.pid}"),
        warehouse_run_lock(warehouse_location(url)),
    ):
        pass


@pytest.mark.postgres
def test_run_lock_postgres(pg_url: str, hold_lock: Hold) -> None:
    _lock_cycle(pg_url, hold_lock)


def test_run_lock_postgres_unreachable() -> None:
    location = warehouse_location("postgresql+psycopg://u:secretpw@127.0.0.1:9/db")
    with pytest.raises(WarehouseUrlError, match="cannot connect") as caught, warehouse_run_lock(location):
        pass
    assert "secretpw" not in str(caught.value)


# --- `sniper run` (the lead wires preflight_run and warehouse_run_lock into run.py) -------------


def test_second_run_is_refused(
    project_env: Path, capsys: pytest.CaptureFixture[str], tripwire: None, hold_lock: Hold
) -> None:
    location = warehouse_location()
    hold_lock(location.url.render_as_string(hide_password=False))
    started = time.monotonic()
    line = refused(["run"], capsys)
    assert time.monotonic() - started < 10
    assert line.startswith("sniper run: another `sniper run` is using the warehouse")
    assert not location.duckdb_path.exists()  # nothing partial: the warehouse was not opened


def test_run_refuses_a_bad_warehouse_url(
    project_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tripwire: None
) -> None:
    for url, fragment in bad_urls(project_env):
        monkeypatch.setenv("SNIPER_WAREHOUSE_URL", url)
        line = refused(["run"], capsys)
        assert line.startswith("sniper run: ") and fragment in line and "secretpw" not in line


def test_run_refuses_unknown_coins(
    project_env: Path, capsys: pytest.CaptureFixture[str], tripwire: None
) -> None:
    assert "unknown coin 'FOO'" in refused(["run", "--coin", "FOO"], capsys)
    assert "DOGE is configured but has no data" in refused(["run", "--coin", "DOGE"], capsys)
