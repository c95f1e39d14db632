"""Message text per alert event, for digests and for ops alerts. Pure (no I/O).

An event row is a mapping with the `alert_events` columns. `layers_json` holds the triggered
layers: {layer: {"value", "threshold", "level", "unit"?, "percentile"?, "side"?}}; `level` may
be the number (1-3) or the name (watch/action/extreme). Each layer reads like
"funding 12.3 bps/8h > p95 8.1": the comparison follows from value and threshold (levels are
strict, so a low-band taker reading is below its threshold), and the percentile label is
`percentile` when the row carries it, else the default percentiles of design.md section 4.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sniper_pipeline.settings.layer import Layer
from sniper_pipeline.settings.timeutil import interval_delta

TITLE_PREFIX = "[sniper]"
MAX_DIGEST_LINES = 40  # a digest names at most this many events, then counts the rest

_LEVEL_NUMBERS = {"none": 0, "watch": 1, "action": 2, "extreme": 3}
_HIGH_LABELS = {1: "p85", 2: "p95", 3: "p99"}
_LOW_LABELS = {1: "p15", 2: "p5", 3: "p1"}
_ARROWS = {"up": "up", "down": "down", "mixed": "mixed direction"}


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    notify_type: str = "info"  # apprise: info, success, warning, failure


# -- formatting helpers ----------------------------------------------------------------------------


def _number(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def _usd(value: float) -> str:
    magnitude = abs(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= size:
            return f"${value / size:.1f}{suffix}"
    return f"${value:,.0f}"


def format_amount(value: float, unit: str) -> tuple[str, str]:
    """(number text, unit suffix) for one reading."""
    unit = unit.lower()
    if unit == "usd":
        return _usd(value), ""
    if unit in ("pct", "%"):
        return _number(value), "%"
    if unit in ("bps_8h", "bps/8h"):
        return _number(value), " bps/8h"
    if unit in ("ratio", ""):
        return _number(value), ""
    return _number(value), f" {unit}"


def _level_number(level: Any) -> int:
    if isinstance(level, str):
        return _LEVEL_NUMBERS.get(level.strip().lower(), 0)
    try:
        return int(level)
    except (TypeError, ValueError):
        return 0


def _percentile_label(entry: Mapping[str, Any], level: int, low_band: bool) -> str:
    percentile = entry.get("percentile")
    if isinstance(percentile, int | float) and not isinstance(percentile, bool):
        return f"p{percentile:g}"
    labels = _LOW_LABELS if low_band else _HIGH_LABELS
    return labels.get(level, "threshold")


def _layer(prefix: str) -> Layer | None:
    """The layer a `layers_json` key names (a column prefix); None for a key no layer has."""
    try:
        return Layer.from_prefix(prefix)
    except ValueError:
        return None


def layer_line(layer: str, entry: Mapping[str, Any]) -> str:
    """ "funding 12.3 bps/8h > p95 8.1"; a layer without numbers says what it has."""
    known = _layer(layer)
    name = known.label if known else layer
    unit = str(entry.get("unit") or (known.unit if known else ""))
    try:
        value, threshold = float(entry["value"]), float(entry["threshold"])
    except (KeyError, TypeError, ValueError):
        return f"{name}: level {entry.get('level', '?')}"
    if math.isnan(value) or math.isnan(threshold):
        return f"{name}: level {entry.get('level', '?')}"
    level = _level_number(entry.get("level"))
    low_band = value < threshold or entry.get("band") == "low"
    value_text, suffix = format_amount(value, unit)
    threshold_text, _ = format_amount(threshold, unit)
    op = "<" if low_band else ">"
    return f"{name} {value_text}{suffix} {op} {_percentile_label(entry, level, low_band)} {threshold_text}"


def parse_layers(layers_json: Any) -> dict[str, dict[str, Any]]:
    """The triggered layers of an event (an empty dict for missing or unreadable JSON)."""
    if isinstance(layers_json, Mapping):
        data: Any = layers_json
    elif isinstance(layers_json, str) and layers_json.strip():
        try:
            data = json.loads(layers_json)
        except ValueError:
            return {}
    else:
        return {}
    if not isinstance(data, Mapping):
        return {}
    return {str(k): dict(v) for k, v in data.items() if isinstance(v, Mapping)}


def bar_time(event: Mapping[str, Any]) -> str:
    """ "2024-05-01 08:00-12:00 UTC (4h bar)"."""
    start = event.get("bar_ts")
    interval = str(event.get("interval") or "")
    if not isinstance(start, datetime):
        return "bar time unknown"
    text = start.strftime("%Y-%m-%d %H:%M")
    try:
        end = start + interval_delta(interval)
    except ValueError:
        return f"{text} UTC"
    end_text = end.strftime("%H:%M") if end.date() == start.date() else end.strftime("%Y-%m-%d %H:%M")
    return f"{text}-{end_text} UTC ({interval} bar)"


def _episode_start(episode_id: str) -> str:
    """Episode ids are "COIN|<ISO bar open>"; other shapes are shown as they are."""
    _, _, iso = episode_id.partition("|")
    try:
        start = datetime.fromisoformat(iso)
    except ValueError:
        return episode_id
    return start.strftime("%Y-%m-%d %H:%M UTC")


def run_reference(event: Mapping[str, Any], run_url: str | None) -> str | None:
    """The run to look at: `run_url` (with "{run_id}" filled from the event), else the run id."""
    run_id = event.get("run_id")
    if run_url:
        return run_url.replace("{run_id}", str(run_id)) if "{run_id}" in run_url and run_id else run_url
    return str(run_id) if run_id else None


def _headline(event: Mapping[str, Any]) -> str:
    coin, kind = event.get("coin", "?"), str(event.get("event", "?"))
    tier = str(event.get("tier", "?")).upper()
    direction = _ARROWS.get(str(event.get("direction")), str(event.get("direction", "?")))
    if kind == "close":
        return f"{coin}: all clear, episode since {_episode_start(str(event.get('episode_id', '')))} closed"
    verb = {
        "open": "opened",
        "upgrade": "upgraded to",
        "escalate": "sustained",
        "anti_flip_suppressed": "flip suppressed,",
    }.get(kind, kind)
    return f"{coin} {verb} {tier}, {direction}"


def event_summary(event: Mapping[str, Any]) -> str:
    """One line for a digest."""
    line = f"{_headline(event)} ({event.get('event')}, {bar_time(event)})"
    if event.get("event") != "close":
        layers = [layer_line(k, v) for k, v in parse_layers(event.get("layers_json")).items()]
        if layers:
            line += ": " + "; ".join(layers)
    return line


# -- messages --------------------------------------------------------------------------------------


def event_message(event: Mapping[str, Any], *, run_url: str | None = None) -> Message:
    """The message of one alert event: what, which layers against which thresholds, when, which run."""
    kind = str(event.get("event"))
    run = run_reference(event, run_url)
    if kind == "close":
        lines = [_headline(event), f"Last bar: {bar_time(event)}"]
        if run:
            lines.append(f"Run: {run}")
        return Message(f"{TITLE_PREFIX} {event.get('coin', '?')} all clear", "\n".join(lines), "success")
    lines = [f"{_headline(event)} (event: {kind})"]
    lines += [f"- {layer_line(k, v)}" for k, v in parse_layers(event.get("layers_json")).items()]
    lines.append(f"Bar: {bar_time(event)}")
    if event.get("episode_id"):
        lines.append(f"Episode since {_episode_start(str(event['episode_id']))}")
    if run:
        lines.append(f"Run: {run}")
    tier = str(event.get("tier", "?"))
    title = f"{TITLE_PREFIX} {event.get('coin', '?')} {tier.upper()} {event.get('direction', '?')} ({kind})"
    return Message(title, "\n".join(lines), "failure" if tier == "action" else "warning")


def digest_message(events: Sequence[Mapping[str, Any]], *, run_url: str | None = None) -> Message:
    """One message listing the events folded by the rate limits of one channel."""
    shown = events[:MAX_DIGEST_LINES]
    lines = [f"{len(events)} alert(s) over the rate limit, folded into this digest:"]
    lines += [f"- {event_summary(event)}" for event in shown]
    if len(events) > len(shown):
        lines.append(f"... and {len(events) - len(shown)} more (see the outbox table)")
    runs = {ref for ref in (run_reference(e, run_url) for e in events) if ref}
    if len(runs) == 1:
        lines.append(f"Run: {runs.pop()}")
    coins = sorted({str(e.get("coin")) for e in events})
    title = f"{TITLE_PREFIX} digest: {len(events)} alert(s) for {', '.join(coins[:8])}"
    if len(coins) > 8:
        title += ", ..."
    notify_type = "failure" if any(e.get("tier") == "action" for e in events) else "warning"
    return Message(title, "\n".join(lines), notify_type)


def ops_message(title: str, body: str) -> Message:
    return Message(f"{TITLE_PREFIX} ops: {title}", body, "failure")
