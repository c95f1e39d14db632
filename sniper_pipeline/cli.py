"""`sniper`: the operator's command line. Each subcommand lives in `sniper_pipeline.commands`."""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sniper_pipeline.commands.environment import UsageError
from sniper_pipeline.settings.errors import ConfigError
from sniper_pipeline.warehouse.run_lock import WarehouseBusyError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _replay_time(text: str) -> datetime:
    """--now: the replay server's own parser, imported only when the option is given."""
    from sniper_pipeline.replay.cli import parse_now

    return parse_now(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sniper", description="Enhanced Sniper Engine (CoinGlass v4 + Dagster)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="materialize the whole graph for every coin and print a summary")
    run.add_argument("--live", action="store_true", help="use the real CoinGlass API (needs CG_API_KEY)")
    run.add_argument("--replay-dir", type=Path, help="serve this recordings folder instead of the sample")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument("--coin", action="append", help="only these coins (repeatable)")
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="Dagster's and dbt's logs on stderr instead of a log file",
    )

    serve = sub.add_parser("serve", help="Dagster webserver + daemon, sensors and schedules on")
    serve.add_argument("--live", action="store_true")
    serve.add_argument("--replay-dir", type=Path)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument(
        "--now",
        type=_replay_time,
        help="replay clock start, ISO or epoch ms (default: end of the recordings)",
    )
    serve.add_argument("--speed", type=float, help="replay clock speed, x real time (default 1)")

    replay = sub.add_parser("replay", help="the CoinGlass-compatible replay server")
    replay.add_argument("action", choices=["serve"])
    replay.add_argument("rest", nargs=argparse.REMAINDER, help="see `sniper replay serve --help`")

    config = sub.add_parser("config", help="percentile configs")
    config.add_argument("action", choices=["generate"])
    config.add_argument("coin")

    signals = sub.add_parser("signals", help="bars with a tier: layers against thresholds, events")
    signals.add_argument("--coin", required=True)
    signals.add_argument("--since", type=datetime.fromisoformat, help="ISO date or time (UTC)")
    signals.add_argument("--limit", type=int, default=40, help="latest N bars with a tier (0 = all)")

    health = sub.add_parser("health", help="the daily API health check, now; exit 1 on failure")
    health.add_argument("--live", action="store_true")
    health.add_argument("--replay-dir", type=Path)
    health.add_argument("--max-usage-share", type=float, default=0.8, help="of the plan's minute quota")

    mute = sub.add_parser("mute", help="hold alerts (all coins, or one) for a while")
    mute.add_argument("--coin", help="one coin (default: every coin)")
    mute.add_argument("--for", dest="duration", required=True, help="e.g. 30m, 2h, 1h30m, 1d")
    mute.add_argument("--reason")
    unmute = sub.add_parser("unmute", help="lift a mute")
    unmute.add_argument("--coin", help="one coin (default: the every-coin mute)")

    report = sub.add_parser("report", help="write the HTML report (reports/signals.html)")
    report.add_argument("--output", type=Path)

    evaluate = sub.add_parser(
        "evaluate", help="score alerts against what followed; --study tunes to a budget"
    )
    evaluate.add_argument(
        "--budget", type=float, help="notifications per coin per week (config/evaluation.yaml)"
    )
    evaluate.add_argument("--study", action="store_true", help="run the walk-forward study too")
    evaluate.add_argument("--output", type=Path, help="also write the markdown report here")

    stream = sub.add_parser("stream", help="liquidation WebSocket stream into its own store")
    stream.add_argument("action", nargs="?", choices=["serve"], help="serve: the replay WebSocket server")
    stream.add_argument("--live", action="store_true", help="the real stream (needs CG_API_KEY)")
    stream.add_argument("--url", help="ws:// URL of a replay WebSocket server")
    stream.add_argument("--coin", action="append", help="only these coins (repeatable)")
    stream.add_argument("--exchange", action="append", help="only these exchanges (repeatable)")
    stream.add_argument("--max-seconds", type=float, help="stop after this long")
    stream.add_argument("--record", type=Path, help="also append every push to this JSON lines file")
    stream.add_argument("--file", type=Path, help="serve: the JSON lines file of pushes")
    stream.add_argument("--port", type=int, default=0, help="serve: port (0 = any free one)")
    stream.add_argument("--interval", type=float, default=0.0, help="serve: seconds between pushes")
    stream.add_argument("--drop-after", type=int, help="serve: drop each connection after N pushes")
    stream.add_argument("--retime", action="store_true", help="serve: shift order times to now")

    outbox = sub.add_parser("outbox", help="sends left in doubt by a crash mid-send; settle them")
    outbox.add_argument("action", nargs="?", choices=["resolve"], help="resolve: settle sends in doubt")
    settle = outbox.add_mutually_exclusive_group()
    settle.add_argument("--resend", action="store_true", help="send again (same idempotency key)")
    settle.add_argument("--mark-delivered", action="store_true", help="the channel has it")
    outbox.add_argument("--dedup-key", help="only this event (default: every send in doubt)")
    outbox.add_argument("--channel", help="only this channel")

    sub.add_parser("dbt-parse", help="parse the dbt project (writes dbt/target/manifest.json)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:2] == ["replay", "serve"]:
        from sniper_pipeline.replay.cli import serve_main

        return serve_main(args_in[2:])
    args = _parser().parse_args(args_in)
    try:
        if args.command == "run":
            from sniper_pipeline.commands.run import run_command

            return run_command(
                live=args.live,
                replay_dir=args.replay_dir,
                as_json=args.json,
                coins=args.coin,
                verbose=args.verbose,
            )
        if args.command == "serve":
            from sniper_pipeline.commands.serve import serve_command

            return serve_command(
                live=args.live,
                replay_dir=args.replay_dir,
                host=args.host,
                port=args.port,
                now=args.now,
                speed=args.speed,
            )
        if args.command == "config":
            from sniper_pipeline.commands.signals import config_generate_command

            return config_generate_command(args.coin)
        if args.command == "signals":
            from sniper_pipeline.commands.signals import signals_command

            return signals_command(args.coin, args.since, args.limit)
        if args.command == "health":
            from sniper_pipeline.commands.health import health_command

            return health_command(
                live=args.live, replay_dir=args.replay_dir, max_usage_share=args.max_usage_share
            )
        if args.command == "mute":
            from sniper_pipeline.commands.mute import mute_command

            return mute_command(args.coin, args.duration, args.reason)
        if args.command == "unmute":
            from sniper_pipeline.commands.mute import unmute_command

            return unmute_command(args.coin)
        if args.command == "report":
            from sniper_pipeline.commands.report import report_command

            return report_command(args.output)
        if args.command == "evaluate":
            from sniper_pipeline.commands.evaluate import evaluate_command

            return evaluate_command(budget_per_week=args.budget, study=args.study, output=args.output)
        if args.command == "stream":
            from sniper_pipeline.commands.stream import stream_command, stream_serve_command

            if args.action == "serve":
                if args.file is None:
                    raise UsageError("sniper stream serve needs --file")
                return stream_serve_command(
                    args.file,
                    args.port,
                    interval=args.interval,
                    drop_after=args.drop_after,
                    retime=args.retime,
                    max_seconds=args.max_seconds,
                )
            return stream_command(
                live=args.live,
                url=args.url,
                coins=args.coin,
                exchanges=args.exchange,
                max_seconds=args.max_seconds,
                record=args.record,
            )
        if args.command == "outbox":
            from sniper_pipeline.commands.outbox import outbox_list_command, outbox_resolve_command

            if args.action != "resolve":
                return outbox_list_command()
            if not (args.resend or args.mark_delivered):
                raise UsageError("outbox resolve needs --resend or --mark-delivered")
            return outbox_resolve_command(
                "resend" if args.resend else "mark_delivered", args.dedup_key, args.channel
            )
        if args.command == "dbt-parse":
            from sniper_pipeline.defs.transform.project import dbt_profiles_dir, dbt_project, ensure_manifest
            from sniper_pipeline.warehouse.url import warehouse_location

            project = dbt_project()
            project.manifest_path.unlink(missing_ok=True)
            print(ensure_manifest(project, dbt_profiles_dir(warehouse_location())))
            return EXIT_OK
    except (UsageError, ConfigError, WarehouseBusyError) as exc:
        print(f"sniper {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE


def _only_daemon_threads() -> bool:
    main_thread = threading.main_thread()
    return all(t is main_thread or t.daemon for t in threading.enumerate())


def entry() -> None:
    """The `sniper` console script. After a command, Python's own finalization (module teardown
    with full garbage collections over Dagster's, dbt's and pandas' objects) takes ~3 s and does
    nothing for us: run the exit handlers, flush, and leave. A command that left a non-daemon
    thread running exits the normal way, which waits for it."""
    code = main()
    if not _only_daemon_threads():
        sys.exit(code)
    atexit._run_exitfuncs()  # logging.shutdown, temporary folders, ...
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
