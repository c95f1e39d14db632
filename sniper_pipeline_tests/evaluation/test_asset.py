import shutil
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import create_engine, inspect

from sniper_pipeline.defs.ingest.resources import WarehouseResource
from sniper_pipeline.defs.signals.evaluation import build_evaluation_asset
from sniper_pipeline.runtime import cached_runtime

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "sniper.duckdb"


@pytest.mark.skipif(not SHIPPED.exists(), reason="no warehouse from `sniper run`")
def test_signal_evaluation_asset_writes_the_table(tmp_path):
    db = tmp_path / "w.duckdb"
    shutil.copy(SHIPPED, db)
    url = f"duckdb:///{db}"
    asset = build_evaluation_asset(cached_runtime())
    for _ in range(2):  # the second run replaces the table it wrote
        result = dg.materialize([asset], resources={"warehouse": WarehouseResource(url=url)})
        assert result.success
    engine = create_engine(url)
    assert "signal_evaluation" in inspect(engine).get_table_names()
    import pandas as pd

    with engine.connect() as conn:
        table = pd.read_sql("select * from signal_evaluation", conn)
    assert set(table["subject"]) == {"event", "bar"} and len(table["coin"].unique()) >= 1
    ci = table.dropna(subset=["lift_lo", "lift_hi"])
    assert not ci.empty and (ci["lift_lo"] <= ci["lift_hi"]).all()
