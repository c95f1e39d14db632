"""What the Dagster UI shows about each asset and check: a description for every one (dbt models,
sources and tests included), owners in `team:` form, the `domain` tag and, for the assets of one
signal layer, the `layer` tag."""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import pytest
import yaml

from sniper_pipeline.definitions import build_defs
from sniper_pipeline.defs.catalog import with_catalog
from sniper_pipeline.defs.transform.project import dbt_project
from sniper_pipeline.ingest.runtime import Runtime
from sniper_pipeline.settings.paths import dbt_project_dir

# Written out here, not read from defs/catalog.py: a wrong table there must fail this test.
EXPECTED_LAYERS = {
    "raw_funding": "funding",
    "raw_funding_intervals": "funding",
    "stg_coinglass__funding": "funding",
    "raw_open_interest": "open_interest",
    "stg_coinglass__open_interest": "open_interest",
    "raw_liquidations": "liquidations",
    "raw_liquidation_exchanges": "liquidations",
    "stg_coinglass__liquidations": "liquidations",
    "raw_taker_volume": "taker_volume",
    "stg_coinglass__taker_volume": "taker_volume",
}
NO_LAYER = ("raw_prices", "stg_coinglass__prices", "fct_layer_bars", "instruments", "raw_etf_flows")
OWNERS = {
    "raw_funding": "team:market-data",
    "fct_layer_bars": "team:market-data",
    "api_health": "team:market-data",
}
OWNERS |= {
    "percentile_configs": "team:signals",
    "alert_outbox": "team:signals",
    "signal_report": "team:signals",
}


@pytest.fixture
def graph(replay_runtime: Runtime) -> Any:
    return build_defs(replay_runtime).resolve_asset_graph()


def _words(text: str | None) -> str:
    return " ".join((text or "").split())


def test_every_asset_and_check_has_a_description(graph: Any) -> None:
    keys = list(graph.get_all_asset_keys())
    assert len(keys) > 20 and len(graph.asset_check_keys) > 40  # the whole location was loaded
    for key in keys:
        name = key.to_user_string()
        description = _words(graph.get(key).description)
        # dagster-dbt's fallback for a model without one in its yml names the model, nothing more.
        assert description and not description.startswith(f"dbt model {name}"), name
        assert len(description.split(" ")) >= 5, f"{name}: {description!r}"
    for check_key in graph.asset_check_keys:
        description = _words(graph.get_check_spec(check_key).description)
        assert len(description.split(" ")) >= 8, f"{check_key.to_user_string()}: {description!r}"


def test_a_dbt_test_description_reaches_its_asset_check(graph: Any) -> None:
    yml = yaml.safe_load((dbt_project_dir() / "models" / "marts" / "fct_layer_bars.yml").read_text())
    [model] = yml["models"]
    [unique] = [t["unique_combination"] for t in model["data_tests"]]
    check = dg.AssetCheckKey(
        dg.AssetKey("fct_layer_bars"), "unique_combination_fct_layer_bars_coin__interval__ts"
    )
    assert _words(graph.get_check_spec(check).description) == _words(unique["description"])
    [ts] = [c for c in model["columns"] if c["name"] == "ts"]
    check = dg.AssetCheckKey(dg.AssetKey("fct_layer_bars"), "not_null_fct_layer_bars_ts")
    assert _words(graph.get_check_spec(check).description) == _words(
        ts["data_tests"][0]["not_null"]["description"]
    )


def test_every_dbt_model_source_and_test_is_described(replay_runtime: Runtime) -> None:
    """Sources are no Dagster assets of their own (they point at the raw_* assets): the manifest
    is where a missing description shows."""
    manifest = json.loads(dbt_project().manifest_path.read_text())
    nodes = [n for n in manifest["nodes"].values() if n["package_name"] == "sniper"]
    nodes += [s for s in manifest["sources"].values() if s["package_name"] == "sniper"]
    kinds = {n["resource_type"] for n in nodes}
    assert {"model", "test", "source"} <= kinds
    missing = [n["unique_id"] for n in nodes if not _words(n.get("description"))]
    assert not missing, missing
    source_groups = {s["source_name"]: s["source_description"] for s in manifest["sources"].values()}
    assert all(_words(text) for text in source_groups.values()), source_groups


def test_every_asset_has_an_owner_a_domain_and_its_kinds(graph: Any) -> None:
    for key in graph.get_all_asset_keys():
        node, name = graph.get(key), key.to_user_string()
        assert node.owners and all(o.startswith("team:") for o in node.owners), (name, node.owners)
        assert node.tags.get("domain") in ("market-data", "signals"), (name, node.tags)
        assert node.kinds, name
    for name, owner in OWNERS.items():
        assert graph.get(dg.AssetKey(name)).owners == [owner], name


def test_assets_of_one_layer_carry_its_layer_tag(graph: Any) -> None:
    tagged = {
        key.to_user_string(): graph.get(key).tags["layer"]
        for key in graph.get_all_asset_keys()
        if "layer" in graph.get(key).tags
    }
    assert tagged == EXPECTED_LAYERS
    assert not set(NO_LAYER) & set(tagged)
    # The UI's filter finds them: the tag is on the asset definitions, not only in a table.
    selected = dg.AssetSelection.tag("layer", "funding").resolve(graph)
    assert {k.to_user_string() for k in selected} == {
        n for n, layer in EXPECTED_LAYERS.items() if layer == "funding"
    }


def test_declared_owners_and_tags_win_and_an_unplaced_asset_is_left_alone() -> None:
    spec = with_catalog(dg.AssetSpec("raw_funding", group_name="ingest", owners=["alice@desk.example"]))
    assert spec.owners == ["alice@desk.example"]
    assert spec.tags == {"domain": "market-data", "layer": "funding"}
    spec = with_catalog(dg.AssetSpec("stg_coinglass__funding", group_name="transform", tags={"layer": "x"}))
    assert spec.tags["layer"] == "x" and spec.owners == ["team:market-data"]
    # Loading must not break on it; test_every_asset_has_an_owner_a_domain_and_its_kinds fails.
    spec = with_catalog(dg.AssetSpec("new_thing", group_name="research"))
    assert not spec.owners and "domain" not in spec.tags
