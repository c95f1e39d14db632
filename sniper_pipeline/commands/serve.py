"""`sniper serve`: the Dagster UI and daemon (sensors and schedules on), replay or live."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sniper_pipeline.commands.environment import api_environment
from sniper_pipeline.settings.paths import project_dir


def serve_command(*, live: bool, replay_dir: Path | None, host: str, port: int) -> int:
    with api_environment(live=live, replay_dir=replay_dir) as base_url:
        print(f"API: {'CoinGlass live' if live else base_url}; Dagster UI: http://{host}:{port}", flush=True)
        dagster = Path(sys.executable).with_name("dagster")
        cmd = [str(dagster), "dev", "-w", str(project_dir() / "workspace.yaml"), "-h", host, "-p", str(port)]
        try:
            return subprocess.call(cmd)
        except KeyboardInterrupt:
            return 0
