"""`sniper report [--output PATH]`: the HTML signal report of the warehouse."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from sniper_pipeline.report import write_report
from sniper_pipeline.settings.paths import reports_dir
from sniper_pipeline.warehouse.engine import make_engine

EXIT_OK, EXIT_FAILED = 0, 1


def default_output() -> Path:
    return reports_dir() / "signals.html"


def report_command(output: Path | None) -> int:
    target = Path(output) if output is not None else default_output()
    try:
        # The report only reads: no table is created in the warehouse for it.
        engine = make_engine(create_tables=False)
    except ValueError as exc:  # an unsupported SNIPER_WAREHOUSE_URL
        print(f"sniper report: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        path = write_report(engine, target)
    except SQLAlchemyError as exc:
        print(f"sniper report: cannot read the warehouse: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(f"sniper report: cannot write {target}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        engine.dispose()
    print(f"report written to {path}")
    return EXIT_OK
