"""`sniper evaluate [--budget N] [--study] [--output PATH]`: score the alerts against forward
price moves, and optionally run the walk-forward tuning study over the warehouse's bars."""

from __future__ import annotations

from pathlib import Path

from sniper_pipeline.evaluation.report import crash_table, evaluation_markdown, format_table, study_lines
from sniper_pipeline.settings.evaluation import load_evaluation_settings
from sniper_pipeline.settings.paths import config_dir
from sniper_pipeline.signals.evaluation import crash_variants, evaluate_warehouse, study_warehouse
from sniper_pipeline.signals.settings import load_engine_params
from sniper_pipeline.warehouse.engine import make_engine


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
