from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest

from sniper_pipeline.defs.ops.resources import AlertDeliveryResource
from sniper_pipeline.defs.ops.sensors import run_failure_ops_alert_sensor
from sniper_pipeline_tests.delivery.support import Receiver


@pytest.fixture
def ops_receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    receiver = Receiver()
    monkeypatch.setenv("SNIPER_OPS_ALERT_URLS", receiver.url("/ops"))
    yield receiver
    receiver.close()


@dg.op
def fetch_layer() -> None:
    raise RuntimeError("upstream answered 503 three times")


@dg.job
def failing_job() -> None:
    fetch_layer()


def test_run_failure_names_run_step_and_error(ops_receiver: Receiver) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_ops_alert_sensor",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=failure,
        resources={"alert_delivery": AlertDeliveryResource()},
    ).for_run_failure()
    run_failure_ops_alert_sensor(context)
    [message] = ops_receiver.accepted
    text = f"{message['title']} {message['message']}"
    assert result.run_id in text and "failing_job" in text
    assert "fetch_layer" in text and "503 three times" in text
