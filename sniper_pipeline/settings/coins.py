"""`config/coins.yaml`: which coins are scored and how the API names them."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sniper_pipeline.settings.yamlfile import load_model


class CoinSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbols: list[str] = Field(min_length=1, description="CoinGlass coin symbols, preferred first")
    pairs: dict[str, str] = Field(default_factory=dict, description="exchange -> pair instrument")

    @field_validator("symbols")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        return [s.strip().upper() for s in value]

    def pair_for(self, exchange: str) -> str:
        return self.pairs.get(exchange, f"{self.symbols[0]}USDT")


class CoinsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    coins: dict[str, CoinSpec] = Field(min_length=1)

    @field_validator("coins")
    @classmethod
    def _keys_upper(cls, value: dict[str, CoinSpec]) -> dict[str, CoinSpec]:
        return {k.strip().upper(): v for k, v in value.items()}

    def resolve(self, symbol: str) -> str | None:
        """The configured coin a CoinGlass symbol belongs to (MATIC for POL), else None."""
        symbol = symbol.upper()
        for coin, spec in self.coins.items():
            if symbol == coin or symbol in spec.symbols:
                return coin
        return None


def load_coins(config_dir: Path) -> CoinsConfig:
    return load_model(config_dir / "coins.yaml", CoinsConfig)
