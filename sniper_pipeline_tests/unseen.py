"""Build a recordings folder the pipeline has never seen, from the shipped sample: another coin
name, shifted dates, another exchange list, a different file list (taker only at 1d), and the
documented `unit=usd` on the aggregated OI and taker requests (real recordings carry it; the
values stay USD)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sniper_pipeline.replay.sample import sample_dir

SHIFT_MS = 41 * 86_400_000  # 41 days later
# Documented optional params added to these endpoints' requests (docs/coinglass-v4.md).
EXTRA_PARAMS = {
    "/api/futures/open-interest/aggregated-history": {"unit": "usd"},
    "/api/futures/aggregated-taker-buy-sell-volume/history": {"unit": "usd"},
}
KEEP = {
    ("/api/futures/open-interest/aggregated-history", "4h"),
    ("/api/futures/liquidation/aggregated-history", "4h"),
    ("/api/futures/funding-rate/oi-weight-history", "4h"),
    ("/api/futures/aggregated-taker-buy-sell-volume/history", "1d"),
    ("/api/spot/price/history", "1d"),
}


def _shift(rows: Any, field: str) -> Any:
    if isinstance(rows, list):
        for row in rows:
            if isinstance(row, dict) and row.get(field) is not None:
                row[field] = int(row[field]) + SHIFT_MS
    return rows


def build_unseen(target: Path, source_coin: str = "SOL", new_coin: str = "HYPE") -> Path:
    source = sample_dir()
    target.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((source / "manifest.json").read_text())
    files = []
    for entry in manifest["files"]:
        params = entry["params"]
        pair = "exchange" in params
        symbol = f"{source_coin}USDT" if pair else source_coin
        if params.get("symbol") != symbol or (entry["endpoint"], params.get("interval")) not in KEEP:
            continue
        envelope = json.loads((source / entry["file"]).read_text())
        envelope["data"] = _shift(envelope["data"], entry.get("time_field") or "time")
        new_params = {
            **params,
            "symbol": f"{new_coin}USDT" if pair else new_coin,
            **EXTRA_PARAMS.get(entry["endpoint"], {}),
        }
        if "exchange_list" in new_params:
            new_params["exchange_list"] = "OKX,Bybit"
        name = "unseen_" + "_".join(f"{k}-{v}" for k, v in sorted(new_params.items())).replace(",", "+")
        name += "_" + entry["endpoint"].strip("/").replace("/", "_") + ".json"
        (target / name).write_text(json.dumps(envelope))
        files.append({**entry, "file": name, "params": new_params})
    (target / "manifest.json").write_text(json.dumps({"files": files}))
    return target
