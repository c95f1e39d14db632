"""Load what the signal report shows from the warehouse into frames.

Every table may be missing (an older warehouse, a source never configured) or empty (nothing run
yet): a missing table loads as None, so the page can say "no data yet" instead of failing."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Select, column, func, inspect, literal_column, select
from sqlalchemy import table as sa_table
from sqlalchemy.engine import URL

from sniper_pipeline.report.fmt import fmt_age

LAYER_SIGNALS = "layer_signals"
CONFLUENCE_SIGNALS = "confluence_signals"
ALERT_EVENTS = "alert_events"
PERCENTILE_CONFIGS = "percentile_configs"
API_HEALTH = "api_health"
ETF_FLOWS = "raw_etf_flows"
SIGNAL_EVALUATION = "signal_evaluation"
COIN_LAYER_SOURCES = "coin_layer_sources"

# The percentiles are configured and carried in the threshold column names (funding_p85_bps_8h,
# taker_lo_p1, p97.5 as _p97_5): the report finds the columns by prefix and reads the number.
_PERCENTILE_IN_NAME = r"_p(\d+(?:_\d+)?)(?:_|$)"


@dataclass(frozen=True)
class ThresholdColumn:
    column: str
    percentile: float
    band_level: str  # watch, action or extreme


@dataclass
class ReportData:
    """Everything the page shows; None marks a table the warehouse does not have."""

    warehouse: str
    coins: list[str]
    layers: dict[str, pd.DataFrame] = field(default_factory=dict)
    confluence: dict[str, pd.DataFrame] = field(default_factory=dict)
    events: pd.DataFrame | None = None
    configs: pd.DataFrame | None = None
    health: pd.DataFrame | None = None
    etf: pd.DataFrame | None = None
    evaluation: pd.DataFrame | None = None
    sources: pd.DataFrame | None = None  # coin_layer_sources: each series' own interval
    missing_tables: list[str] = field(default_factory=list)


def redacted_url(url: URL) -> str:
    """The warehouse URL for display: password hidden, and query values too (libpq accepts a
    password or key material there, which `hide_password` does not cover)."""
    shown = url.set(query={}).render_as_string(hide_password=True)
    if url.query:
        shown += "?" + "&".join(f"{key}=***" for key in sorted(url.query))
    return shown


def threshold_columns(columns: Sequence[str], prefix: str) -> list[ThresholdColumn]:
    """The watch, action and extreme threshold columns of one band, found by name.

    High bands count up (p85 < p95 < p99), low bands count down (p15 > p5 > p1): in both the
    percentile farthest from the median is the most extreme."""
    found: list[tuple[float, str]] = []
    pattern = re.compile(rf"^{re.escape(prefix)}{_PERCENTILE_IN_NAME}")
    for name in columns:
        match = pattern.match(name)
        if match:
            found.append((float(match.group(1).replace("_", ".")), name))
    found.sort(key=lambda item: abs(item[0] - 50.0))
    levels = ("watch", "action", "extreme")
    return [
        ThresholdColumn(name, percentile, levels[min(i, len(levels) - 1)])
        for i, (percentile, name) in enumerate(found)
    ]


def _read(conn: Connection, name: str, coins: Sequence[str] | None, order_by: str | None) -> pd.DataFrame:
    query: Select[Any] = select(literal_column("*")).select_from(sa_table(name))
    if coins is not None:
        query = query.where(column("coin").in_(list(coins)))
    if order_by:
        query = query.order_by(column(order_by))
    return pd.read_sql(query, conn)


def _latest(conn: Connection, name: str, time_column: str, *, per_coin: bool) -> pd.DataFrame:
    """The rows of the latest time (per coin when asked), e.g. the last health check; selected in
    SQL because both tables keep their whole history."""
    rows = sa_table(name, column(time_column), column("coin"))
    other = sa_table(name, column(time_column), column("coin")).alias("later")
    latest = select(func.max(other.c[time_column]))
    if per_coin:
        latest = latest.where(other.c.coin == rows.c.coin)
    query: Select[Any] = (
        select(literal_column("*")).select_from(rows).where(rows.c[time_column] == latest.scalar_subquery())
    )
    frame = pd.read_sql(query, conn)
    if frame.empty:
        return frame
    if per_coin and "generated_at" in frame.columns:
        # Other sources or parameters over the same bars: the most recently generated wins.
        keys = [c for c in ("coin", "interval", "metric", "band") if c in frame.columns]
        frame = frame.sort_values("generated_at").drop_duplicates(keys, keep="last")
    sort = ["coin", "metric", "band"] if per_coin else ["endpoint"]
    return frame.sort_values([c for c in sort if c in frame.columns]).reset_index(drop=True)


def _split(frame: pd.DataFrame, coins: Sequence[str]) -> dict[str, pd.DataFrame]:
    return {
        coin: part.sort_values("ts").reset_index(drop=True)
        for coin, part in frame.groupby("coin", sort=False)
        if coin in coins
    }


def load_report_data(engine: Engine, coins: Sequence[str] | None = None) -> ReportData:
    wanted = [c.upper() for c in coins] if coins else None
    tables = set(inspect(engine).get_table_names())
    data = ReportData(warehouse=redacted_url(engine.url), coins=list(wanted or []))
    data.missing_tables = [
        name
        for name in (
            LAYER_SIGNALS,
            CONFLUENCE_SIGNALS,
            ALERT_EVENTS,
            PERCENTILE_CONFIGS,
            API_HEALTH,
            ETF_FLOWS,
        )
        if name not in tables
    ]
    with engine.connect() as conn:
        layers = _read(conn, LAYER_SIGNALS, wanted, "ts") if LAYER_SIGNALS in tables else None
        confluence = _read(conn, CONFLUENCE_SIGNALS, wanted, "ts") if CONFLUENCE_SIGNALS in tables else None
        if ALERT_EVENTS in tables:
            data.events = _read(conn, ALERT_EVENTS, wanted, "bar_ts")
        if PERCENTILE_CONFIGS in tables:
            configs = _latest(conn, PERCENTILE_CONFIGS, "data_through", per_coin=True)
            data.configs = configs[configs["coin"].isin(wanted)] if wanted else configs
        if API_HEALTH in tables:
            data.health = _latest(conn, API_HEALTH, "checked_at", per_coin=False)
        if ETF_FLOWS in tables:
            data.etf = pd.read_sql(
                select(column("ts"), column("flow_usd"), column("price_usd"))
                .select_from(sa_table(ETF_FLOWS))
                .order_by(column("ts")),
                conn,
            )
        if COIN_LAYER_SOURCES in tables:
            data.sources = pd.read_sql(
                select(column("coin"), column("layer"), column("interval")).select_from(
                    sa_table(COIN_LAYER_SOURCES)
                ),
                conn,
            )
        if SIGNAL_EVALUATION in tables:
            data.evaluation = pd.read_sql(
                select(literal_column("*")).select_from(sa_table(SIGNAL_EVALUATION)), conn
            )
    if wanted is None:
        # Every coin the warehouse knows about, not only those with bars: a coin with a config
        # but no scored bars yet still gets its "no data yet" section.
        found: set[str] = set()
        for frame in (layers, confluence, data.events, data.configs):
            if frame is not None and "coin" in frame.columns:
                found.update(str(c) for c in frame["coin"].dropna().unique())
        data.coins = sorted(found)
    if layers is not None:
        data.layers = _split(layers, data.coins)
    if confluence is not None:
        data.confluence = _split(confluence, data.coins)
    return data


def parse_layers_json(raw: Any) -> dict[str, dict[str, Any]]:
    """An alert event's triggered layers; a malformed or empty value is no layers, not an error."""
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def open_episode(events: pd.DataFrame) -> dict[str, Any] | None:
    """The latest episode of one coin without a close event, with its highest tier so far."""
    opened = events[events["event"].isin(("open", "upgrade", "escalate"))]
    if opened.empty:
        return None
    closed = set(events.loc[events["event"] == "close", "episode_id"])
    candidates = opened[~opened["episode_id"].isin(closed)]
    if candidates.empty:
        return None
    episode_id = candidates.sort_values("bar_ts")["episode_id"].iloc[-1]
    own = candidates[candidates["episode_id"] == episode_id]
    tier = "action" if (own["tier"] == "action").any() else "watch"
    return {"episode_id": episode_id, "since": own["bar_ts"].min(), "tier": tier}


