"""`sniper run` end to end in a subprocess: real replay server, Dagster, GX, dbt, DuckDB."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sniper_pipeline import cli
from sniper_pipeline_tests.unseen import SHIFT_MS, build_unseen

SNIPER = str(Path(sys.executable).with_name("sniper"))
# A sentinel key: the replay server accepts any key, and this one must appear nowhere.
SENTINEL_KEY = "SENTINELkey" + uuid.uuid4().hex


def run_sniper(args: list[str], tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp / "dagster_home"),
        "SNIPER_DATA_DIR": str(tmp / "data"),
        "SNIPER_REPORTS_DIR": str(tmp / "reports"),
        **env,
    }
    for var in ("SNIPER_WAREHOUSE_URL", "CG_BASE_URL", "SNIPER_PROFILE", "SNIPER_REPLAY_DIR"):
        if var not in env:
            full_env.pop(var, None)
    return subprocess.run([SNIPER, *args], env=full_env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def unseen_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("run")
    folder = build_unseen(tmp / "recordings")
    done = run_sniper(["run", "--json", "--replay-dir", str(folder)], tmp, CG_API_KEY=SENTINEL_KEY)
    assert done.returncode == 0, done.stderr[-3000:]
    (tmp / "run.stdout").write_text(done.stdout)
    (tmp / "run.stderr").write_text(done.stderr)
    return tmp, folder, json.loads(done.stdout)


@pytest.mark.slow
def test_run_scores_a_coin_it_has_never_seen(unseen_run: tuple[Path, Path, dict[str, Any]]) -> None:
    _, _, summary = unseen_run
    hype = summary["coins"]["HYPE"]
    assert hype["extra"] and hype["grid_interval"] == "4h"
    layers = hype["layers"]
    assert layers["open_interest"]["bars"] == layers["liquidation"]["bars"] > 1000
    assert "exchange_list=OKX%2CBybit" in layers["liquidation"]["source"]
    assert layers["taker"]["interval"] == "1d" and layers["taker"]["bars"] > 100
    # Dates come from the recordings, not from the shipped sample.
    assert str(layers["liquidation"]["last_bar"]).startswith("2025-06-30")
    assert hype["scored_bars"] == layers["open_interest"]["bars"]
    # Configured coins without recordings are listed with every layer missing.
    assert summary["coins"]["BTC"]["missing_layers"] == ["funding", "open_interest", "liquidation", "taker"]
    assert summary["rows_new"] > 3000 and not summary["failed_runs"]


@pytest.mark.slow
def test_documented_unit_params_replay_with_their_units(
    unseen_run: tuple[Path, Path, dict[str, Any]],
) -> None:
    """The unseen folder asks aggregated OI and taker history with `unit=usd` (issue #15): both
    layers are stored with the unit they were asked in, and their values are the recorded ones."""
    import duckdb

    tmp, folder, summary = unseen_run
    layers = summary["coins"]["HYPE"]["layers"]
    assert "unit=usd" in layers["open_interest"]["source"] and "unit=usd" in layers["taker"]["source"]
    manifest = json.loads((folder / "manifest.json").read_text())
    [taker_file] = [f["file"] for f in manifest["files"] if "taker" in f["endpoint"]]
    recorded = {int(r["time"]): r for r in json.loads((folder / taker_file).read_text())["data"]}
    with duckdb.connect(str(tmp / "data" / "sniper.duckdb"), read_only=True) as conn:
        oi_units = conn.execute("select distinct unit from raw_open_interest").fetchall()
        taker = conn.execute(
            "select epoch_ms(ts), buy_volume, sell_volume, value_unit from raw_taker_volume"
        ).fetchall()
    assert oi_units == [("usd",)]
    assert {unit for *_, unit in taker} == {"usd"} and len(taker) == len(recorded)
    for ms, buy, sell, _ in taker:
        assert buy == pytest.approx(float(recorded[ms]["aggregated_buy_volume_usd"]))
        assert sell == pytest.approx(float(recorded[ms]["aggregated_sell_volume_usd"]))


@pytest.mark.slow
def test_second_run_adds_no_rows_and_verbose_brings_the_logs_back(
    unseen_run: tuple[Path, Path, dict[str, Any]],
) -> None:
    """A no-op re-run, with -v: Dagster's and dbt's logs on stderr instead of a new log file."""
    tmp, folder, _ = unseen_run
    logs = set((tmp / "data" / "logs").iterdir())
    again = run_sniper(["run", "-v", "--replay-dir", str(folder)], tmp)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "no new or changed rows" in again.stdout
    assert " - DEBUG - " in again.stderr and "STEP_START" in again.stderr
    assert not any(line.startswith("log: ") for line in again.stderr.splitlines())
    assert set((tmp / "data" / "logs").iterdir()) == logs


@pytest.mark.slow
def test_the_key_appears_nowhere(unseen_run: tuple[Path, Path, dict[str, Any]]) -> None:
    """Logs, Dagster storage (runs, event logs, compute logs), the warehouse and the report."""
    tmp, _, summary = unseen_run
    assert summary["report"], "the report was written"
    searched = 0
    for path in tmp.rglob("*"):
        if path.is_file() and "recordings" not in path.parts:
            searched += 1
            assert SENTINEL_KEY.encode() not in path.read_bytes(), f"key found in {path}"
    assert searched > 10
    assert any((tmp / "dagster_home").rglob("*.db")), "Dagster storage was searched"
    assert (tmp / "data" / "sniper.duckdb").exists()


def test_usage_errors_exit_2(
    tmp_path: Path, project_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    done = run_sniper(["run", "--live"], tmp_path, CG_API_KEY="")
    assert done.returncode == 2 and "CG_API_KEY" in done.stderr
    # The binary exits with main()'s code (checked above): the second case in this process, one
    # Python start less.
    monkeypatch.delenv("SNIPER_REPLAY_DIR", raising=False)
    assert cli.main(["run", "--replay-dir", str(tmp_path)]) == 2
    assert "manifest.json" in capsys.readouterr().err


def test_shift_is_what_the_dates_test_expects() -> None:
    # 2025-05-20 16:00 (last recorded 4h bar) + SHIFT_MS lands on 2025-06-30.
    assert SHIFT_MS == 41 * 86_400_000


# Columns that say when or by which run a row was written: they differ between any two runs.
VOLATILE = {
    "ingested_at",
    "inputs_ingested_at",
    "decided_at",
    "run_id",
    "generated_at",
    "chosen_at",
    "first_seen_at",
    "last_seen_at",
}
COMPARED_TABLES = (
    "raw_funding",
    "raw_open_interest",
    "raw_liquidations",
    "raw_taker_volume",
    "raw_prices",
    "coin_layer_sources",
    "fct_layer_bars",
    "layer_signals",
    "confluence_signals",
    "alert_events",
    "percentile_configs",
)


def warehouse_tables(path: Path) -> dict[str, Any]:
    """Every compared table as a frame sorted by all its columns, volatile columns dropped."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as conn:
        frames = {}
        for table in COMPARED_TABLES:
            frame = conn.execute(f"select * from {table}").df()
            frame = frame.drop(columns=[c for c in frame.columns if c in VOLATILE])
            frames[table] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return frames


@pytest.mark.slow
def test_a_killed_run_never_blocks_the_next(
    unseen_run: tuple[Path, Path, dict[str, Any]], tmp_path: Path
) -> None:
    """kill -9 mid-step: the next `sniper run` marks the dead run failed, frees its slots, says so
    in one line and finishes; the warehouse then equals a clean run's."""
    clean_tmp, folder, _ = unseen_run
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "SNIPER_DATA_DIR": str(tmp_path / "data"),
        "SNIPER_REPORTS_DIR": str(tmp_path / "reports"),
    }
    for var in ("SNIPER_WAREHOUSE_URL", "CG_BASE_URL", "SNIPER_PROFILE", "SNIPER_REPLAY_DIR"):
        env.pop(var, None)
    log = tmp_path / "killed.stderr"
    with log.open("w") as err:
        victim = subprocess.Popen(
            # -v: Dagster's events on stderr, to wait for dbt's step to start
            [SNIPER, "run", "-v", "--replay-dir", str(folder)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,  # its dbt child dies with it
        )
        deadline = time.monotonic() + 300
        while "coinglass_dbt - STEP_START" not in log.read_text():
            assert victim.poll() is None, f"the run ended before dbt started:\n{log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "dbt never started"
            time.sleep(0.1)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()

    again = run_sniper(["run", "--replay-dir", str(folder)], tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    recovery = [line for line in again.stderr.splitlines() if line.startswith("[recovery]")]
    assert len(recovery) == 1 and "marked failed" in recovery[0], again.stderr[-3000:]

    clean = warehouse_tables(clean_tmp / "data" / "sniper.duckdb")
    recovered = warehouse_tables(tmp_path / "data" / "sniper.duckdb")
    for table in COMPARED_TABLES:
        pd.testing.assert_frame_equal(recovered[table], clean[table], obj=table)
