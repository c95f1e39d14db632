"""`data/stream_thresholds.json`: written by the scoring run, read by the sensor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sniper_pipeline.stream.thresholds import (
    CoinThreshold,
    ThresholdsFileError,
    read_thresholds,
    thresholds_path,
    update_threshold,
    write_thresholds,
)


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "data" / "stream_thresholds.json"
    write_thresholds(
        path,
        {
            "btc": {"liq_total_action_usd": 1_250_000, "interval": "4h", "data_through": "2025-06-30T16:00"},
            "ETH": CoinThreshold(400_000.5, "1h"),
            "DOGE": {"liq_total_action_usd": None, "interval": "4h"},  # too little history yet
        },
    )
    raw = json.loads(path.read_text())
    assert raw["BTC"] == {
        "liq_total_action_usd": 1_250_000.0,
        "interval": "4h",
        "data_through": "2025-06-30T16:00",
    }
    assert read_thresholds(path) == {
        "BTC": CoinThreshold(1_250_000.0, "4h"),
        "ETH": CoinThreshold(400_000.5, "1h"),
    }
    assert [p.name for p in path.parent.iterdir()] == ["stream_thresholds.json"]  # no temp file left


def test_a_missing_file_means_no_thresholds(tmp_path: Path) -> None:
    assert read_thresholds(tmp_path / "nope.json") == {}


def test_the_default_path_follows_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNIPER_DATA_DIR", str(tmp_path))
    assert thresholds_path() == tmp_path / "stream_thresholds.json"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not JSON"),
        ("[]", "expected an object"),
        ('{"BTC": 5}', "BTC: expected an object"),
        ('{"BTC": {"liq_total_action_usd": 5, "interval": "2h"}}', "interval '2h'"),
        ('{"BTC": {"liq_total_action_usd": "5", "interval": "4h"}}', "is not a number"),
        ('{"BTC": {"liq_total_action_usd": -1, "interval": "4h"}}', "not a finite USD amount"),
    ],
)
def test_a_broken_file_says_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(content)
    with pytest.raises(ThresholdsFileError, match=message):
        read_thresholds(path)


def test_writing_validates_first(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    with pytest.raises(ThresholdsFileError):
        write_thresholds(path, {"BTC": {"liq_total_action_usd": float("nan"), "interval": "4h"}})
    assert not path.exists()


def test_update_sets_one_coin_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "stream_thresholds.json"
    update_threshold(path, "btc", 1000.0, "4h", data_through="2025-06-30T16:00:00+00:00")
    update_threshold(path, "ETH", 500.0, "4h")
    update_threshold(path, "BTC", 1200.0, "4h")
    assert read_thresholds(path) == {"BTC": CoinThreshold(1200.0, "4h"), "ETH": CoinThreshold(500.0, "4h")}
    path.write_text("{broken")
    update_threshold(path, "SOL", 7.0, "1h")
    assert read_thresholds(path) == {"SOL": CoinThreshold(7.0, "1h")}
