"""Reading the mart `fct_layer_bars` back for the engine."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, inspect, text


def load_layer_bars(engine: Engine, coin: str) -> pd.DataFrame:
    """One coin's grid bars, ascending, `ts` tz-aware UTC (empty when the mart has none)."""
    if "fct_layer_bars" not in inspect(engine).get_table_names():
        return pd.DataFrame()
    with engine.connect() as conn:
        frame = pd.read_sql(
            text("select * from fct_layer_bars where coin = :coin order by ts"), conn, params={"coin": coin}
        )
    for column in ("ts", "close_at"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame
