"""CoinGlass v4 client: transport with retries, rate limiting, clock, endpoints, paging, parsing.

Plain Python (no Dagster); `defs/ingest/resources.py` wraps `CoinGlassClient` in a resource.
Import the module you need (`coinglass.client`, `coinglass.endpoints`, ...). The replay server
that speaks the same HTTP contract is the sibling package `sniper_pipeline.replay`.
"""
