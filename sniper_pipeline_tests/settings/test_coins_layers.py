from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sniper_pipeline.settings.coins import load_coins
from sniper_pipeline.settings.errors import ConfigError
from sniper_pipeline.settings.layers import LAYERS, load_layers
from sniper_pipeline.settings.paths import config_dir


def test_shipped_config_lists_the_runbook_coins_and_every_layer() -> None:
    coins = load_coins(config_dir())
    assert set(coins.coins) == {
        "BTC",
        "ETH",
        "SOL",
        "DOGE",
        "ADA",
        "DOT",
        "MATIC",
        "LINK",
        "AVAX",
        "UNI",
        "XRP",
    }
    assert coins.resolve("POL") == "MATIC"
    assert coins.coins["MATIC"].pair_for("Binance") == "POLUSDT"
    layers = load_layers(config_dir())
    for profile in ("live", "replay"):
        assert all(layers.profiles[profile].layers[layer] for layer in LAYERS)
    live_liq = layers.profiles["live"].layers["liquidation"][0]
    assert live_liq.exchange_list == "OKX,Binance,Bybit" and live_liq.interval == "1h"


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    shutil.copytree(config_dir(), tmp_path / "config")
    return tmp_path / "config"


def test_bad_coins_file_names_file_and_key(config_copy: Path) -> None:
    (config_copy / "coins.yaml").write_text("coins:\n  BTC: {symbols: []}\n")
    with pytest.raises(ConfigError) as err:
        load_coins(config_copy)
    assert "coins.yaml" in str(err.value) and "coins.BTC.symbols" in str(err.value)


def test_bad_layer_interval_names_file_and_key(config_copy: Path) -> None:
    text = (
        (config_copy / "layers.yaml")
        .read_text()
        .replace("interval: 1h, unit: coin", "interval: 2h, unit: coin")
    )
    (config_copy / "layers.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_layers(config_copy)
    assert "layers.yaml" in str(err.value) and "open_interest" in str(err.value) and "2h" in str(err.value)


def test_unknown_key_and_broken_yaml_are_rejected(config_copy: Path) -> None:
    (config_copy / "layers.yaml").write_text((config_copy / "layers.yaml").read_text() + "\nsurprise: 1\n")
    with pytest.raises(ConfigError, match="surprise"):
        load_layers(config_copy)
    (config_copy / "coins.yaml").write_text("coins: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_coins(config_copy)
