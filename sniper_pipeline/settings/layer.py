"""The four signal layers, one vocabulary for config, warehouse, engine, CLI, report and alerts.

A layer's value is its canonical name, the one of `config/layers.yaml` and of the warehouse
(`coin_layer_sources.layer`). The engine and dbt name a layer's columns by a shorter prefix
(`oi_roc_pct`, `liq_level`, `layers_json` keys): `prefix` ties the two vocabularies together, so
neither the config nor any stored column changes. A new layer is a member here plus its
genuinely layer-specific code (source, staging model, metric, thresholds).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Layer(StrEnum):
    FUNDING = "funding"
    OPEN_INTEREST = "open_interest"
    LIQUIDATION = "liquidation"
    TAKER = "taker"

    @property
    def prefix(self) -> str:
        """Column prefix in the engine and dbt (`oi_level`, `liq_total_usd`); key of `layers_json`."""
        return _ATTRIBUTES[self].prefix

    @property
    def label(self) -> str:
        """Name in a sentence: "OI change 12.3% > p95 8.1"."""
        return _ATTRIBUTES[self].label

    @property
    def unit(self) -> str:
        """Unit of the thresholded metric (`layers_json` "unit")."""
        return _ATTRIBUTES[self].unit

    @property
    def value_column(self) -> str:
        """The engine's column compared with the layer's thresholds (signed for open interest,
        whose thresholds apply to its magnitude)."""
        return _ATTRIBUTES[self].value_column

    @property
    def table(self) -> str:
        """Stem of the raw table and the staging model: `raw_<table>`, `stg_coinglass__<table>`."""
        return _ATTRIBUTES[self].table

    @property
    def raw_table(self) -> str:
        return f"raw_{self.table}"

    @classmethod
    def from_prefix(cls, prefix: str) -> Layer:
        """The layer whose column prefix is `prefix` ("oi" -> OPEN_INTEREST); ValueError if none."""
        for layer in cls:
            if layer.prefix == prefix:
                return layer
        raise ValueError(f"no layer has the column prefix {prefix!r}")


@dataclass(frozen=True)
class _Attributes:
    prefix: str
    label: str
    unit: str
    value_column: str
    table: str


_ATTRIBUTES: dict[Layer, _Attributes] = {
    Layer.FUNDING: _Attributes("funding", "funding", "bps_8h", "funding_abs_bps_8h", "funding"),
    Layer.OPEN_INTEREST: _Attributes("oi", "OI change", "pct", "oi_roc_pct", "open_interest"),
    Layer.LIQUIDATION: _Attributes("liq", "liquidations", "usd", "liq_total_usd", "liquidations"),
    Layer.TAKER: _Attributes("taker", "taker ratio", "ratio", "taker_ratio", "taker_volume"),
}
