"""`sniper stream`: the long-running liquidation stream, and `sniper stream serve`, its replay server.

`sniper stream --live` connects to CoinGlass (`CG_API_KEY`, Standard plan or above);
`sniper stream --url ws://127.0.0.1:PORT/ws-api` to a replay WebSocket server
(`sniper stream serve --file F`). Orders go to the stream store (`SNIPER_STREAM_URL`, default
`data/stream.sqlite`), never to the warehouse; `liquidation_stream_sensor` reads them there.
Exit 0 when stopped (Ctrl-C, SIGTERM, --max-seconds), 1 when the stream failed (a refused key),
2 on usage or configuration errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

from sniper_pipeline.coinglass.client import websocket_url
from sniper_pipeline.coinglass.errors import redact
from sniper_pipeline.ingest.runtime import REPLAY_API_KEY
from sniper_pipeline.settings.coins import load_coins
from sniper_pipeline.settings.errors import ConfigError
from sniper_pipeline.settings.layer import Layer
from sniper_pipeline.settings.layers import load_layers
from sniper_pipeline.settings.paths import config_dir
from sniper_pipeline.stream.client import KEY_PARAM, LiquidationStreamClient, StreamError, key_from_url
from sniper_pipeline.stream.replay_ws import ReplayFileError, ReplayWsServer
from sniper_pipeline.stream.store import describe, make_store_engine, store_url, write_orders

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def default_exchanges() -> list[str] | None:
    """The live liquidation source's `exchange_list` (config/layers.yaml): the streamed totals
    then cover the same exchanges as the aggregated history the thresholds come from."""
    profile = load_layers(config_dir()).profiles.get("live")
    sources = profile.layers.get(Layer.LIQUIDATION, []) if profile else []
    raw = sources[0].exchange_list if sources else None
    return [e.strip() for e in raw.split(",") if e.strip()] if raw else None


def coin_symbols(coins: list[str] | None) -> list[str]:
    """CoinGlass base assets to keep: the configured symbols of each coin (MATIC -> POL, MATIC),
    a symbol as given when it is not configured; every configured coin when `coins` is None."""
    config = load_coins(config_dir())
    wanted = [c.strip().upper() for c in coins] if coins else list(config.coins)
    out: set[str] = set()
    for name in wanted:
        coin = config.resolve(name)
        out.update({coin, *config.coins[coin].symbols} if coin else {name})
    return sorted(out)


def _with_key(url: str, key: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=query + urlencode({KEY_PARAM: key})))


def _resolve_url(live: bool, url: str | None) -> str:
    if live:
        if url:
            raise ValueError("--live and --url exclude each other")
        key = os.environ.get("CG_API_KEY", "").strip()
        if not key:
            raise ValueError("--live needs CG_API_KEY in the environment")
        return websocket_url(key)
    if not url:
        raise ValueError(
            "give --live, or --url ws://127.0.0.1:PORT/ws-api of a replay server "
            "(sniper stream serve --file F)"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"--url {redact(url, None)}: expected ws:// or wss://")
    if key_from_url(url):
        return url
    if parts.hostname in LOOPBACK:
        return _with_key(url, REPLAY_API_KEY)  # only ever sent to loopback
    key = os.environ.get("CG_API_KEY", "").strip()
    if not key:
        raise ValueError(f"--url {url}: a remote stream needs CG_API_KEY in the environment")
    return _with_key(url, key)


def _setup_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


async def _run(client: LiquidationStreamClient, max_seconds: float | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not available off the main thread or on some platforms: Ctrl-C then interrupts instead.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    await client.run(stop=stop, max_seconds=max_seconds)


def stream_command(
    *,
    live: bool,
    url: str | None,
    coins: list[str] | None,
    exchanges: list[str] | None,
    max_seconds: float | None,
    record: Path | None = None,
    ping_interval: float = 20.0,
) -> int:
    """Stream `liquidationOrders` into the stream store until stopped; see the module docstring."""
    try:
        ws_url = _resolve_url(live, url)
        secret = key_from_url(ws_url)
        wanted_exchanges = exchanges if exchanges else default_exchanges()
        symbols = coin_symbols(coins)
        location = store_url()
        engine = make_store_engine(location)
    except (ValueError, ConfigError) as exc:  # StreamStoreError is a ValueError
        print(f"sniper stream: {redact(str(exc), os.environ.get('CG_API_KEY'))}", file=sys.stderr)
        return EXIT_USAGE
    _setup_logging()
    client = LiquidationStreamClient(
        ws_url,
        lambda batch: write_orders(engine, batch),
        exchanges=wanted_exchanges,
        coins=symbols,
        ping_interval=ping_interval,
        record_to=record,
    )
    print(
        f"streaming liquidationOrders from {client.safe_url} into {describe(location)}; "
        f"exchanges: {', '.join(wanted_exchanges) if wanted_exchanges else 'all'}; "
        f"coins: {', '.join(symbols)}",
        flush=True,
    )
    code = EXIT_OK
    try:
        asyncio.run(_run(client, max_seconds))
    except StreamError as exc:
        print(f"sniper stream: {redact(str(exc), secret)}", file=sys.stderr)
        code = EXIT_FAILED
    except KeyboardInterrupt:
        pass
    finally:
        engine.dispose()
    s = client.stats
    print(
        f"stream stopped: {s.connections} connections, {s.pushes} pushes, {s.orders_received} orders "
        f"({s.orders_kept} kept by the filter, {s.orders_stored} new in the store), "
        f"{s.pings_sent} pings / {s.pongs} pongs"
    )
    return code


def stream_serve_command(
    file: Path,
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    interval: float = 0.0,
    drop_after: int | None = None,
    retime: bool = False,
    max_seconds: float | None = None,
) -> int:
    """Serve a JSON lines file of pushes (recorded or hand-written) until Ctrl-C."""
    try:
        server = ReplayWsServer(
            file, host=host, port=port, interval=interval, drop_after=drop_after, retime=retime
        )
        server.start()
    except (ReplayFileError, ValueError, OSError) as exc:
        print(f"sniper stream serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"replay stream of {server.push_count} pushes from {file} at {server.url}", flush=True)
    print(f"connect with: sniper stream --url {server.url}", flush=True)
    try:
        threading.Event().wait(max_seconds)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return EXIT_OK
