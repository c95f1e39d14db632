"""Scan benchmark: `sniper run` and `sniper serve` end to end, where the time goes.

    python benchmarks/scan.py [--cases shipped,universe11,universe100,serve11] [--out PATH]

Cases (each in fresh data, report and DAGSTER_HOME folders under a temporary directory):
- shipped: `sniper run` on the shipped recordings, first run then a no-op re-run;
- universe11 / universe100: a synthetic universe of 11 / 100 coins cloned from the recordings
  (`sniper_pipeline.replay.universe`), first run (the backfill) then a no-op re-run;
- serve11: `sniper serve` on the 11-coin universe with the replay clock a few minutes before
  a bar that opens an episode; a local receiver takes the alerts. Latency = the alert's arrival
  minus the bar's close on the replay clock (mapped to wall time via the server's Date header).

Per run it records the wall time and the steps' durations from Dagster's storage, grouped as
ingest, dbt, engine, delivery, report and Dagster overhead (wall time not spent in a step:
process start, imports, definitions, run storage). Writes benchmarks/results/scan.json.
Targets (2 cores): no-op re-run of the shipped coins < 15 s, first run < 40 s, 100 coins
< 3 min, bar close -> alert delivered <= sensor interval + 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from a checkout

from results_file import machine_context, write_results  # noqa: E402  (benchmarks/, beside this script)

from sniper_pipeline.defs.ops.sensors import SENSOR_INTERVAL_SECONDS  # noqa: E402
from sniper_pipeline.replay.sample import sample_dir  # noqa: E402
from sniper_pipeline.replay.universe import build_universe  # noqa: E402

SNIPER = str(Path(sys.executable).with_name("sniper"))
GROUPS = {
    "ingest": (
        "instruments",
        "raw_etf_flows",
        "raw_funding_intervals",
        "raw_liquidation_exchanges",
        "coin_layer_sources",
        "raw_layers",
    ),
    "dbt": ("coinglass_dbt",),
    "engine": ("percentile_configs", "score_coins"),
    "delivery": ("alert_outbox",),
    "report": ("api_health", "signal_evaluation", "signal_report"),
}
TARGETS = {"shipped_noop_s": 15, "shipped_first_s": 40, "universe100_first_s": 180}


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home / "dagster_home"),
        "SNIPER_DATA_DIR": str(home / "data"),
        "SNIPER_REPORTS_DIR": str(home / "reports"),
        **extra,
    }
    for var in ("SNIPER_WAREHOUSE_URL", "CG_BASE_URL", "SNIPER_PROFILE", "SNIPER_REPLAY_DIR"):
        env.pop(var, None) if var not in extra else None
    return env


def step_breakdown(dagster_home: Path, since: float) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds per step group, and per job (run start to end), over the runs started after
    `since` (epoch seconds)."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    totals = dict.fromkeys(GROUPS, 0.0)
    jobs: dict[str, float] = {}
    with dg.DagsterInstance.get() as instance:
        for record in instance.get_run_records():
            if (record.start_time or 0) < since:
                continue
            name = record.dagster_run.job_name
            jobs[name] = jobs.get(name, 0.0) + (record.end_time or 0) - (record.start_time or 0)
            for stat in instance.get_run_step_stats(record.dagster_run.run_id):
                if stat.start_time is None or stat.end_time is None:
                    continue
                group = next((g for g, steps in GROUPS.items() if stat.step_key in steps), "report")
                totals[group] += stat.end_time - stat.start_time
    return {k: round(v, 2) for k, v in totals.items()}, {k: round(v, 2) for k, v in jobs.items()}


def timed_run(home: Path, args: list[str]) -> dict[str, Any]:
    started = time.time()
    done = subprocess.run(
        [SNIPER, "run", *args], env=_env(home), capture_output=True, text=True, timeout=1800
    )
    wall = time.time() - started
    if done.returncode != 0:  # a failed run's time is not the scan's: say so next to the figure
        tail = done.stderr[-2000:]
        print(f"sniper run {' '.join(args)} exited {done.returncode}:\n{tail}", file=sys.stderr)
    steps, jobs = step_breakdown(home / "dagster_home", started)
    return {
        "wall_s": round(wall, 2),
        "exit_code": done.returncode,
        "steps_s": steps,
        # coin_scan_job is the scan itself (what a sensor launches); the others are sniper run's
        "runs_s": jobs,
        "dagster_overhead_s": round(wall - sum(steps.values()), 2),
        "stderr_lines": len(done.stderr.splitlines()),
    }


def case_runs(name: str, folder: Path | None, root: Path) -> dict[str, Any]:
    home = root / name
    args = ["--replay-dir", str(folder)] if folder else []
    first = timed_run(home, args)
    print(f"{name}: first run {first['wall_s']} s", file=sys.stderr)
    noop = timed_run(home, args)
    print(f"{name}: no-op re-run {noop['wall_s']} s", file=sys.stderr)
    return {"first": first, "noop": noop}


class _Receiver(BaseHTTPRequestHandler):
    arrivals: list[tuple[float, str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode(errors="replace")
        self.arrivals.append((time.time(), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _target_bar(warehouse: Path) -> datetime:
    """The latest bar that opens an episode in the universe (found by its no-op run)."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as conn:
        row = conn.execute(
            "select max(bar_ts) from alert_events where event = 'open' and interval = '4h'"
        ).fetchone()
    return datetime.fromisoformat(str(row[0])).replace(tzinfo=UTC)


