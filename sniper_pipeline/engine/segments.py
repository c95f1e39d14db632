"""Several coins scored together: their bars laid end to end in one set of arrays.

Per-bar steps (levels, confluence, direction) then run once over every coin, and the
steps that look back (rolling thresholds, tightening) stop at a coin's first bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.intp]


@dataclass(frozen=True)
class Segments:
    """Coin k is rows bounds[k]:bounds[k + 1] of the arrays (each coin at least one bar)."""

    bounds: IntArray  # (coins + 1,), from 0, strictly ascending

    @classmethod
    def of(cls, lengths: Sequence[int]) -> Segments:
        bounds = np.zeros(len(lengths) + 1, dtype=np.intp)
        np.cumsum(lengths, out=bounds[1:])
        return cls(bounds)

    @property
    def lengths(self) -> IntArray:
        return np.diff(self.bounds)

    def __len__(self) -> int:
        return int(self.bounds.shape[0] - 1)

    def per_bar(self, values: Sequence[Any] | NDArray[Any]) -> NDArray[Any]:
        """One value per coin, repeated over its bars."""
        return np.repeat(np.asarray(values), self.lengths)

    def first_bar(self) -> IntArray:
        """Each bar's coin's first row."""
        return np.repeat(self.bounds[:-1], self.lengths)
