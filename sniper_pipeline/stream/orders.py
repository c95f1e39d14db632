"""One liquidation order of the `liquidationOrders` channel, its deterministic id, and push parsing.

A push is `{"channel": "liquidationOrders", "data": [{"baseAsset", "exName", "price", "side",
"symbol", "time", "volUsd"}, ...]}`; side 1 = a long position liquidated, 2 = a short one.
Numbers may arrive as strings (docs/coinglass-v4.md, "Drift"), so every field is coerced here."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

CHANNEL = "liquidationOrders"
SIDE_LONG, SIDE_SHORT = 1, 2


@dataclass(frozen=True)
class LiquidationOrder:
    exchange: str  # exName, as sent
    symbol: str  # the pair instrument, e.g. BTCUSDT
    base_asset: str  # upper case, e.g. BTC
    side: int  # 1 long liquidated, 2 short liquidated
    price: float
    vol_usd: float
    time_ms: int

    @property
    def is_long(self) -> bool:
        return self.side == SIDE_LONG

    @property
    def order_id(self) -> str:
        """Same order, same id: a replayed or reconnect-duplicated push is stored once.

        Floats go through repr so 3858.184 and "3858.184" hash alike."""
        key = "|".join(
            (
                self.exchange,
                self.symbol,
                str(self.time_ms),
                str(self.side),
                repr(self.price),
                repr(self.vol_usd),
            )
        )
        return hashlib.sha256(key.encode("utf-8")).hexdigest()


class MalformedPushError(ValueError):
    """A push that is not JSON or not a liquidationOrders message."""


def _number(value: Any, name: str) -> float:
    number = float(value)  # raises on None, "", "abc"
    if not math.isfinite(number):
        raise ValueError(f"{name} is not finite")
    return number


def parse_row(row: Any) -> LiquidationOrder:
    """One `data` row; ValueError/KeyError/TypeError when a field is missing or unusable."""
    if not isinstance(row, dict):
        raise TypeError("row is not an object")
    side = int(_number(row["side"], "side"))
    if side not in (SIDE_LONG, SIDE_SHORT):
        raise ValueError(f"side {side} is neither 1 (long) nor 2 (short)")
    vol = _number(row["volUsd"], "volUsd")
    if vol < 0:
        raise ValueError("volUsd is negative")
    return LiquidationOrder(
        exchange=str(row["exName"]).strip(),
        symbol=str(row["symbol"]).strip(),
        base_asset=str(row["baseAsset"]).strip().upper(),
        side=side,
        price=_number(row["price"], "price"),
        vol_usd=vol,
        time_ms=int(_number(row["time"], "time")),
    )


def parse_push(message: str | bytes | dict[str, Any]) -> tuple[list[LiquidationOrder], int] | None:
    """(orders, number of unusable rows) of a liquidationOrders push; None for other messages
    (acks, other channels). MalformedPushError when the message is not a JSON object."""
    if isinstance(message, dict):
        obj: Any = message
    else:
        try:
            obj = json.loads(message)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MalformedPushError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise MalformedPushError("not a JSON object")
    if obj.get("channel") != CHANNEL:
        return None
    rows = obj.get("data")
    if isinstance(rows, dict):  # a single order not wrapped in a list: accept it too
        rows = [rows]
    if not isinstance(rows, list):
        raise MalformedPushError("liquidationOrders push without a data list")
    orders: list[LiquidationOrder] = []
    bad = 0
    for row in rows:
        try:
            orders.append(parse_row(row))
        except (KeyError, ValueError, TypeError):
            bad += 1
    return orders, bad


class OrderFilter:
    """Keeps orders of the given exchanges and coins (case-insensitive); None means any."""

    def __init__(self, exchanges: Iterable[str] | None = None, coins: Iterable[str] | None = None) -> None:
        ex = frozenset(e.strip().lower() for e in exchanges or () if e.strip())
        cs = frozenset(c.strip().upper() for c in coins or () if c.strip())
        self.exchanges: frozenset[str] | None = ex or None
        self.coins: frozenset[str] | None = cs or None

    def __call__(self, order: LiquidationOrder) -> bool:
        if self.exchanges is not None and order.exchange.lower() not in self.exchanges:
            return False
        return self.coins is None or order.base_asset in self.coins

    def __repr__(self) -> str:
        ex = sorted(self.exchanges) if self.exchanges is not None else "any"
        coins = sorted(self.coins) if self.coins is not None else "any"
        return f"OrderFilter(exchanges={ex}, coins={coins})"
