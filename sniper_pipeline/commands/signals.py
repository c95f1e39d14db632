"""`sniper config generate COIN` and `sniper signals --coin COIN`: read what the graph stored."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, text

from sniper_pipeline.commands.environment import UsageError
from sniper_pipeline.commands.preflight import (
    CoinWithoutDataError,
    checked_warehouse,
    configured_coins,
    resolve_coin,
    warehouse_coins,
)
from sniper_pipeline.engine import THRESHOLD_SPECS
from sniper_pipeline.settings.errors import ConfigError
from sniper_pipeline.settings.layer import Layer
from sniper_pipeline.settings.paths import config_dir
from sniper_pipeline.signals.configgen import NoBarsError, UniversalConfigGenerator, WarehouseBars
from sniper_pipeline.signals.settings import load_engine_params
from sniper_pipeline.warehouse.engine import make_engine

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Per layer: column prefix, the value compared, the stem of its (high band's) threshold columns.
_HIGH_STEMS = {spec.layer: spec.stem for spec in THRESHOLD_SPECS if spec.band == "high"}
LAYERS = tuple((layer.prefix, layer.value_column, _HIGH_STEMS[layer.prefix]) for layer in Layer)


def _coin_with_data(command: str, coin: str, engine: Engine, table: str, option: str) -> str | int:
    """The coin `coin` names when `table` holds rows for it, else an exit code after one line on
    stderr: 2 for a coin nobody knows (a typo), 1 for a known coin without rows yet."""
    try:
        configured = configured_coins()
        # Coins with rows elsewhere (say HYPE, scored from recordings but absent from coins.yaml)
        # are known too: for them the fix is a run, not the spelling.
        known = warehouse_coins(engine)
        with_data = warehouse_coins(engine, (table,))
        return resolve_coin(coin, configured, with_data, where=f"in {table}", option=option, known=known)
    except CoinWithoutDataError as exc:
        print(f"sniper {command}: {exc}; run `sniper run` first", file=sys.stderr)
        return EXIT_FAILED
    except (UsageError, ConfigError) as exc:
        print(f"sniper {command}: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _engine(command: str) -> Engine | int:
    try:
        return make_engine(checked_warehouse())
    except ConfigError as exc:
        print(f"sniper {command}: {exc}", file=sys.stderr)
        return EXIT_USAGE


def config_generate_command(coin: str) -> int:
    engine = _engine("config generate")
    if isinstance(engine, int):
        return engine
    try:
        found = _coin_with_data("config generate", coin, engine, "fct_layer_bars", "")
        if isinstance(found, int):
            return found
        config = UniversalConfigGenerator(
            WarehouseBars(engine), load_engine_params(config_dir())
        ).generate_config(found)
    except NoBarsError as exc:
        print(f"sniper config generate: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        engine.dispose()
    print(json.dumps(config, indent=2, default=str))
    return EXIT_OK


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def signals_command(coin: str, since: datetime | None, limit: int) -> int:
    """Bar, tier, direction, events, and each layer's value against its action threshold."""
    if limit < 0:
        print(f"sniper signals: --limit: {limit} is negative (0 = all bars with a tier)", file=sys.stderr)
        return EXIT_USAGE
    engine = _engine("signals")
    if isinstance(engine, int):
        return engine
    try:
        found = _coin_with_data("signals", coin, engine, "layer_signals", "--coin")
        if isinstance(found, int):
            return found
        coin = found
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
    finally:
        engine.dispose()
    if layers.empty:  # only if the table changed since the look-up above
        print(f"sniper signals: no signals for {coin}", file=sys.stderr)
        return EXIT_FAILED
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
            if name == Layer.TAKER.prefix and row.get("taker_side") == "down":
                prefix = "taker_lo"
            cell = f"{_fmt(row.get(value_col))}/{_fmt(row.get(action[prefix]))} ({int(row[name + '_level'])})"
            cells.append(cell.rjust(24))
        ts = pd.Timestamp(row["ts"])
        print(
            f"{ts:%Y-%m-%d %H:%M} {row['tier']:<7} {row['direction']:<6} "
            + " ".join(cells)
            + f"  {by_bar.get(ts, '')}"
        )
    return EXIT_OK
