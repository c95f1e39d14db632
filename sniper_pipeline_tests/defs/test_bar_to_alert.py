"""End to end with no human step: a recorded bar closes on the replay clock, the sensor asks for a
scan, the scan ingests, transforms and scores it, and the alert reaches a real HTTP receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from sqlalchemy import select

from sniper_pipeline.definitions import build_defs
from sniper_pipeline.defs.ops.sensors import build_new_bar_sensor
from sniper_pipeline.engine import run_engine
from sniper_pipeline.ingest.runtime import Runtime
from sniper_pipeline.replay.server import ReplayServer
from sniper_pipeline.settings.paths import config_dir
from sniper_pipeline.signals.settings import load_engine_params
from sniper_pipeline.warehouse.bars import load_layer_bars
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.tables import outbox
from sniper_pipeline_tests.defs.conftest import replay_runtime_for
from sniper_pipeline_tests.delivery.support import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


def _latest_open_bar(runtime: Runtime) -> pd.Timestamp:
    """The last bar of the recordings that opens an episode (found by a full first pass)."""
    job = build_defs(runtime).resolve_job_def("coin_scan_job")
    assert job.execute_in_process(partition_key="HYPE", instance=dg.DagsterInstance.ephemeral()).success
    result = run_engine(
        load_layer_bars(make_engine(runtime.warehouse), "HYPE"), load_engine_params(config_dir())
    )
    opens = result.events[result.events["event"] == "open"]
    return pd.Timestamp(opens["ts"].iloc[-3])


def test_closed_bar_becomes_a_delivered_alert(
    replay_runtime: Runtime, receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bar = _latest_open_bar(replay_runtime)
    monkeypatch.setenv("SNIPER_ALERT_URLS", receiver.url("/desk"))
    now = (
        bar + pd.Timedelta(replay_runtime.plans["HYPE"].grid_interval) + timedelta(minutes=1)
    ).to_pydatetime()
    folder = replay_runtime.replay_dir
    assert folder is not None
    # A fresh warehouse: the clock stops just after that bar closes, so it is the newest bar.
    with ReplayServer(folder, quiet=True, now=now) as server:
        runtime = replay_runtime_for(folder, server.base_url, f"duckdb:///{tmp_path / 'live.duckdb'}")
        definitions = build_defs(runtime)
        sensor = build_new_bar_sensor(runtime)
        instance = dg.DagsterInstance.ephemeral()
        context = dg.build_sensor_context(
            instance=instance, resources={"coinglass": definitions.resources["coinglass"]}
        )  # type: ignore[index]
        tick = sensor(context)
        assert isinstance(tick, dg.SensorResult) and tick.run_requests
        [request] = tick.run_requests
        # One run for every due coin: a partition range, here of the one coin with data.
        assert request.run_key == f"HYPE..HYPE|{bar.isoformat()}"
        job = definitions.resolve_job_def("coin_scan_job")
        assert job.execute_in_process(tags=request.tags, instance=instance).success

    assert receiver.messages, "no alert reached the receiver"
    text = json.dumps(receiver.accepted)
    assert "HYPE" in text and "open" in text.lower()
    with make_engine(runtime.warehouse).connect() as conn:
        rows = conn.execute(select(outbox.c.status, outbox.c.dedup_key)).all()
    # Only the newest bars are sent; older history is stored as historical.
    sent = [key for status, key in rows if status == "delivered"]
    assert sent and all(bar.isoformat() in key for key in sent)
    assert any(status == "historical" for status, _ in rows)
