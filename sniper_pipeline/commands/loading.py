"""Loading what a command keeps until it exits (Dagster, dbt, the definitions) without the cyclic
garbage collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def kept_for_the_command() -> Iterator[None]:
    """Imports and the definitions make millions of objects that live as long as the process.
    The collector's passes while they are made free nothing (~1 s of a command's start), and
    its later full passes would scan them again: it is off while they load, then they are
    frozen out of its passes. It is back on afterwards unless it was off before."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
