"""Evaluate the alerts and run the walk-forward tuning study; write docs/evaluation.md.

Reads the bars `sniper run` stored in the warehouse given by SNIPER_WAREHOUSE_URL (default
data/sniper.duckdb) and the parameters in config/. The budget defaults to
`evaluation.notifications_per_coin_per_week` in config/evaluation.yaml.

    .venv/bin/sniper run && .venv/bin/python scripts/evaluation_study.py [--budget 1.0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sniper_pipeline.commands.evaluate import evaluate_command

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "evaluation.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=None, help="notifications per coin per week")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    return evaluate_command(budget_per_week=args.budget, study=True, output=args.output)


if __name__ == "__main__":
    raise SystemExit(main())
