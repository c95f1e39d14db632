"""Three representative faults through the whole coin scan (raw assets with their GX checks, dbt,
signals, alert events, outbox), in process for HYPE, compared with one fault-free run.

- a 429 storm, then a 503 burst, in one run: the 429s waited out inside the run (every sharer
  of the key pauses for the Retry-After), the 503s retried; a 429 past the retry budget fails
  clearly, as the client and ingest tests show (and
  `python -m sniper_pipeline_tests.reliability.table --pipeline` runs it through the pipeline too);
- malformed (truncated) JSON on page 2 of a backfill, twice (past the body retry): the first
  run fails with that layer's table empty, a second run recovers.

After recovery every compared table (`raw_*`, `fct_layer_bars`, `alert_events`, `outbox`) equals
the fault-free run, the outbox holds one row per (dedup_key, channel), and no alert was sent twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sniper_pipeline.replay.server import ReplayServer
from sniper_pipeline_tests.delivery.support import Receiver
from sniper_pipeline_tests.reliability.support import (
    COIN,
    HISTORY_GLOB,
    LIQ,
    LIQ_PATH,
    PIPELINE_TABLES,
    PipelineHarness,
    outbox_duplicates,
    pipeline_env,
    state_diff,
    warehouse_state,
)

pytestmark = pytest.mark.slow


@dataclass
class Pipeline:
    harness: PipelineHarness
    receiver: Receiver
    baseline: dict[str, list[tuple[Any, ...]]]
    baseline_sent: int


@pytest.fixture(scope="module")
def pipeline(
    module_server: ReplayServer, unseen_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """The environment `sniper run` sets up, one alert channel, and the fault-free baseline."""
    folder = tmp_path_factory.mktemp("pipeline")
    receiver = Receiver()
    with pytest.MonkeyPatch.context() as env:
        # One receiver for every run: the outbox's channel id is the same in all of them.
        for name, value in pipeline_env(folder, receiver.url("/desk")).items():
            env.setenv(name, value)
        harness = PipelineHarness(module_server, folder, unseen_dir)
        engine = harness.use_warehouse("baseline")
        outcome = harness.run(None)
        assert outcome.success, outcome.failures
        baseline = warehouse_state(engine)
        assert all(baseline[name] for name in PIPELINE_TABLES if name != "raw_prices"), {
            k: len(v) for k, v in baseline.items()
        }
        assert receiver.accepted, "the fault-free run sent no alert: nothing to see a double send by"
        yield Pipeline(harness, receiver, baseline, len(receiver.received))
    receiver.close()


def assert_same_as_baseline(pipeline: Pipeline, engine: Any, sent_before: int) -> None:
    diffs = state_diff(engine, pipeline.baseline)
    assert {name: d for name, d in diffs.items() if not d.equal} == {}
    assert outbox_duplicates(engine) == 0
    # Whatever the baseline run sent, the faulted runs together sent the same number, not more.
    assert len(pipeline.receiver.received) - sent_before == pipeline.baseline_sent


def test_transient_faults_are_retried_inside_the_run(pipeline: Pipeline) -> None:
    # More 429s in a row than the 5 failure retries (the rate-limit retries wait them out), then
    # a burst of 503s on the requests after them (failure retries): one run for both, as the
    # server answers them in turn (a run each cost ~10 s of the suite and tested nothing more).
    engine = pipeline.harness.use_warehouse("transient")
    sent_before = len(pipeline.receiver.received)
    outcome = pipeline.harness.run(f"429=1@{HISTORY_GLOB}:8,503@{HISTORY_GLOB}:3")
    assert outcome.success, outcome.failures
    fired = [fault.status for _, fault in outcome.fired]
    assert fired == [429] * 8 + [503] * 3, fired
    assert_same_as_baseline(pipeline, engine, sent_before)


def test_truncated_json_mid_backfill_fails_clearly_and_a_second_run_recovers(pipeline: Pipeline) -> None:
    harness = pipeline.harness
    engine = harness.use_warehouse("truncated")
    sent_before = len(pipeline.receiver.received)

    first = harness.run(LIQ.mid("truncated", 2))  # page 2, and its one body retry
    assert not first.success
    # The scan goes on for the other layers; the run ends failed naming the blocked coin and why.
    [failure] = first.failures
    assert failure.startswith("alert_outbox:") and "raw_liquidations" in failure
    assert LIQ_PATH in failure and COIN in failure and "truncated JSON" in failure and "end_time" in failure
    diffs = state_diff(engine, pipeline.baseline)
    assert diffs["raw_liquidations"].actual == 0  # page 1 was fetched, never written alone
    assert all(diffs[name].equal for name in ("raw_funding", "raw_open_interest", "raw_taker_volume"))

    second = harness.run(None)
    assert second.success, second.failures
    assert_same_as_baseline(pipeline, engine, sent_before)
