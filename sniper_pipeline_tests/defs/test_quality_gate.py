"""A fetched frame that fails its GX suite is never written, blocks that coin downstream (the
scan's other coins go on), the run ends failed naming the coin, and an ops alert names the asset,
coin and failed expectation."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import inspect, text

from sniper_pipeline.definitions import build_defs
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline_tests.defs.conftest import replay_environment
from sniper_pipeline_tests.delivery.support import Receiver


@pytest.fixture
def ops_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def _corrupt_liquidations(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    manifest = json.loads((target / "manifest.json").read_text())
    [entry] = [e for e in manifest["files"] if e["endpoint"].endswith("/liquidation/aggregated-history")]
    envelope = json.loads((target / entry["file"]).read_text())
    envelope["data"][500]["aggregated_long_liquidation_usd"] = -123456.0  # not a plausible amount
    (target / entry["file"]).write_text(json.dumps(envelope))
    return target


def test_failing_frame_is_not_written_and_alerts_ops(
    unseen_dir: Path,
    project_env: Path,
    duckdb_url: str,
    ops_receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = _corrupt_liquidations(unseen_dir, project_env / "corrupt")
    monkeypatch.setenv("SNIPER_OPS_ALERT_URLS", ops_receiver.url("/ops"))
    with replay_environment(folder, duckdb_url) as runtime:
        result = (
            build_defs(runtime)
            .resolve_job_def("coin_scan_job")
            .execute_in_process(
                partition_key="HYPE", instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
            )
        )
        engine = make_engine(runtime.warehouse)
    assert not result.success
    failed = {
        e.check_name
        for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == "raw_liquidations" and not e.passed
    }
    assert failed == {"plausible_ranges"}
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from raw_liquidations")).scalar() == 0
        assert (
            conn.execute(text("select count(*) from raw_open_interest")).scalar() == 1080
        )  # other layers land
    # The coin was not scored, and the run's failure names it and the failed check.
    assert "layer_signals" not in inspect(engine).get_table_names()
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "alert_outbox"
    assert "HYPE" in failure.event_specific_data.error.message
    assert "plausible_ranges" in failure.event_specific_data.error.message
    assert ops_receiver.received, "no ops alert"
    [message] = ops_receiver.messages
    assert "raw_liquidations" in message and "HYPE" in message and "plausible_ranges" in message
