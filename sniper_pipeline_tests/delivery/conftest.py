"""Delivery fixtures: real HTTP receivers on loopback and a DuckDB warehouse in tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.url import warehouse_location
from sniper_pipeline_tests.delivery.support import Receiver


@pytest.fixture
def make_receiver() -> Iterator[Callable[[], Receiver]]:
    started: list[Receiver] = []

    def factory() -> Receiver:
        receiver = Receiver()
        started.append(receiver)
        return receiver

    yield factory
    for receiver in started:
        receiver.close()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(warehouse_location(f"duckdb:///{tmp_path}/w.duckdb"))
    yield engine
    engine.dispose()
