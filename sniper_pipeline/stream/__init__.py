"""The liquidation stream: a long-running WebSocket client for CoinGlass `liquidationOrders`
(`client`), its own store (`store`: SQLite by default, PostgreSQL in production, never the DuckDB
warehouse), a replay WebSocket server speaking the same protocol (`replay_ws`), the per-coin
thresholds file the scoring run writes (`thresholds`) and the pure decision of the Dagster
`liquidation_stream_sensor` (`trigger`). No Dagster here."""
