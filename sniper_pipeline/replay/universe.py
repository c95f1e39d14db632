"""A synthetic universe for load tests and benchmarks: N coins cloned from a recordings folder.

Each new coin (U001, U002, ...) replays one recorded coin's files under its own name (symbols
renamed in params, pair symbols included, and in the instrument rows of its pairs-markets
listing, so its pair series resolve), cycling through the recorded coins; files without a
symbol (ETF flows, exchange lists) are kept once. Values and dates stay as recorded, so every
clone behaves like its source coin while the pipeline sees N distinct coins."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

SOURCE_COINS = ("BTC", "ETH", "SOL", "XRP")
PAIRS_MARKETS = "/api/futures/pairs-markets"  # as in coinglass.endpoints (replay is stdlib only)


def universe_coin(index: int) -> str:
    return f"U{index + 1:03d}"


def _renamed(symbol: str, source: str, coin: str) -> str | None:
    """BTC -> U001, BTCUSDT -> U001USDT, BTC-USDT-SWAP -> U001-USDT-SWAP; None when not `source`'s."""
    if symbol == source:
        return coin
    rest = symbol[len(source) :]
    if symbol.startswith(source) and rest[:1] in ("-", "_", "U"):
        return coin + rest
    return None


def _copy_renamed(entry: dict[str, Any], source_dir: Path, target: Path, source: str, coin: str) -> None:
    """Copy a recording; in the coin's listing of instruments (pairs-markets), the source coin's
    instrument ids and symbols become the clone's."""
    path = source_dir / entry["file"]
    if entry.get("endpoint") != PAIRS_MARKETS:
        shutil.copyfile(path, target)  # one copy per file: the server reads each once
        return
    body = json.loads(path.read_text())
    for row in body.get("data") or []:
        for field in ("instrument_id", "symbol"):
            value = str(row.get(field, ""))
            # The listing is the source coin's: BTCPERP and BTC250627 are its pairs too.
            if value.startswith(source):
                row[field] = coin + value[len(source) :]
    target.write_text(json.dumps(body))


def build_universe(source_dir: Path, target: Path, n_coins: int) -> list[str]:
    """Write a recordings folder of `n_coins` renamed coins into `target`; their names."""
    target.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = json.loads((source_dir / "manifest.json").read_text())
    shared = [e for e in manifest["files"] if "symbol" not in e["params"]]
    files = []
    for entry in shared:
        shutil.copyfile(source_dir / entry["file"], target / Path(entry["file"]).name)
        files.append({**entry, "file": Path(entry["file"]).name})
    coins = [universe_coin(i) for i in range(n_coins)]
    for index, coin in enumerate(coins):
        source = SOURCE_COINS[index % len(SOURCE_COINS)]
        for number, entry in enumerate(manifest["files"]):
            symbol = _renamed(str(entry["params"].get("symbol", "")), source, coin)
            if symbol is None:
                continue
            name = f"{coin}_{number:03d}.json"
            _copy_renamed(entry, source_dir, target / name, source, coin)
            files.append({**entry, "file": name, "params": {**entry["params"], "symbol": symbol}})
    (target / "manifest.json").write_text(json.dumps({**manifest, "files": files}))
    return coins
