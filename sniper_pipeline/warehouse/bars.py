"""Reading the mart `fct_layer_bars` back for the engine."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, bindparam, inspect, text


def load_bars_by_coin(engine: Engine, coins: list[str]) -> dict[str, pd.DataFrame]:
    """Each coin's grid bars, ascending, `ts` tz-aware UTC, in one query (a coin without bars is
    absent)."""
    if not coins or "fct_layer_bars" not in inspect(engine).get_table_names():
        return {}
    query = text("select * from fct_layer_bars where coin in :coins order by coin, ts").bindparams(
        bindparam("coins", expanding=True)
    )
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn, params={"coins": list(coins)})
    for column in ("ts", "close_at"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return {str(coin): rows.reset_index(drop=True) for coin, rows in frame.groupby("coin", sort=False)}


def load_layer_bars(engine: Engine, coin: str) -> pd.DataFrame:
    """One coin's grid bars, ascending, `ts` tz-aware UTC (empty when the mart has none)."""
    return load_bars_by_coin(engine, [coin]).get(coin, pd.DataFrame())
