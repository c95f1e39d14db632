from __future__ import annotations

from sniper_pipeline.engine import THRESHOLD_SPECS, ThresholdParams


def test_threshold_column_names_carry_units_and_percentiles() -> None:
    names = [spec.columns(ThresholdParams()) for spec in THRESHOLD_SPECS]
    assert names == [
        ("funding_p85_bps_8h", "funding_p95_bps_8h", "funding_p99_bps_8h"),
        ("oi_roc_p85_pct", "oi_roc_p95_pct", "oi_roc_p99_pct"),
        ("liq_total_p85_usd", "liq_total_p95_usd", "liq_total_p99_usd"),
        ("taker_hi_p85", "taker_hi_p95", "taker_hi_p99"),
        ("taker_lo_p15", "taker_lo_p5", "taker_lo_p1"),
    ]
    tuned = ThresholdParams(high_percentiles=(90.0, 97.5, 99.5))
    assert THRESHOLD_SPECS[0].columns(tuned) == (
        "funding_p90_bps_8h",
        "funding_p97_5_bps_8h",
        "funding_p99_5_bps_8h",
    )
