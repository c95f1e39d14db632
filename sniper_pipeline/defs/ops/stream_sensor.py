"""`liquidation_stream_sensor`: an immediate scan of a coin when its streamed liquidations in the
current bar pass the coin's action threshold.

It reads only the stream store (`SNIPER_STREAM_URL`, default `data/stream.sqlite`, written by the
separate `sniper stream` process) and `data/stream_thresholds.json` (written by the scoring run):
never the DuckDB warehouse, which one process at a time may open (design.md section 6). The
decision itself is `sniper_pipeline.stream.trigger.stream_scans`.

`now` is the system clock: the stream carries exchange time, live. A replayed stream is seen
only when its times are current (`ReplayWsServer(retime=True)`, `sniper stream serve --retime`).
"""

from __future__ import annotations

from datetime import datetime

import dagster as dg

from sniper_pipeline.coinglass.clock import Clock, SystemClock
from sniper_pipeline.defs.ops.jobs import COIN_SCAN_JOB
from sniper_pipeline.ingest.runtime import Runtime
from sniper_pipeline.settings.layer import Layer
from sniper_pipeline.stream.store import bar_totals, describe, make_store_engine, store_exists, store_url
from sniper_pipeline.stream.thresholds import ThresholdsFileError, read_thresholds, thresholds_path
from sniper_pipeline.stream.trigger import stream_scans

SENSOR_NAME = "liquidation_stream_sensor"


def _exchanges(runtime: Runtime, coin: str) -> list[str] | None:
    """The liquidation source's `exchange_list`: the stream totals must cover the same exchanges
    as the history the threshold came from."""
    source = runtime.plans[coin].sources.get(Layer.LIQUIDATION)
    raw = source.param_dict.get("exchange_list") if source is not None else None
    return [e.strip() for e in raw.split(",") if e.strip()] if raw else None


def _symbols(runtime: Runtime, coin: str) -> list[str]:
    """CoinGlass base assets of the coin: MATIC streams as POL."""
    spec = runtime.coins.coins.get(coin)
    return sorted({coin, runtime.plans[coin].symbol, *(spec.symbols if spec else [])})


def build_liquidation_stream_sensor(runtime: Runtime, clock: Clock | None = None) -> dg.SensorDefinition:
    grids = {coin: plan.grid_interval for coin, plan in runtime.plans.items() if plan.grid_interval}
    symbols = {coin: _symbols(runtime, coin) for coin in grids}
    exchanges = {coin: _exchanges(runtime, coin) for coin in grids}
    now_clock: Clock = clock or SystemClock()

    @dg.sensor(
        name=SENSOR_NAME,
        job_name=COIN_SCAN_JOB,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Requests an immediate coin scan when the coin's streamed liquidations (sniper stream) "
            "in the current bar pass its action threshold; one per coin and bar."
        ),
    )
    def liquidation_stream_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        path = thresholds_path()
        try:
            thresholds = read_thresholds(path)
        except ThresholdsFileError as exc:
            return dg.SkipReason(f"thresholds file unusable: {exc}")
        if not thresholds:
            return dg.SkipReason(f"no thresholds yet ({path}): written by the scoring run")
        url = store_url()
        if not store_exists(url):
            return dg.SkipReason(f"no stream store at {describe(url)}: is `sniper stream` running?")
        engine = make_store_engine(url, create_tables=False)
        try:

            def totals(coin: str, bar_open: datetime, bar_close: datetime) -> tuple[float, float]:
                return bar_totals(
                    engine, coin, bar_open, bar_close, symbols=symbols[coin], exchanges=exchanges[coin]
                )

            decision = stream_scans(context.cursor, now_clock.now(), grids, thresholds, totals)
        finally:
            engine.dispose()
        for note in decision.notes:
            context.log.info(note)
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=r.run_key,
                    partition_key=r.coin,
                    tags={
                        "sniper/bar": r.bar_open.isoformat(),
                        "sniper/trigger": "liquidation_stream",
                        "sniper/stream_liq_usd": f"{r.total_usd:.0f}",
                        "sniper/stream_threshold_usd": f"{r.threshold_usd:.0f}",
                    },
                )
                for r in decision.requests
            ],
            cursor=decision.cursor,
        )

    return liquidation_stream_sensor


def area_defs(runtime: Runtime) -> dg.Definitions:
    return dg.Definitions(sensors=[build_liquidation_stream_sensor(runtime)])
