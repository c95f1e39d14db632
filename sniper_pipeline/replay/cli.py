"""``sniper replay serve`` / ``python -m sniper_pipeline.replay``: run the replay server."""

from __future__ import annotations

import argparse
import faulthandler
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from sniper_pipeline.replay.faults import FaultSpecError
from sniper_pipeline.replay.server import ReplayServer
from sniper_pipeline.settings.timeutil import from_epoch_ms


def parse_now(text: str) -> datetime:
    """ISO 8601 (``2025-05-10T00:00:00Z``; naive = UTC) or epoch milliseconds."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return from_epoch_ms(int(text))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO time or epoch ms: {text!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


FAULTS_HELP = """\
--faults SPEC: comma-separated items KIND[=ARG][@PATH][:COUNT]
  COUNT    requests to hit (default 1, * = all); PATH exact or prefix ending in *
  400..599 that status with an error envelope (429=S sets Retry-After: S)
  noretryafter429, reset (TCP RST, no response), truncated (cut JSON body),
  timeout[=DUR] (sleep, e.g. 5s or 500ms, default 30s), html[=STATUS] (HTML page,
  default 502), code[=CODE] (HTTP 200 with code CODE, default 50001)
  random=P[/KIND+KIND...] (each request faulted with probability P; --seed)
  data faults (edit a 200 envelope's rows, see data_faults.py): rename[=F[>NEW]],
  missing[=F], extra[=F], null[=F], strnum[=mixed], dup[=N], unsorted, empty, gap[=N],
  pass (answer normally: 'pass@P:1,truncated@P:1' cuts the 2nd request to P)
  e.g. --faults '429:3,500@/api/futures/*:2,timeout=5s:1,random=0.05'
  while running: POST a spec to BASE_URL/_replay/faults[?path=/api/...] (loopback only)
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sniper replay serve",
        description="Serve a folder of recorded CoinGlass v4 responses over the v4 HTTP API.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=FAULTS_HELP,
    )
    p.add_argument("--data-dir", type=Path, help="recordings folder (default: the shipped sample)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = any free port (the base URL is printed)")
    p.add_argument("--now", type=parse_now, help="simulated clock start (ISO or epoch ms); hides later bars")
    p.add_argument("--speed", type=float, default=1.0, help="simulated clock speed, x real time (with --now)")
    p.add_argument("--faults", help="fault spec, e.g. '429:3,timeout=5s:1' (see faults.py)")
    p.add_argument("--rate-limit", type=int, help="requests allowed per window (default: unlimited)")
    p.add_argument("--rate-window", type=float, default=60.0, help="rate limit window in seconds")
    p.add_argument("--seed", type=int, default=0, help="seed for random faults")
    p.add_argument("--quiet", action="store_true", help="no access log on stderr")
    return p


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # same clean stop as Ctrl-C


def serve_main(argv: Sequence[str] | None = None) -> int:
    """Run until interrupted. Prints the base URL alone on stdout's first line. Exit 2 on bad usage."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["serve"]:
        args_list = args_list[1:]  # tolerate `python -m ... serve --data-dir X`
    args = build_parser().parse_args(args_list)
    data_dir = args.data_dir
    if data_dir is None:
        from sniper_pipeline.replay.sample import sample_dir

        data_dir = sample_dir()
    try:
        server = ReplayServer(
            data_dir,
            host=args.host,
            port=args.port,
            now=args.now,
            speed=args.speed,
            faults=args.faults,
            rate_limit=args.rate_limit,
            rate_window_s=args.rate_window,
            seed=args.seed,
            quiet=args.quiet,
        )
    except (FaultSpecError, ValueError) as exc:
        print(f"sniper replay serve: {exc}", file=sys.stderr)
        return 2
    try:
        server.start()
    except OSError as exc:
        print(f"sniper replay serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    # Before the URL goes out: whoever reads it may stop the server at once.
    previous = signal.signal(signal.SIGTERM, _terminate)
    # `kill -USR1 <pid>` prints every thread's stack on stderr: what a stuck server is doing.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        print(server.base_url, flush=True)
        clock = f", clock from {args.now.isoformat()} at x{args.speed}" if args.now else ""
        count = len(server.index.recordings)
        banner = f"replay server on {server.base_url}: {count} recordings from {data_dir}{clock}"
        print(banner, file=sys.stderr)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
        faulthandler.unregister(signal.SIGUSR1)
    return 0
