"""`sniper evaluate [--budget N] [--study] [--output PATH]`: score the alerts against forward
price moves, and optionally run the walk-forward tuning study over the warehouse's bars."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, inspect, text

from sniper_pipeline.engine import ConfluenceParams, EngineParams
from sniper_pipeline.evaluation.report import crash_table, evaluation_markdown, format_table, study_lines
from sniper_pipeline.evaluation.table import evaluate_coins
from sniper_pipeline.evaluation.walkforward import StudyResult, run_study
from sniper_pipeline.settings.evaluation import EvaluationSettings, load_evaluation_settings
from sniper_pipeline.settings.paths import config_dir
from sniper_pipeline.settings.signals import load_engine_params
from sniper_pipeline.warehouse.bars import load_layer_bars
from sniper_pipeline.warehouse.engine import make_engine


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


def evaluate_command(*, budget_per_week: float | None, study: bool, output: Path | None) -> int:
    """Print the evaluation table; with `study`, the walk-forward and the chosen parameters.
    `output` writes the full Markdown report (what scripts/evaluation_study.py writes)."""
    settings = load_evaluation_settings(config_dir())
    budget = budget_per_week if budget_per_week is not None else settings.notifications_per_coin_per_week
    params = load_engine_params(config_dir())
    bars, table = evaluate_warehouse(make_engine(), params, settings)
    if table.empty:
        print("sniper evaluate: no bars in the warehouse: run `sniper run` first")
        return 1
    print(format_table(table))
    result = study_warehouse(bars, params, settings, budget) if study else None
    if result is not None:
        print()
        print("\n".join(study_lines(result)))
    if output is not None:
        since = result.span[0] if result is not None else None  # the bars the study counts
        crashes = crash_table(bars, crash_variants(params), settings.top_liquidation_bars, since)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(evaluation_markdown(table, result, params, settings, budget, crashes))
        print(f"wrote {output}")
    return 0
