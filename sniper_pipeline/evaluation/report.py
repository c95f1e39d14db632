"""Text renderings of the evaluation: the console table, the study summary, docs/evaluation.md."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import pandas as pd

from sniper_pipeline.engine import LAYERS, EngineParams, run_engine

from .walkforward import CRASH_RULE, PRIMARY_HORIZON, StudyResult, WindowScore, base_values, score_window


class StudySettings(Protocol):
    top_liquidation_bars: int
    fit_days: float
    score_days: float
    bootstrap_samples: int
    seed: int


def _f(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ci(row: Mapping[str, Any], key: str, lo: str, hi: str) -> str:
    return f"{_f(row[key])} [{_f(row[lo])}, {_f(row[hi])}]"


def format_table(table: pd.DataFrame) -> str:
    """One line per coin, subject, tier and horizon."""
    lines = [
        f"{'coin':<5} {'subject':<6} {'tier':<6} {'h':>4} {'n':>4} {'/week':>6}  "
        f"{'lift [95% CI]':<20} {'rv lift [95% CI]':<20} {'hit rate [95% CI]':<20} {'base':>5}"
    ]
    for row in table.to_dict("records"):
        lines.append(
            f"{row['coin']:<5} {row['subject']:<6} {row['tier']:<6} {row['horizon']:>4} {row['n']:>4} "
            f"{_f(row['per_week']):>6}  {_ci(row, 'lift', 'lift_lo', 'lift_hi'):<20} "
            f"{_ci(row, 'rv_lift', 'rv_lift_lo', 'rv_lift_hi'):<20} "
            f"{_ci(row, 'hit_rate', 'hit_lo', 'hit_hi'):<20} {_f(row['base_hit_rate']):>5}"
        )
    return "\n".join(lines)


def _changes(changed: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in changed.items()) or "(the defaults in force)"


def _per_week(score: WindowScore) -> str:
    return " ".join(f"{coin} {v:.2f}" for coin, v in score.per_week.items())


def study_lines(result: StudyResult) -> list[str]:
    lines = [
        f"walk-forward: {len(result.candidates)} parameter sets x {len(result.coins)} coins, "
        f"budget {result.budget:g} notifications per coin per week, purge {result.purge_bars} bars",
    ]
    for f in result.folds:
        lines.append(
            f"fold {f.split.fold}: fit {f.fit_range[0]:%Y-%m-%d}..{f.fit_range[1]:%Y-%m-%d}, "
            f"score {f.score_range[0]:%Y-%m-%d}..{f.score_range[1]:%Y-%m-%d}: {_changes(f.chosen.changed)}"
        )
        lines.append(
            f"  score: per week {_per_week(f.score)}; "
            f"largest liq at action {f.score.caught}/{f.score.top_n}; "
            f"lift {_f(f.score.lift)} (defaults in force: max/week {_f(f.base_score.max_per_week)}, "
            f"liq {f.base_score.caught}/{f.base_score.top_n}, lift {_f(f.base_score.lift)})"
        )
    s = result.final_score
    lines.append(
        f"chosen on {result.span[0]:%Y-%m-%d}..{result.span[1]:%Y-%m-%d}: {_changes(result.final.changed)}"
    )
    lines.append(f"  per week {_per_week(s)}; largest liq at action {s.caught}/{s.top_n}; lift {_f(s.lift)}")
    return lines


def crash_table(
    bars_by_coin: Mapping[str, pd.DataFrame],
    variants: Mapping[str, EngineParams],
    top: int,
    since: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """The `top` largest liquidation bars per coin (after the first variant's warm-up, and from
    `since`: pass the study's span so these are the bars it counts): their layer levels under the
    first variant, and the tier each variant gives them."""
    rows: list[dict[str, Any]] = []
    names = list(variants)
    for coin, bars in sorted(bars_by_coin.items()):
        if bars.empty:
            continue
        signals = {name: run_engine(bars, p).signals.reset_index(drop=True) for name, p in variants.items()}
        first = signals[names[0]]
        has_threshold = (
            first["liq_total_p85_usd"].notna().to_numpy() if "liq_total_p85_usd" in first else None
        )
        liq = first["liq_total_usd"].to_numpy(dtype=float)
        eligible = np.isfinite(liq) & (has_threshold if has_threshold is not None else True)
        if since is not None:
            eligible &= (pd.to_datetime(first["ts"], utc=True) >= since).to_numpy()
        candidates = np.flatnonzero(eligible)
        for pos in candidates[np.argsort(liq[candidates])[::-1][:top]]:
            row = first.iloc[pos]
            rows.append(
                {
                    "coin": coin,
                    "bar": f"{pd.Timestamp(row['ts']):%Y-%m-%d %H:%M}",
                    "liq_usd_m": float(row["liq_total_usd"]) / 1e6,
                    "polarity": float(row["liq_polarity"]),
                    "levels F/O/L/T": "/".join(str(int(row[f"{x}_level"])) for x in LAYERS),
                    "extreme layers": int(row["layers_extreme"]),
                    **{name: str(signals[name].iloc[pos]["tier"]) for name in names},
                }
            )
    return pd.DataFrame(rows)


def markdown_table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.to_dict("records"):
        out.append("| " + " | ".join(_f(row[c]) for c in cols) + " |")
    return "\n".join(out)


def _evaluation_section(table: pd.DataFrame) -> list[str]:
    view = table.assign(
        **{
            "lift [95% CI]": [_ci(r, "lift", "lift_lo", "lift_hi") for r in table.to_dict("records")],
            "rv lift [95% CI]": [
                _ci(r, "rv_lift", "rv_lift_lo", "rv_lift_hi") for r in table.to_dict("records")
            ],
            "hit rate [95% CI]": [_ci(r, "hit_rate", "hit_lo", "hit_hi") for r in table.to_dict("records")],
        }
    )
    view = view[
        [
            "coin",
            "price_step",
            "subject",
            "tier",
            "horizon",
            "n",
            "per_week",
            "lift [95% CI]",
            "rv lift [95% CI]",
            "hit_n",
            "hit rate [95% CI]",
            "base_hit_rate",
        ]
    ].rename(columns={"per_week": "per week", "hit_n": "n dir", "base_hit_rate": "random hit"})
    return [markdown_table(view)]


def evaluation_markdown(
    table: pd.DataFrame,
    study: StudyResult | None,
    params: EngineParams,
    settings: StudySettings,
    budget: float,
    crashes: pd.DataFrame | None = None,
) -> str:
    """docs/evaluation.md: every number is computed from `table`, `study` and `crashes`."""
    start = pd.Timestamp(table["period_start"].min())
    end = pd.Timestamp(table["period_end"].max())
    lines = [
        "# Signal evaluation",
        "",
        "Written by `scripts/evaluation_study.py` from the warehouse (the shipped recordings after "
        "`sniper run`); do not edit by hand. Re-run it on other recordings or live history with "
        "`.venv/bin/python scripts/evaluation_study.py [--budget N]`.",
        "",
        f"Coins: {', '.join(sorted(table['coin'].unique()))}. Scored period: {start:%Y-%m-%d %H:%M} .. "
        f"{end:%Y-%m-%d %H:%M} UTC (from the first bar with a threshold). Bootstrap: "
        f"{settings.bootstrap_samples} resamples, seed {settings.seed}, 95 % percentile intervals.",
        "",
        "## How it is measured",
        "",
        "* **Forward move** of a bar: the absolute log return and the realised volatility (root of the "
        "summed squared step returns) from the first price close at or after the bar's close to the "
        "close one horizon later. Horizons: 1, 3 and 6 bars where the price is at bar resolution "
        "(BTC: 4h futures price), 1 and 3 days where only a daily price exists. Nothing after the "
        "horizon is read; bars without a complete horizon are left out.",
        "* **Lift**: mean forward move after the condition / mean over every bar of the same coin and "
        "period. **Hit rate**: share of up/down alerts whose forward return has their sign (mixed "
        "ones are left out); `random hit` is what the same mix of directions scores on random bars.",
        "* **Subjects**: `event` = the notifications (open at watch; open at action or upgrade under "
        "action); `bar` = every bar at that tier. Intervals use a circular block bootstrap (block = "
        "the horizon in bars for `bar`, 1 for the sparse `event`s). Few events give wide intervals: "
        "they are shown as they are.",
        "",
        "## Alerts under the parameters in force",
        "",
        *_evaluation_section(table),
        "",
    ]
    if study is not None:
        lines += _study_section(study, params, settings, budget)
    if crashes is not None and not crashes.empty:
        period = (
            f"the study's span ({study.span[0]:%Y-%m-%d} .. {study.span[1]:%Y-%m-%d}: the bars its "
            "'largest liq at action' counts)"
            if study is not None
            else "the scored period"
        )
        lines += [
            "## One-sided crashes: the largest liquidation bars",
            "",
            f"The {settings.top_liquidation_bars} largest liquidation bars of each coin over {period}, "
            "their layer levels (funding/OI/liquidations/taker; 0 none .. 3 extreme) under the parameters "
            "in force, and the tier each rule gives them. A crash is often one-sided: liquidations "
            "explode, often with open interest flushed, while funding and taker flow stay inside their "
            "bands, so the plain confluence rule (3 layers, one at action) calls it watch at most. "
            "Columns: the parameters in force; the same without the crash rule "
            "(`crash_liq_level: null`); without the extreme override (`extreme_override_layers: null`); "
            "without either; and the design defaults (design.md section 4).",
            "",
            markdown_table(crashes),
            "",
        ]
    return "\n".join(lines)


def _study_section(
    study: StudyResult, params: EngineParams, settings: StudySettings, budget: float
) -> list[str]:
    fold_rows = []
    for f in study.folds:
        fold_rows.append(
            {
                "fold": f.split.fold,
                "fit": f"{f.fit_range[0]:%m-%d}..{f.fit_range[1]:%m-%d}",
                "score": f"{f.score_range[0]:%m-%d}..{f.score_range[1]:%m-%d}",
                "chosen (changes from the base)": _changes(f.chosen.changed),
                "fit max/week": f.fit.max_per_week,
                "score per week": _per_week(f.score),
                "score liq at action": f"{f.score.caught}/{f.score.top_n}",
                "score lift 1d": f.score.lift,
                "base max/week": f.base_score.max_per_week,
                "base liq at action": f"{f.base_score.caught}/{f.base_score.top_n}",
                "base lift 1d": f.base_score.lift,
            }
        )
    s, b = study.final_score, study.base_final_score
    top = study.table[study.table["within_budget"]].sort_values(["catch_rate", "lift_1d"], ascending=False)
    top = top.drop_duplicates([c for c in top.columns if c != "episodes.escalate_bars"]).head(12)
    grid = "; ".join(f"`{k}` {list(v)}" for k, v in study.grid.items())
    crash_note = (
        f" `{CRASH_RULE}` is the one-sided crash rule as (`crash_liq_level`, `crash_oi_level`): the "
        "liquidation layer at or above the first level and the OI layer at or above the second make a "
        "bar action on their own (OI level 0: liquidations alone); None is off."
        if CRASH_RULE in study.grid
        else ""
    )
    escalate_note = (
        ""
        if "episodes.escalate_bars" in study.grid
        else " `episodes.escalate_bars` is not searched: escalations are not counted against the "
        "budget, so it cannot change a selection."
    )
    return [
        "## Tuning to the budget: walk-forward study",
        "",
        f"Budget: at most **{budget:g}** notification(s) per coin per week (episodes opened at watch "
        "or above, and upgrades to action; escalations and all-clears are not counted), while the "
        f"{settings.top_liquidation_bars} largest liquidation bars of each coin reach action. Setting: "
        "`evaluation.notifications_per_coin_per_week` in `config/evaluation.yaml`, or `--budget`.",
        "",
        f"Grid ({len(study.candidates)} sets, the base's own values first): {grid}. "
        "`percentile_levels` sets the high band; the taker low band mirrors it (100 - p)."
        f"{crash_note}{escalate_note}",
        "",
        "Selection on a window: within the budget (every coin), then the most largest-liquidation bars "
        f"at action, then the highest mean lift at {PRIMARY_HORIZON.label} of the notifications, then "
        "the fewest changes from the base. Folds: fit "
        f"{settings.fit_days:g} days, score the next {settings.score_days:g} days, rolling; a purge of "
        f"{study.purge_bars} bars (the longest forward reach) separates them, so no fit bar's forward "
        "move reads a scored bar. The span starts after the longest lookback of the grid.",
        "",
        markdown_table(pd.DataFrame(fold_rows)),
        "",
        f"### Chosen on the whole span ({study.span[0]:%Y-%m-%d} .. {study.span[1]:%Y-%m-%d})",
        "",
        f"**{_changes(study.final.changed)}**",
        "",
        "| | per coin per week | max | largest liq at action | lift 1d (mean over coins) |",
        "|---|---|---|---|---|",
        f"| chosen | {_per_week(s)} | {_f(s.max_per_week)} | {s.caught}/{s.top_n} | {_f(s.lift)} |",
        f"| in force (base) | {_per_week(b)} | {_f(b.max_per_week)} | {b.caught}/{b.top_n} | {_f(b.lift)} |",
        *_design_row(study),
        "",
        *_crash_rule_section(study, budget),
        "Best sets within the budget on the whole span, by largest liq at action then lift (sets "
        "differing only in `episodes.escalate_bars`, when searched, are collapsed: it does not change "
        "what is counted). Equal rows differ in a rule that never fires differently here; the "
        "selection then keeps the base's value:",
        "",
        markdown_table(top),
        "",
        f"Base of this run (the parameters in force): `{_params_line(params)}`.",
        "",
    ]


def _crash_rule_section(study: StudyResult, budget: float) -> list[str]:
    """The base with each one-sided crash option of the grid (crash rule, extreme override) swapped
    in, on the whole span: what each rule catches and what it costs in notifications."""
    keys = [k for k in (CRASH_RULE, "confluence.extreme_override_layers") if k in study.grid]
    rows = []
    for key in keys:
        for option in study.grid[key]:
            c = study.params_of({**study.base.overrides, key: option})
            s = score_window(study.coin_data, c.runs, *study.span_ns, top_liq=study.top_liq)
            rows.append(
                {
                    "rule": f"{key}={option}" + (" (in force)" if not c.changed else ""),
                    "per coin per week": _per_week(s),
                    "max": s.max_per_week,
                    "within budget": s.max_per_week <= budget + 1e-9,
                    "largest liq at action": f"{s.caught}/{s.top_n}",
                    "lift 1d": s.lift,
                }
            )
    if not rows:
        return []
    return [
        "One-sided crash rules on the whole span, every other parameter as in force:",
        "",
        markdown_table(pd.DataFrame(rows)),
        "",
    ]


def _design_row(study: StudyResult) -> list[str]:
    """The design.md section 4 defaults (EngineParams()), when the grid holds them."""
    design = base_values(EngineParams(), list(study.grid))
    try:
        c = study.params_of(design)
    except KeyError:
        return []
    d = score_window(study.coin_data, c.runs, *study.span_ns, top_liq=study.top_liq)
    return [
        f"| design defaults (design.md 4) | {_per_week(d)} | {_f(d.max_per_week)} | {d.caught}/{d.top_n} "
        f"| {_f(d.lift)} |"
    ]


def _params_line(params: EngineParams) -> str:
    d = dataclasses.asdict(params)
    return (
        f"lookback {d['thresholds']['lookback_bars']}, high {list(d['thresholds']['high_percentiles'])}, "
        f"watch_min_layers {d['confluence']['watch_min_layers']}, "
        f"extreme_override_layers {d['confluence']['extreme_override_layers']}, "
        f"crash rule {_crash_rule(params)}, "
        f"clear_bars {d['episodes']['clear_bars']}, escalate_bars {d['episodes']['escalate_bars']}, "
        f"tightening {d['tightening']['trigger']}"
    )


def _crash_rule(params: EngineParams) -> str:
    c = params.confluence
    if c.crash_liq_level is None:
        return "off"
    return f"liq >= {c.crash_liq_level} and OI >= {c.crash_oi_level}"
