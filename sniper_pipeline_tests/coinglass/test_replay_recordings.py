"""Loading recordings folders and matching requests to recordings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sniper_pipeline.replay.recordings import (
    RecordingIndex,
    UnknownEndpoint,
    UnknownSymbol,
    UnrecordedParams,
    load_index,
)
from sniper_pipeline_tests.coinglass.conftest import SYNTHETIC_DRIFT_DIR, SYNTHETIC_ENDPOINTS_DIR

FUNDING = "/api/futures/funding-rate/history"
OI = "/api/futures/open-interest/aggregated-history"


def write_folder(root: Path, entries: list[tuple[dict[str, Any], Any]]) -> Path:
    """A recordings folder from (manifest entry, file body) pairs."""
    root.mkdir(parents=True, exist_ok=True)
    for entry, body in entries:
        (root / entry["file"]).write_text(json.dumps(body))
    (root / "manifest.json").write_text(json.dumps({"files": [e for e, _ in entries]}))
    return root


@pytest.fixture(scope="module")
def sample_index(sample_data_dir: Path) -> RecordingIndex:
    return load_index(sample_data_dir)


def test_every_manifest_entry_is_loaded(sample_data_dir: Path, sample_index: RecordingIndex) -> None:
    manifest = json.loads((sample_data_dir / "manifest.json").read_text())
    assert len(sample_index.recordings) == len(manifest["files"])
    for rec, entry in zip(sample_index.recordings, manifest["files"], strict=True):
        assert rec.file == entry["file"]
        if rec.series is not None:
            assert len(rec.series.rows) + len(rec.series.untimed) == entry["rows"]


def test_lookup_ignores_param_order_and_paging(sample_index: RecordingIndex) -> None:
    a = sample_index.lookup(OI, {"interval": "4h", "symbol": "ETH"})
    b = sample_index.lookup(OI, {"symbol": "ETH", "limit": "5", "end_time": "1", "interval": "4h"})
    assert a is b and a.params == {"symbol": "ETH", "interval": "4h"}


def test_symbol_aliases_reach_the_recording(sample_index: RecordingIndex) -> None:
    rec = sample_index.lookup(FUNDING, {"exchange": "Bitget", "symbol": "BTCUSDT", "interval": "8h"})
    assert rec.params["symbol"] == "BTCUSDT_UMCBL"
    exact = sample_index.lookup(FUNDING, {"exchange": "Binance", "symbol": "BTCUSDT", "interval": "8h"})
    assert exact.params["exchange"] == "Binance"


def test_lookup_failures(sample_index: RecordingIndex) -> None:
    with pytest.raises(UnknownEndpoint):
        sample_index.lookup("/api/futures/nope", {})
    with pytest.raises(UnknownSymbol):
        sample_index.lookup(OI, {"symbol": "NOSUCHCOIN", "interval": "4h"})
    with pytest.raises(UnknownSymbol):
        sample_index.lookup(OI, {"symbol": "btc", "interval": "4h"})  # case-sensitive, like the API
    with pytest.raises(UnrecordedParams) as info:
        sample_index.lookup(OI, {"symbol": "BTC", "interval": "1h"})
    assert info.value.recorded == [{"symbol": "BTC", "interval": "4h"}]
    assert "symbol=BTC" in str(info.value) and "interval=4h" in str(info.value)
    with pytest.raises(UnrecordedParams):
        sample_index.lookup(OI, {"symbol": "BTC", "interval": "4H"})
    with pytest.raises(UnrecordedParams):
        sample_index.lookup(OI, {"symbol": "BTC"})  # a missing param is an unrecorded combination


def test_sample_is_real_and_synthetic_folders_are_marked(sample_index: RecordingIndex) -> None:
    assert not any(r.synthetic for r in sample_index.recordings)
    for folder in (SYNTHETIC_ENDPOINTS_DIR, SYNTHETIC_DRIFT_DIR):
        index = RecordingIndex.from_dir(folder)
        assert index.recordings and all(r.synthetic for r in index.recordings)


@pytest.mark.parametrize("folder", [SYNTHETIC_ENDPOINTS_DIR, SYNTHETIC_DRIFT_DIR], ids=["endpoints", "drift"])
def test_synthetic_manifests_describe_their_files(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["files"]:
        data = json.loads((folder / entry["file"]).read_text())["data"]
        assert entry["synthetic"] is True
        assert entry["rows"] == len(data), entry["file"]
        if entry["time_field"]:
            times = [row[entry["time_field"]] for row in data]
            assert entry["ascending"] == (times == sorted(times))
            assert entry["duplicate_timestamps"] == len(times) - len(set(times))


def test_synthetic_endpoints_cover_the_unrecorded_v4_endpoints() -> None:
    index = RecordingIndex.from_dir(SYNTHETIC_ENDPOINTS_DIR)
    assert set(index.endpoints) == {
        "/api/futures/supported-coins",
        "/api/futures/supported-exchanges",
        "/api/futures/supported-exchange-pairs",
        "/api/futures/liquidation/history",
        "/api/futures/liquidation/order",
        "/api/futures/v2/taker-buy-sell-volume/history",
    }


def test_any_folder_of_the_format_loads(tmp_path: Path) -> None:
    """Other coins, intervals, param value types and bare payloads: nothing sample-specific."""
    folder = write_folder(
        tmp_path / "rec",
        [
            (
                {
                    "file": "a.json",
                    "endpoint": "/api/x/history",
                    "params": {"symbol": "DOGE", "interval": "15m", "exchange_list": "OKX,Bybit", "n": 5},
                    "time_field": "ts",
                },
                {"code": "0", "msg": "success", "data": [{"ts": 3}, {"ts": 1}, {"ts": 2}]},
            ),
            ({"file": "b.json", "endpoint": "/api/x/list", "params": {"flag": True}}, ["bare", "list"]),
            ({"file": "c.json", "endpoint": "/api/x/err", "params": {}}, {"code": "40001", "msg": "no"}),
        ],
    )
    index = RecordingIndex.from_dir(folder)
    rec = index.lookup(
        "/api/x/history", {"n": "5", "exchange_list": "OKX,Bybit", "interval": "15m", "symbol": "DOGE"}
    )
    assert rec.series is not None and [r["ts"] for r in rec.series.rows] == [1, 2, 3]
    listed = index.lookup("/api/x/list", {"flag": "true"})
    assert (listed.code, listed.data, listed.series) == ("0", ["bare", "list"], None)
    err = index.lookup("/api/x/err", {})
    assert (err.code, err.msg) == ("40001", "no")


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            [
                ({"file": "a.json", "endpoint": "/e", "params": {"s": "1"}}, {"code": "0", "data": []}),
                ({"file": "b.json", "endpoint": "/e", "params": {"s": "1"}}, {"code": "0", "data": []}),
            ],
            "both answer",
        ),
        ([({"file": "a.json", "params": {}}, {"code": "0", "data": []})], "without 'endpoint'"),
    ],
)
def test_ambiguous_or_broken_manifests_fail_at_load(
    tmp_path: Path, entries: list[tuple[dict[str, Any], Any]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RecordingIndex.from_dir(write_folder(tmp_path / "rec", entries))


def test_missing_manifest_or_file_fails_at_load(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no manifest\.json"):
        RecordingIndex.from_dir(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"files": [{"file": "gone.json", "endpoint": "/e"}]}))
    with pytest.raises(ValueError, match="missing"):
        RecordingIndex.from_dir(tmp_path)
