"""Fixtures of the fault-injection suite: the unseen recordings (coin HYPE) and one replay server
per module, its faults reset after every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sniper_pipeline.replay.server import ReplayServer
from sniper_pipeline_tests.reliability.support import Plan, coin_plan, start_server
from sniper_pipeline_tests.unseen import build_unseen


@pytest.fixture(scope="session")
def unseen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_unseen(tmp_path_factory.mktemp("unseen"))


@pytest.fixture(scope="session")
def plan(unseen_dir: Path) -> Plan:
    return coin_plan(unseen_dir)


@pytest.fixture(scope="module")
def module_server(unseen_dir: Path) -> Iterator[ReplayServer]:
    server = start_server(unseen_dir)
    yield server
    server.stop()


@pytest.fixture
def server(module_server: ReplayServer) -> Iterator[ReplayServer]:
    """The module's server with a clean slate: no faults, empty request log."""
    module_server.set_faults(None)
    module_server.clear_request_log()
    yield module_server
    module_server.set_faults(None)