def summary_frame(data: ReportData, now: datetime) -> pd.DataFrame:
    """One row per coin: bars, first/last bar, alerts by tier, current tier and open episode."""
    rows = []
    for coin in data.coins:
        layers = data.layers.get(coin)
        confluence = data.confluence.get(coin)
        events = data.events[data.events["coin"] == coin] if data.events is not None else pd.DataFrame()
        row: dict[str, Any] = {"coin": coin}
        if layers is not None and not layers.empty:
            last = pd.Timestamp(layers["ts"].iloc[-1])
            row.update(
                interval=layers["interval"].iloc[-1] if "interval" in layers.columns else None,
                bars=len(layers),
                first_bar=pd.Timestamp(layers["ts"].iloc[0]),
                last_bar=last,
                last_bar_age=fmt_age(pd.Timestamp(now) - last),
            )
        else:
            row.update(interval=None, bars=0, first_bar=None, last_bar=None, last_bar_age=None)
        # Alerts are the events that reach a tier: an episode opening or upgrading.
        reached = events[events["event"].isin(("open", "upgrade"))] if not events.empty else events
        for tier in ("watch", "action"):
            row[f"alerts_{tier}"] = int((reached["tier"] == tier).sum()) if not reached.empty else 0
        if confluence is not None and not confluence.empty:
            row["tier_now"] = confluence["tier"].iloc[-1]
            row["direction_now"] = confluence["direction"].iloc[-1]
        else:
            row["tier_now"] = row["direction_now"] = None
        episode = open_episode(events) if not events.empty else None
        row["open_episode"] = (
            f"{episode['tier']} since {pd.Timestamp(episode['since']):%Y-%m-%d %H:%M}" if episode else None
        )
        rows.append(row)
    return pd.DataFrame(rows)
