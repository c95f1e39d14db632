"""Signal services above the pure engine: per-coin percentile configs (`configgen`). No Dagster here."""
