"""Import great_expectations without loading altair and scipy.stats until they are used.

GX 1.x imports every core expectation and metric at import time. Three of those modules (the
KL-divergence expectation and two KS-test metrics) import altair and scipy.stats at module
level. Together that is ~1.3 s of CPU, about half of GX's import, in every process that
validates a frame (`sniper run`, each run worker under `sniper serve`). Our suites use neither
module.

While GX imports, those two names are placeholder modules in `sys.modules`. GX's modules keep
the placeholders, which import the real module on their first attribute lookup and then hold
its attributes. After GX's import the placeholders leave `sys.modules`, so any other importer
gets the real modules. `test_gx_import.py` checks that validation gives the same outcomes both
ways and that neither module is loaded by it."""

from __future__ import annotations

import importlib
import sys
import threading
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

DEFERRED = ("altair", "scipy.stats")
_IMPORT_LOCK = threading.Lock()


class _Deferred(ModuleType):
    """Stands for a module until one of its attributes is read."""

    def __getattr__(self, attr: str) -> Any:  # only called for attributes not set on the stub
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]  # or import_module would hand back this stub
        real = importlib.import_module(self.__name__)
        self.__dict__.update(real.__dict__)  # later lookups find them without coming here
        return getattr(real, attr)


def _placeholder(name: str) -> _Deferred:
    module = _Deferred(name)
    module.__spec__ = ModuleSpec(name, None)  # what the import system reads of a loaded module
    return module


def import_great_expectations() -> ModuleType:
    """great_expectations, imported with altair and scipy.stats deferred on first call."""
    with _IMPORT_LOCK:  # one importing thread; others wait here for the finished module
        if "great_expectations" not in sys.modules:
            placed = [name for name in DEFERRED if name not in sys.modules]
            for name in placed:
                sys.modules[name] = _placeholder(name)
            try:
                import great_expectations  # noqa: F401
            finally:
                for name in placed:
                    if isinstance(sys.modules.get(name), _Deferred):
                        del sys.modules[name]
    import great_expectations as gx

    return gx
