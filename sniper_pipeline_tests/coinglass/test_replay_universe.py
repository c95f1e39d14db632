"""The synthetic universe of the load tests and benchmarks: a clone's pair series resolve in its
own pairs-markets listing exactly where its source coin's resolve in the recording."""

from __future__ import annotations

import json
from pathlib import Path

from sniper_pipeline.replay.sample import sample_dir
from sniper_pipeline.replay.universe import PAIRS_MARKETS, SOURCE_COINS, build_universe


def _resolving_pairs(folder: Path) -> dict[str, set[tuple[str, str]]]:
    """Per coin, the (exchange, symbol) of its pair series that its listing names."""
    files = json.loads((folder / "manifest.json").read_text())["files"]
    listed = {
        e["params"]["symbol"]: {
            (r["exchange_name"], r["instrument_id"])
            for r in json.loads((folder / e["file"]).read_text())["data"]
        }
        for e in files
        if e["endpoint"] == PAIRS_MARKETS
    }
    out: dict[str, set[tuple[str, str]]] = {coin: set() for coin in listed}
    for e in files:
        params = e["params"]
        if "exchange" not in params:
            continue
        coin = max((c for c in listed if params["symbol"].startswith(c)), key=len, default=None)
        if coin is not None and (params["exchange"], params["symbol"]) in listed[coin]:
            out[coin].add((params["exchange"], params["symbol"][len(coin) :]))
    return out


def test_each_clones_pair_series_resolve_like_its_source_coins(tmp_path: Path) -> None:
    coins = build_universe(sample_dir(), tmp_path, 5)
    source = _resolving_pairs(sample_dir())
    clones = _resolving_pairs(tmp_path)
    assert set(clones) == set(coins)
    for index, coin in enumerate(coins):
        original = source[SOURCE_COINS[index % len(SOURCE_COINS)]]
        assert original, "the sample's pair series resolve in its listings"
        assert clones[coin] == original, coin
