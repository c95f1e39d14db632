"""`sniper config generate COIN` and `sniper signals --coin COIN`: read what the graph stored."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
from sqlalchemy import inspect, text

from sniper_pipeline.configgen import NoBarsError, UniversalConfigGenerator, WarehouseBars
from sniper_pipeline.settings.paths import config_dir
from sniper_pipeline.settings.signals import load_engine_params
from sniper_pipeline.warehouse.engine import make_engine

LAYERS = (
    ("funding", "funding_abs_bps_8h", "funding"),
    ("oi", "oi_roc_pct", "oi_roc"),
    ("liq", "liq_total_usd", "liq_total"),
    ("taker", "taker_ratio", "taker_hi"),
)


def config_generate_command(coin: str) -> int:
    engine = make_engine()
    try:
        config = UniversalConfigGenerator(
            WarehouseBars(engine), load_engine_params(config_dir())
        ).generate_config(coin.upper())
    except NoBarsError as exc:
        print(f"sniper config generate: {exc}")
        return 1
    print(json.dumps(config, indent=2, default=str))
    return 0


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def signals_command(coin: str, since: datetime | None, limit: int) -> int:
    """Bar, tier, direction, events, and each layer's value against its action threshold."""
    engine = make_engine()
    if not inspect(engine).has_table("layer_signals"):
        print("sniper signals: no signals stored yet: run `sniper run` first")
        return 1
    coin = coin.upper()
    with engine.connect() as conn:
        layers = pd.read_sql(
            text("select * from layer_signals where coin = :c order by ts"), conn, params={"c": coin}
        )
        tiers = pd.read_sql(
            text("select ts, tier, direction, episode_id from confluence_signals where coin = :c"),
            conn,
            params={"c": coin},
        )
        events = pd.read_sql(
            text("select bar_ts as ts, event, tier from alert_events where coin = :c"),
            conn,
            params={"c": coin},
        )
    if layers.empty:
        print(f"sniper signals: no signals for {coin}")
        return 1
    frame = layers.merge(tiers, on="ts", how="left")
    if since is not None:
        frame = frame[frame["ts"] >= pd.Timestamp(since).tz_localize(None)]
    frame = frame[frame["tier"] != "none"].tail(limit) if limit else frame
    by_bar = events.assign(label=events["event"] + ":" + events["tier"]).groupby("ts")["label"].agg(",".join)
    # The action threshold in force is the middle of each layer's three threshold columns.
    action = {prefix: [c for c in frame.columns if c.startswith(f"{prefix}_p")][1] for _, _, prefix in LAYERS}
    action["taker_lo"] = [c for c in frame.columns if c.startswith("taker_lo_p")][1]
    print(
        f"{coin}: value/action threshold (level) per layer, bars with a tier"
        + (f" since {since}" if since else "")
    )
    print(
        f"{'bar (UTC)':<17} {'tier':<7} {'dir':<6} " + " ".join(f"{n:>24}" for n, _, _ in LAYERS) + "  events"
    )
    for row in frame.to_dict("records"):
        cells = []
        for name, value_col, prefix in LAYERS:
            if name == "taker" and row.get("taker_side") == "down":
                prefix = "taker_lo"
            cell = f"{_fmt(row.get(value_col))}/{_fmt(row.get(action[prefix]))} ({int(row[name + '_level'])})"
            cells.append(cell.rjust(24))
        ts = pd.Timestamp(row["ts"])
        print(
            f"{ts:%Y-%m-%d %H:%M} {row['tier']:<7} {row['direction']:<6} "
            + " ".join(cells)
            + f"  {by_bar.get(ts, '')}"
        )
    return 0
