"""CoinGlass v4 replay server: recorded responses served over the real HTTP contract.

A sibling of the client (`sniper_pipeline.coinglass`), stdlib only: import the module you need
(`replay.server.ReplayServer`, `replay.cli.serve_main`, `replay.faults`, `replay.sample`).
`replay.bars` (engine input bars from a recordings folder) is the one module that needs pandas."""
