"""The notification budget: what a user is woken for, per coin per week.

Counted: episodes opened (at watch or above; an episode never opens below watch) and upgrades
to action. Not counted: escalations (a reminder of an alert already sent), closes (all-clear)
and suppressed flips (nothing is sent).
"""

from __future__ import annotations

import pandas as pd

NOTIFYING_EVENTS = ("open", "upgrade")
WEEK = pd.Timedelta(days=7)


def notifications(events: pd.DataFrame) -> pd.DataFrame:
    """The events that count against the budget."""
    if events.empty:
        return events
    keep = events["event"].isin(NOTIFYING_EVENTS) & events["tier"].isin(("watch", "action"))
    return events[keep]


def weeks_between(start: pd.Timestamp, end: pd.Timestamp) -> float:
    """Length of [start, end) in weeks."""
    return float((end - start) / WEEK)