def case_serve(folder: Path, warehouse_with_events: Path, root: Path, lead_s: float = 240) -> dict[str, Any]:
    """Bar close -> alert delivered under `sniper serve` with the replay clock."""
    bar = _target_bar(warehouse_with_events)
    close = bar + timedelta(hours=4)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"json://127.0.0.1:{server.server_address[1]}/alerts"
    home = root / "serve11"
    ui_port = _free_port()
    proc = subprocess.Popen(
        [
            SNIPER,
            "serve",
            "--replay-dir",
            str(folder),
            "--now",
            (close - timedelta(seconds=lead_s)).isoformat(),
            "--speed",
            "1",
            "--port",
            str(ui_port),
        ],
        env=_env(home, SNIPER_ALERT_URLS=url),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        base_url = _api_url(proc)
        server_now = datetime.strptime(
            requests.get(f"{base_url}/api/futures/supported-coins", timeout=10).headers["Date"],
            "%a, %d %b %Y %H:%M:%S GMT",
        ).replace(tzinfo=UTC)
        close_wall = time.time() + (close - server_now).total_seconds()
        deadline = close_wall + 300
        while time.time() < deadline:
            after = [t for t, _ in _Receiver.arrivals if t >= close_wall]
            if after:
                break
            time.sleep(1)
        after = [t for t, _ in _Receiver.arrivals if t >= close_wall]
        latency = round(min(after) - close_wall, 2) if after else None
        print(f"serve11: bar close -> alert delivered {latency} s", file=sys.stderr)
        return {
            "bar_open": bar.isoformat(),
            "lead_s": lead_s,
            "latency_s": latency,
            "sensor_interval_s": SENSOR_INTERVAL_SECONDS,
            "target_s": SENSOR_INTERVAL_SECONDS + 30,
            "alerts_before_close": sum(1 for t, _ in _Receiver.arrivals if t < close_wall),
            "alerts_after_close": len(after),
            "runs": _serve_runs(home / "dagster_home", close_wall),
        }
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        server.shutdown()


def _serve_runs(dagster_home: Path, close_wall: float) -> list[dict[str, Any]]:
    """The scans after the close: created (sensor tick), started (queue + launch), ended."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    out = []
    with dg.DagsterInstance.get() as instance:
        for record in instance.get_run_records(filters=dg.RunsFilter(job_name="coin_scan_job")):
            created = record.create_timestamp.timestamp()
            if created < close_wall:
                continue
            out.append(
                {
                    "created_after_close_s": round(created - close_wall, 2),
                    "queued_s": round((record.start_time or created) - created, 2),
                    # None while the run is still going (the alert goes out before its last steps).
                    "run_s": (
                        round(record.end_time - record.start_time, 2)
                        if record.end_time and record.start_time
                        else None
                    ),
                    "status": record.dagster_run.status.value,
                }
            )
    return out


def _api_url(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("API: "):
            return line.split()[1].rstrip(";")
    raise RuntimeError("sniper serve printed no API line")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


COLORS = {
    "ingest": "#4c78a8",
    "dbt": "#f58518",
    "engine": "#54a24b",
    "delivery": "#e45756",
    "report": "#b279a2",
    "dagster_overhead": "#bab0ac",
}


def write_chart(results: dict[str, Any], path: Path) -> None:
    """A stacked bar per run (seconds by group) as a dependency-free SVG for the docs."""
    rows = [
        (f"{case} {kind}", {**run["steps_s"], "dagster_overhead": max(run["dagster_overhead_s"], 0.0)})
        for case, runs in results.items()
        if isinstance(runs, dict) and "first" in runs
        for kind, run in (("first run", runs["first"]), ("no-op re-run", runs["noop"]))
    ]
    if not rows:
        return
    longest = max(sum(parts.values()) for _, parts in rows)
    width, left, bar, gap = 760, 190, 22, 10
    scale = (width - left - 60) / longest
    height = 40 + len(rows) * (bar + gap) + 40
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        '<text x="10" y="20" font-weight="bold">sniper run: where the time goes (s)</text>',
    ]
    for i, (label, parts) in enumerate(rows):
        y = 35 + i * (bar + gap)
        svg.append(f'<text x="10" y="{y + 15}">{label}</text>')
        x = float(left)
        for group in COLORS:
            w = parts.get(group, 0.0) * scale
            if w > 0:
                svg.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}" fill="{COLORS[group]}">'
                    f"<title>{group}: {parts.get(group, 0.0):.1f} s</title></rect>"
                )
                x += w
        svg.append(f'<text x="{x + 5:.1f}" y="{y + 15}">{sum(parts.values()):.0f}</text>')
    y = height - 20
    for j, (group, color) in enumerate(COLORS.items()):
        svg.append(f'<rect x="{10 + j * 120}" y="{y - 10}" width="10" height="10" fill="{color}"/>')
        svg.append(f'<text x="{24 + j * 120}" y="{y}">{group.replace("_", " ")}</text>')
    svg.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(svg) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="shipped,universe11,universe100,serve11")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "scan.json")
    args = parser.parse_args()
    cases = args.cases.split(",")
    # A subset of cases updates the stored results; the others keep their last figures.
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    with tempfile.TemporaryDirectory(prefix="sniper-bench-") as tmp:
        root = Path(tmp)
        if "shipped" in cases:
            results["shipped"] = case_runs("shipped", None, root)
        for n in (11, 100):
            if f"universe{n}" in cases or (n == 11 and "serve11" in cases):
                folder = root / f"recordings{n}"
                build_universe(sample_dir(), folder, n)
                results[f"universe{n}"] = case_runs(f"universe{n}", folder, root)
        if "serve11" in cases:
            results["serve11"] = case_serve(
                root / "recordings11", root / "universe11" / "data" / "sniper.duckdb", root
            )
    results["targets"] = TARGETS
    results["context"] = machine_context()
    write_chart(results, REPO / "docs" / "images" / "scan-time.svg")
    write_results(args.out, results)


if __name__ == "__main__":
    main()
