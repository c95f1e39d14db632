"""Lift, direction hit rate and seeded bootstrap confidence intervals.

Lift = mean forward move after the condition / mean forward move over every bar of the same
coin and period. Hit rate = share of directional (up/down) alerts whose forward return has the
alert's sign. The bootstrap resamples circular blocks: forward windows of neighbouring bars
overlap, so resampling single bars would make the intervals too narrow. Few events give wide
intervals; they are reported as they are (NaN only when there is nothing to resample).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

N_BOOT = 2000
LEVEL = 0.95


def lift(conditional: FloatArray, unconditional: FloatArray) -> float:
    """Conditional mean over unconditional mean (NaNs dropped); NaN when either is empty."""
    c = conditional[np.isfinite(conditional)]
    u = unconditional[np.isfinite(unconditional)]
    if len(c) == 0 or len(u) == 0 or u.mean() == 0:
        return float("nan")
    return float(c.mean() / u.mean())


def hits(returns: FloatArray, directions: NDArray[np.int8]) -> FloatArray:
    """1.0 when the sign of the return matches the direction (+1 up, -1 down), 0.0 when not;
    NaN for mixed directions or a missing return. A flat return is a miss."""
    out = np.where(np.sign(returns) == directions, 1.0, 0.0)
    out[(directions == 0) | ~np.isfinite(returns)] = np.nan
    return out


def hit_rate(returns: FloatArray, directions: NDArray[np.int8]) -> float:
    h = hits(returns, directions)
    h = h[np.isfinite(h)]
    return float(h.mean()) if len(h) else float("nan")


def resample_indices(n: int, n_boot: int, rng: np.random.Generator, block: int = 1) -> NDArray[np.intp]:
    """(n_boot, n) indices of a circular block bootstrap (plain iid when block == 1)."""
    # A block as long as the sample would only rotate it (every resample has the same mean, a
    # zero-width interval): keep at least four blocks.
    block = max(1, min(block, n // 4))
    n_blocks = -(-n // block)
    starts = rng.integers(0, n, size=(n_boot, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)) % n
    return idx.reshape(n_boot, n_blocks * block)[:, :n]


def _percentile_ci(samples: FloatArray, level: float) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if len(samples) == 0:
        return float("nan"), float("nan")
    alpha = (1 - level) / 2 * 100
    lo, hi = np.percentile(samples, [alpha, 100 - alpha])
    return float(lo), float(hi)


def bootstrap_ci(
    values: FloatArray,
    statistic: Callable[[FloatArray], FloatArray] = lambda x: x.mean(axis=1),
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    block: int = 1,
    level: float = LEVEL,
) -> tuple[float, float]:
    """Percentile CI of a row-wise statistic over resampled `values` (NaNs dropped first)."""
    v = values[np.isfinite(values)]
    if len(v) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    return _percentile_ci(statistic(v[resample_indices(len(v), n_boot, rng, block)]), level)


def lift_ci(
    conditional: FloatArray,
    unconditional: FloatArray,
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    block: int = 1,
    level: float = LEVEL,
) -> tuple[float, float]:
    """Both means resampled independently (the baseline is an estimate too)."""
    c = conditional[np.isfinite(conditional)]
    u = unconditional[np.isfinite(unconditional)]
    if len(c) == 0 or len(u) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    c_means = c[resample_indices(len(c), n_boot, rng, block)].mean(axis=1)
    u_means = u[resample_indices(len(u), n_boot, rng, block)].mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _percentile_ci(c_means / u_means, level)


@dataclass(frozen=True)
class Metric:
    """One condition against its baseline at one horizon."""

    n: int  # conditioned bars with a complete horizon
    lift: float
    lift_lo: float
    lift_hi: float
    rv_lift: float
    rv_lift_lo: float
    rv_lift_hi: float
    hit_n: int  # of which with an up/down direction
    hit_rate: float
    hit_lo: float
    hit_hi: float
    base_hit_rate: float  # the hit rate of the same directions on random bars

    def as_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def conditional_metric(
    absret: FloatArray,
    rv: FloatArray,
    ret: FloatArray,
    mask: NDArray[np.bool_],
    directions: NDArray[np.int8],
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    block: int = 1,
) -> Metric:
    """Metrics of the bars in `mask` against every bar (arrays aligned, NaN = no horizon).

    `directions` (+1 up, -1 down, 0 mixed) is read on the masked bars only. The baseline hit
    rate is what the same mix of directions would score on a random bar: share_up * P(up) +
    share_down * P(down).
    """
    valid = mask & np.isfinite(absret)
    c_abs, c_rv = absret[valid], rv[valid]
    h = hits(ret[valid], directions[valid])
    h = h[np.isfinite(h)]
    all_ret = ret[np.isfinite(ret)]
    d = directions[valid]
    d = d[d != 0]
    if len(all_ret) and len(d):
        p_up, p_down = float((all_ret > 0).mean()), float((all_ret < 0).mean())
        base = float((d > 0).mean() * p_up + (d < 0).mean() * p_down)
    else:
        base = float("nan")
    lo, hi = lift_ci(c_abs, absret, n_boot=n_boot, seed=seed, block=block)
    rlo, rhi = lift_ci(c_rv, rv, n_boot=n_boot, seed=seed + 1, block=block)
    hlo, hhi = bootstrap_ci(h, n_boot=n_boot, seed=seed + 2, block=block)
    return Metric(
        n=int(valid.sum()),
        lift=lift(c_abs, absret),
        lift_lo=lo,
        lift_hi=hi,
        rv_lift=lift(c_rv, rv),
        rv_lift_lo=rlo,
        rv_lift_hi=rhi,
        hit_n=len(h),
        hit_rate=float(h.mean()) if len(h) else float("nan"),
        hit_lo=hlo,
        hit_hi=hhi,
        base_hit_rate=base,
    )
