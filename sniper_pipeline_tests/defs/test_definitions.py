from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from sniper_pipeline.definitions import build_defs
from sniper_pipeline.ingest.runtime import REPLAY_API_KEY, Runtime, load_runtime
from sniper_pipeline.quality.outcomes import CHECK_NAMES

RAW_SERIES = ("raw_funding", "raw_open_interest", "raw_liquidations", "raw_taker_volume", "raw_prices")
SNAPSHOTS = ("instruments", "raw_funding_intervals", "raw_liquidation_exchanges", "raw_etf_flows")


def test_definitions_load_with_partitions_checks_and_jobs(replay_runtime: Runtime) -> None:
    definitions = build_defs(replay_runtime)
    graph = definitions.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {*RAW_SERIES, *SNAPSHOTS, "fct_layer_bars"} <= keys
    assert {
        f"stg_coinglass__{x}" for x in ("funding", "open_interest", "liquidations", "taker_volume")
    } <= keys
    # Coin partitions come from the recordings (HYPE) plus nothing configured without data.
    raw = definitions.resolve_assets_def("raw_liquidations")
    assert raw.partitions_def is not None
    assert raw.partitions_def.get_partition_keys() == replay_runtime.partition_keys == ["HYPE"]
    assert definitions.resolve_assets_def("instruments").partitions_def is None
    checks = {c.to_user_string() for c in graph.asset_check_keys}
    assert {f"raw_liquidations:{name}" for name in CHECK_NAMES} <= checks
    assert any(c.startswith("fct_layer_bars:unique_combination") for c in checks)
    assert {j.name for j in definitions.jobs} >= {"snapshots_job", "coin_scan_job"}


def test_every_step_touching_duckdb_is_in_its_pool(replay_runtime: Runtime) -> None:
    definitions = build_defs(replay_runtime)
    for key in (*RAW_SERIES, *SNAPSHOTS, "fct_layer_bars"):
        assets_def = definitions.resolve_assets_def(key)
        assert assets_def.node_def.pool == "duckdb", key


def test_live_resources_bind_the_key_from_the_environment(project_env: Path) -> None:
    """Live, the key is an EnvVar: Dagster stores and shows its name, never its value."""
    resources = build_defs(load_runtime(profile="live")).resources
    assert resources is not None
    coinglass = resources["coinglass"]
    assert isinstance(coinglass.api_key, dg.EnvVar) and coinglass.api_key.env_var_name == "CG_API_KEY"


def test_replay_resources_send_the_placeholder_key(replay_runtime: Runtime) -> None:
    """Replay needs no key from the environment, and a real key there never goes to the server."""
    resources = build_defs(replay_runtime).resources
    assert resources is not None
    assert resources["coinglass"].api_key == REPLAY_API_KEY


def test_a_warehouse_password_from_the_environment_stays_in_it(
    project_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PostgreSQL URL with its password is bound as an EnvVar: Dagster stores and shows the
    variable's name only. A DuckDB file (no password) stays a plain path."""
    # With and without the driver name: the location adds psycopg to a bare postgresql://.
    for url in (
        "postgresql+psycopg://sniper:s3cret-pw@127.0.0.1:5432/sniper",
        "postgresql://sniper:s3cret-pw@127.0.0.1:5432/sniper",
    ):
        monkeypatch.setenv("SNIPER_WAREHOUSE_URL", url)
        resources = build_defs(load_runtime(profile="live")).resources
        assert resources is not None
        bound = resources["warehouse"].url
        assert isinstance(bound, dg.EnvVar) and bound.env_var_name == "SNIPER_WAREHOUSE_URL", url
    monkeypatch.delenv("SNIPER_WAREHOUSE_URL")
    resources = build_defs(load_runtime(profile="live")).resources
    assert resources is not None and str(resources["warehouse"].url).startswith("duckdb:///")
