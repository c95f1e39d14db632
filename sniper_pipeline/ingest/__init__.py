"""Fetch CoinGlass layers and snapshots and write them to the warehouse (no Dagster here)."""
