"""Write the baseline alert counts per coin and tier into docs/signals.md.

Reads what `sniper run` stored (confluence_signals, alert_events) in the warehouse given by
SNIPER_WAREHOUSE_URL (default data/sniper.duckdb) and replaces the section between the markers.

    .venv/bin/sniper run && .venv/bin/python scripts/baseline_counts.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from sqlalchemy import text

from sniper_pipeline.settings.timeutil import bars_per_day
from sniper_pipeline.warehouse.engine import make_engine

BEGIN, END = "<!-- baseline:begin -->", "<!-- baseline:end -->"


def baseline_table(confluence: pd.DataFrame, events: pd.DataFrame) -> str:
    lines = [
        "| coin | interval | weeks | tier | bars at tier | share of bars | episodes reaching tier | "
        "events per week | notifications per week |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (coin, interval), bars in confluence.groupby(["coin", "interval"]):
        weeks = len(bars) / bars_per_day(str(interval)) / 7
        coin_events = events[events["coin"] == coin]
        for tier in ("watch", "action"):
            at_tier = int((bars["tier"] == tier).sum())
            reached = coin_events[
                (coin_events["tier"] == tier) & coin_events["event"].isin(["open", "upgrade"])
            ]
            tier_events = coin_events[coin_events["tier"] == tier]
            episodes = reached["episode_id"].nunique()
            lines.append(
                f"| {coin} | {interval} | {weeks:.1f} | {tier} | {at_tier} | {at_tier / len(bars):.1%} | "
                f"{episodes} | {len(tier_events) / weeks:.1f} | {len(reached) / weeks:.1f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--doc", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "signals.md"
    )
    args = parser.parse_args()
    engine = make_engine(create_tables=False)
    with engine.connect() as conn:
        confluence = pd.read_sql(text("select coin, interval, ts, tier from confluence_signals"), conn)
        events = pd.read_sql(text("select coin, episode_id, event, tier, bar_ts from alert_events"), conn)
    table = baseline_table(confluence, events)
    note = (
        "Produced by `scripts/baseline_counts.py` from a `sniper run` on the shipped recordings with the "
        "default configuration. *Notifications* count episodes opened at a tier plus upgrades to action "
        "(escalations and all-clears not counted); *events* count every event at the tier, closes included."
    )
    doc = args.doc.read_text()
    section = f"{BEGIN}\n{note}\n\n{table}\n{END}"
    if BEGIN in doc:
        doc = doc[: doc.index(BEGIN)] + section + doc[doc.index(END) + len(END) :]
    else:
        doc = doc.replace(
            "_To be filled by the lead with the counts produced on the shipped sample._", section
        )
    args.doc.write_text(doc)
    print(table)


if __name__ == "__main__":
    main()
