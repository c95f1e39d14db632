"""The one-sided crash table of docs/evaluation.md: which bars it lists and what each rule does."""

from __future__ import annotations

import pandas as pd

from sniper_pipeline.commands.evaluate import crash_variants
from sniper_pipeline.engine import EngineParams
from sniper_pipeline.evaluation.report import _crash_rule_section, crash_table
from sniper_pipeline.evaluation.walkforward import CRASH_RULE, run_study
from sniper_pipeline_tests.engine.helpers import make_bars, ramp, small_params
from sniper_pipeline_tests.evaluation.test_budget_walkforward import _synthetic_bars


def _bars(n: int = 40) -> pd.DataFrame:
    """Ramp layers (p95 9.55, p99 9.91 of every 10-bar window); two liquidation spikes with OI at
    its action band: bar 15 (50) and bar 38 (80), outside any tightening; funding and taker flat."""
    short_usd, oi = ramp(n), ramp(n)
    short_usd[15], oi[15] = 50.0, 9.7
    short_usd[38], oi[38] = 80.0, 9.7
    return make_bars(
        n, funding_bps_8h=1.0, oi_roc_pct=oi, liq_long_usd=0.0, liq_short_usd=short_usd, taker_ratio=1.0
    )


def test_crash_table_lists_the_largest_bars_and_the_tier_of_each_rule() -> None:
    bars = _bars()
    params = small_params(watch_min_layers=3, crash_liq_level=3, crash_oi_level=2)
    table = crash_table({"BTC": bars}, crash_variants(params), top=2)
    assert table["bar"].tolist() == [f"{bars['ts'][i]:%Y-%m-%d %H:%M}" for i in (38, 15)]
    assert table["levels F/O/L/T"].tolist() == ["0/2/3/0", "0/2/3/0"]
    assert table["in force"].tolist() == ["action", "action"]
    assert table["no crash rule"].tolist() == ["none", "none"]  # two layers, watch needs three
    assert table["no extreme override"].tolist() == ["action", "action"]


def test_crash_table_starts_at_since() -> None:
    bars = _bars()
    params = small_params(crash_liq_level=3)
    table = crash_table({"BTC": bars}, crash_variants(params), top=2, since=bars["ts"][20])
    assert table["bar"].tolist()[0] == f"{bars['ts'][38]:%Y-%m-%d %H:%M}"
    assert f"{bars['ts'][15]:%Y-%m-%d %H:%M}" not in table["bar"].tolist()


def test_study_section_compares_the_crash_rules_on_the_span() -> None:
    bars = {c: _synthetic_bars(c, i) for i, c in enumerate(["AAA", "BBB"])}
    grid = {CRASH_RULE: (None, (3, 0)), "confluence.watch_min_layers": (2, 3)}
    study = run_study(bars, EngineParams(), budget=1.0, grid=grid, fit_days=40, score_days=20)
    lines = _crash_rule_section(study, 1.0)
    rows = [line for line in "\n".join(lines).splitlines() if line.startswith("| crash_rule=")]
    assert [row.split(" | ")[0] for row in rows] == ["| crash_rule=None (in force)", "| crash_rule=(3, 0)"]
    # Liquidations alone at extreme only add action bars: never fewer notifications, never fewer caught.
    off, on = (study.params_of({CRASH_RULE: o, "confluence.watch_min_layers": 2}) for o in (None, (3, 0)))
    for run_off, run_on in zip(off.runs, on.runs, strict=True):
        assert (run_on.action >= run_off.action).all()
        assert run_on.action.sum() > run_off.action.sum()
