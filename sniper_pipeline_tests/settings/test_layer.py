"""`Layer`: one vocabulary, and the modules that used to keep their own lists draw on it."""

from __future__ import annotations

import pytest

from sniper_pipeline import engine
from sniper_pipeline.ingest.layers import LAYER_TABLES
from sniper_pipeline.settings.layer import Layer
from sniper_pipeline.settings.layers import LAYERS, load_layers
from sniper_pipeline.settings.paths import config_dir, dbt_project_dir
from sniper_pipeline.warehouse.tables import metadata


def test_every_layer_has_its_attributes_and_they_do_not_collide() -> None:
    for layer in Layer:
        assert all((layer.prefix, layer.label, layer.unit, layer.value_column, layer.table)), layer
        assert layer.value_column.startswith(f"{layer.prefix}_")
    for attribute in ("prefix", "label", "value_column", "table"):
        values = [getattr(layer, attribute) for layer in Layer]
        assert len(set(values)) == len(values), attribute


def test_values_are_the_config_and_warehouse_names_prefixes_the_engine_and_dbt_names() -> None:
    assert [str(layer) for layer in Layer] == ["funding", "open_interest", "liquidation", "taker"]
    assert [layer.prefix for layer in Layer] == ["funding", "oi", "liq", "taker"]
    assert Layer("open_interest") is Layer.OPEN_INTEREST
    assert Layer.from_prefix("oi") is Layer.OPEN_INTEREST
    assert all(Layer.from_prefix(layer.prefix) is layer for layer in Layer)
    with pytest.raises(ValueError, match="prefix"):
        Layer.from_prefix("price")


def test_settings_and_engine_take_their_layers_from_the_enum() -> None:
    assert tuple(Layer) == LAYERS
    assert all(type(name) is str for name in LAYERS)  # plain names, as they reach the warehouse
    assert tuple(layer.prefix for layer in Layer) == engine.LAYERS
    for spec in engine.THRESHOLD_SPECS:
        layer = Layer.from_prefix(spec.layer)
        assert (spec.unit, spec.source) == (layer.unit, layer.value_column), spec.metric
    assert {Layer.from_prefix(spec.layer) for spec in engine.THRESHOLD_SPECS} == set(Layer)


def test_each_layer_has_its_config_raw_table_and_staging_model() -> None:
    config = load_layers(config_dir())
    staging = dbt_project_dir() / "models" / "staging"
    for layer in Layer:
        assert all(profile.layers.get(layer) for profile in config.profiles.values()), layer
        assert layer.raw_table in metadata.tables
        assert LAYER_TABLES[layer].name == layer.raw_table
        assert (staging / f"stg_coinglass__{layer.table}.sql").is_file()
