"""great_expectations imported with altair and scipy.stats deferred (quality/gx_import.py): the
outcomes of clean and failing frames are the same as with a plain import, neither module is loaded
by the import or by validating, and both still work when something reads them."""

from __future__ import annotations

import json
import subprocess
import sys

# Validates a clean frame of every raw table and a failing one (a duplicated bar, a null), and
# prints the outcomes and which modules got loaded. With "plain", GX is imported first, without
# the helper.
VALIDATE = """
import json, sys
if sys.argv[1] == "plain":
    import great_expectations
import pandas as pd
from sniper_pipeline.quality.validate import validate_frame
from sniper_pipeline_tests.quality.test_validate import clean_frame, now_after

TABLES = ("raw_funding", "raw_open_interest", "raw_liquidations", "raw_taker_volume", "raw_prices")
frames = {table: clean_frame(table) for table in TABLES}
bad = clean_frame("raw_liquidations")
bad = pd.concat([bad, bad.iloc[[3]]], ignore_index=True)
bad.loc[5, "long_liquidation_usd"] = None
frames["bad"] = bad
outcomes = {}
for name, frame in frames.items():
    table = "raw_liquidations" if name == "bad" else name
    result = validate_frame(table, frame, interval=str(frame["interval"].iloc[0]), now=now_after(frame, "8h"))
    outcomes[name] = [[o.name, o.passed, o.errored, o.description, o.metadata] for o in result.outcomes]
loaded = {
    "scipy.stats": "scipy.stats._distn_infrastructure" in sys.modules,
    "altair": "altair.vegalite" in sys.modules,
}
print(json.dumps({"outcomes": outcomes, "loaded": loaded}, default=str))
"""

# After the deferred import: the placeholders are out of sys.modules, and GX's own references
# load the real modules when read.
READ_LATER = """
import sys
from sniper_pipeline.quality.gx_import import DEFERRED, import_great_expectations
import_great_expectations()
assert not any(name in sys.modules for name in DEFERRED), [sys.modules.get(n) for n in DEFERRED]
kl = sys.modules["great_expectations.expectations.core.expect_column_kl_divergence_to_be_less_than"]
assert kl.stats.norm.cdf(0.0) == 0.5 and kl.alt.Chart is not None
import scipy.stats, altair
assert scipy.stats.norm is kl.stats.norm and altair.Chart is kl.alt.Chart
"""


def _validated(mode: str) -> dict[str, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", VALIDATE, mode], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_deferred_import_validates_the_same_and_loads_neither_module() -> None:
    deferred, plain = _validated("deferred"), _validated("plain")
    assert deferred["outcomes"] == plain["outcomes"]
    assert not all(check[1] for check in deferred["outcomes"]["bad"])  # the failing frame failed
    assert all(check[1] for check in deferred["outcomes"]["raw_funding"])
    assert deferred["loaded"] == {"scipy.stats": False, "altair": False}
    assert plain["loaded"] == {"scipy.stats": True, "altair": True}  # what the helper saves


def test_deferred_modules_load_when_read() -> None:
    subprocess.run([sys.executable, "-c", READ_LATER], check=True, timeout=120)
