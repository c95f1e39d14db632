"""The GX suite of a raw asset as blocking asset checks: run on the fetched frame, before the upsert."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import dagster as dg
import pandas as pd

from sniper_pipeline.quality.outcomes import CHECK_NAMES, CheckOutcome, FrameValidation
from sniper_pipeline.quality.validate import validate_frame


class FrameRejected(Exception):
    """The fetched frame failed its suite: it is not written."""


def raw_check_specs(asset_name: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(name, asset=asset_name, blocking=True, description=f"GX: {name.replace('_', ' ')}")
        for name in CHECK_NAMES
    ]


def _severity(outcome: CheckOutcome) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if outcome.severity == "ERROR" else dg.AssetCheckSeverity.WARN


class FrameChecks:
    """Validates one fetched frame and turns the outcomes into check results."""

    def __init__(self, asset_name: str, interval: str | None) -> None:
        self.asset_name = asset_name
        self.interval = interval
        self.validation: FrameValidation | None = None

    def validator(self, now: datetime) -> Callable[[pd.DataFrame], None]:
        def _validate(frame: pd.DataFrame) -> None:
            self.validation = validate_frame(self.asset_name, frame, interval=self.interval, now=now)
            if not self.validation.ok:
                raise FrameRejected(f"{self.asset_name}: {self.validation.summary()}")

        return _validate

    def results(self) -> Iterator[dg.AssetCheckResult]:
        assert self.validation is not None, "validator() was not run"
        for outcome in self.validation.outcomes:
            yield dg.AssetCheckResult(
                asset_key=self.asset_name,
                check_name=outcome.name,
                passed=outcome.passed,
                severity=_severity(outcome),
                description=outcome.description,
                metadata={**outcome.metadata, "errored": outcome.errored},
            )

    def failures(self) -> list[CheckOutcome]:
        return self.validation.failures() if self.validation else []

    def skipped(self, reason: str) -> Iterator[dg.AssetCheckResult]:
        for name in CHECK_NAMES:
            yield dg.AssetCheckResult(
                asset_key=self.asset_name, check_name=name, passed=True, metadata={"skipped": reason}
            )
