"""The evaluation over the warehouse: every coin's bars from the mart, scored against forward
price moves, and the walk-forward study over them. Used by `sniper evaluate` and the
`signal_evaluation` asset; the scoring itself is the pure `sniper_pipeline.evaluation`."""

from __future__ import annotations

import dataclasses

import pandas as pd
from sqlalchemy import Engine, inspect, text

from sniper_pipeline.engine import ConfluenceParams, EngineParams
from sniper_pipeline.evaluation.table import evaluate_coins
from sniper_pipeline.evaluation.walkforward import StudyResult, run_study
from sniper_pipeline.settings.evaluation import EvaluationSettings
from sniper_pipeline.warehouse.bars import load_layer_bars


def load_all_bars(engine: Engine) -> dict[str, pd.DataFrame]:
    """Every coin's bars from `fct_layer_bars` (empty when the mart does not exist yet)."""
    if "fct_layer_bars" not in inspect(engine).get_table_names():
        return {}
    with engine.connect() as conn:
        coins = [row[0] for row in conn.execute(text("select distinct coin from fct_layer_bars"))]
    return {coin: load_layer_bars(engine, coin) for coin in sorted(coins)}


def evaluate_warehouse(
    engine: Engine, params: EngineParams, settings: EvaluationSettings
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    bars = load_all_bars(engine)
    table = evaluate_coins(bars, params, n_boot=settings.bootstrap_samples, seed=settings.seed)
    return bars, table


def study_warehouse(
    bars: dict[str, pd.DataFrame], params: EngineParams, settings: EvaluationSettings, budget: float
) -> StudyResult:
    return run_study(
        bars,
        params,
        budget=budget,
        fit_days=settings.fit_days,
        score_days=settings.score_days,
        top_liq=settings.top_liquidation_bars,
    )


def crash_variants(params: EngineParams) -> dict[str, EngineParams]:
    """How the rules treat one-sided crashes: the params in force, the same without the crash
    rule, without the extreme override and without either, and the design defaults (design.md
    section 4)."""

    def with_confluence(confluence: ConfluenceParams) -> EngineParams:
        return dataclasses.replace(params, confluence=confluence)

    c = params.confluence
    return {
        "in force": params,
        "no crash rule": with_confluence(dataclasses.replace(c, crash_liq_level=None)),
        "no extreme override": with_confluence(dataclasses.replace(c, extreme_override_layers=None)),
        "neither": with_confluence(
            dataclasses.replace(c, crash_liq_level=None, extreme_override_layers=None)
        ),
        "design defaults": EngineParams(),
    }
