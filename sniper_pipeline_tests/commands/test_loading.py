"""`sniper run` loads Dagster and the definitions with the cyclic collector off, then freezes them."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from sniper_pipeline.commands.loading import kept_for_the_command


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()  # the objects frozen by the test go back to the collector
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_off_while_loading_then_on_with_the_loaded_objects_frozen() -> None:
    gc.enable()
    with kept_for_the_command():
        assert not gc.isenabled()
        loaded = [[] for _ in range(1000)]  # objects made while loading
        frozen_before = gc.get_freeze_count()
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen_before + len(loaded)
    collected = {id(o) for o in gc.get_objects()}  # what the collector's passes still scan
    assert not any(id(x) in collected for x in loaded)


def test_an_error_while_loading_still_turns_it_back_on() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), kept_for_the_command():
        raise RuntimeError("bad config")
    assert gc.isenabled()


def test_it_stays_off_when_the_caller_had_turned_it_off() -> None:
    gc.disable()
    with kept_for_the_command():
        pass
    assert not gc.isenabled()
