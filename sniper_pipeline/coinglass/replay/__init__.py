"""CoinGlass v4 replay server: recorded responses served over the real HTTP contract."""

from sniper_pipeline.coinglass.replay.cli import serve_main
from sniper_pipeline.coinglass.replay.faults import FaultSpecError, parse_faults
from sniper_pipeline.coinglass.replay.sample import sample_dir
from sniper_pipeline.coinglass.replay.server import ReplayServer

__all__ = ["FaultSpecError", "ReplayServer", "parse_faults", "sample_dir", "serve_main"]
