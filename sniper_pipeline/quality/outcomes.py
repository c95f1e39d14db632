"""Result types of a raw-frame validation and the names of its checks.

Plain data, no Dagster: the raw assets turn each `CheckOutcome` into an `AssetCheckResult`
whose check name is `CheckOutcome.name`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NON_NULL_KEYS = "non_null_keys"
UNIQUE_KEYS = "unique_keys"
ASCENDING_TS = "ascending_ts"
TYPED_COLUMNS = "typed_columns"
PLAUSIBLE_RANGES = "plausible_ranges"
FRESH = "fresh"
CHECK_NAMES: tuple[str, ...] = (
    NON_NULL_KEYS,
    UNIQUE_KEYS,
    ASCENDING_TS,
    TYPED_COLUMNS,
    PLAUSIBLE_RANGES,
    FRESH,
)

ERROR = "ERROR"
WARN = "WARN"
# Contract breaks block the write; a stale source is worth a look but its bars are still right.
CHECK_SEVERITY: dict[str, str] = {name: ERROR for name in CHECK_NAMES} | {FRESH: WARN}


@dataclass(frozen=True)
class CheckOutcome:
    """One named check over one frame; `metadata` holds only JSON-serialisable values."""

    name: str
    passed: bool
    severity: str
    errored: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        """True when this outcome must stop the write."""
        return self.errored or (self.severity == ERROR and not self.passed)


@dataclass(frozen=True)
class FrameValidation:
    """The outcomes of every check on one frame, in `CHECK_NAMES` order."""

    outcomes: list[CheckOutcome]
    table: str = ""
    row_count: int = 0
    elapsed_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Every ERROR-severity check passed and no expectation raised: the frame may be written."""
        return not any(o.blocking for o in self.outcomes)

    def failures(self) -> list[CheckOutcome]:
        """Outcomes that did not pass (errored ones included), WARN ones too."""
        return [o for o in self.outcomes if not o.passed]

    def outcome(self, name: str) -> CheckOutcome:
        for o in self.outcomes:
            if o.name == name:
                return o
        raise KeyError(f"no outcome named {name!r}; have {[o.name for o in self.outcomes]}")

    def summary(self) -> str:
        passed = sum(o.passed for o in self.outcomes)
        head = (
            f"{self.table or 'frame'}: {self.row_count} rows, {passed}/{len(self.outcomes)} checks passed"
            f" ({'ok' if self.ok else 'NOT ok'})"
        )
        lines = [head]
        for o in self.failures():
            state = "ERRORED" if o.errored else "FAILED"
            lines.append(f"  {o.name} [{o.severity}] {state}: {o.description}")
        return "\n".join(lines)
