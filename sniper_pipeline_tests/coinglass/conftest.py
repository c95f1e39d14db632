"""Replay server fixtures for the CoinGlass tests.

- ``replay_server``: one server over the shipped sample for the whole session. Shared:
  do not change its faults; read ``request_log`` only after ``clear_request_log()`` or,
  better, use the factory when counting requests.
- ``replay_factory``: ``replay_factory(data_dir=None, **ReplayServer kwargs)`` starts a
  private server (the sample by default) and stops it after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sniper_pipeline.replay.sample import sample_dir
from sniper_pipeline.replay.server import ReplayServer

REPO_ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC_DIR = REPO_ROOT / "sniper_pipeline_tests" / "fixtures" / "synthetic"
SYNTHETIC_ENDPOINTS_DIR = SYNTHETIC_DIR / "endpoints"
SYNTHETIC_DRIFT_DIR = SYNTHETIC_DIR / "drift"
# The team's shared folder sits next to the checkout (../shared); absent in a fresh clone.
SHARED_DIR = REPO_ROOT.parent / "shared"
SHARED_REAL_DIR = SHARED_DIR / "fixtures" / "coinglass-real"

TEST_KEY = "test-key"

ReplayFactory = Callable[..., ReplayServer]


@pytest.fixture(scope="session")
def sample_data_dir() -> Path:
    return sample_dir()


@pytest.fixture(scope="session")
def replay_server(sample_data_dir: Path) -> Iterator[ReplayServer]:
    with ReplayServer(sample_data_dir, quiet=True) as server:
        yield server


@pytest.fixture
def replay_factory(sample_data_dir: Path) -> Iterator[ReplayFactory]:
    started: list[ReplayServer] = []

    def make(data_dir: Path | str | None = None, **kwargs: Any) -> ReplayServer:
        kwargs.setdefault("quiet", True)
        server = ReplayServer(data_dir if data_dir is not None else sample_data_dir, **kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
