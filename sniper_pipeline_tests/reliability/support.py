"""Shared harness of the fault-injection suite and of `sniper_pipeline_tests/reliability/table.py`.

Everything runs against a real ReplayServer over the "unseen" recordings (coin HYPE, see
`sniper_pipeline_tests/unseen.py`) and a DuckDB warehouse in a temporary folder. Clients get a
recording sleeper, so retries cost no wall time (only read-timeout faults really wait).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Table, select

from sniper_pipeline.coinglass.client import CoinGlassClient
from sniper_pipeline.ingest.layers import LAYER_TABLES, LayerIngest
from sniper_pipeline.ingest.sources import CoinPlan, ResolvedSource, load_manifest, plan_from_manifest
from sniper_pipeline.quality.validate import validate_frame
from sniper_pipeline.replay.faults import Fault
from sniper_pipeline.replay.recordings import recordings_end
from sniper_pipeline.replay.server import ReplayServer
from sniper_pipeline.settings.coins import load_coins
from sniper_pipeline.settings.layers import LayersConfig, load_layers
from sniper_pipeline.settings.paths import config_dir
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.url import WarehouseLocation, warehouse_location
from sniper_pipeline_tests.coinglass.support import RecordingSleeper
from sniper_pipeline_tests.ingest.support import ingest_layer

COIN = "HYPE"
# The layer the ingest matrix faults: 1080 bars of 4h, so a first backfill takes two pages and a
# fault can land mid-backfill (on page 2, after page 1 was fetched).
LIQ_PATH = "/api/futures/liquidation/aggregated-history"
OI_PATH = "/api/futures/open-interest/aggregated-history"
# The unseen folder records OI as asked with the documented `unit=usd` (sniper_pipeline_tests/unseen.py).
OI_PARAMS = {"symbol": COIN, "interval": "4h", "unit": "usd"}
# Every layer endpoint of the recordings, not supported-coins (which sync_clock asks first).
HISTORY_GLOB = "/api/futures/*history"
# Distinctive, so a leak is found by substring search; the replay server accepts any key.
SECRET = "cg-live-key-7f3a9c2e41d84b6f"
# Columns stamped with the wall clock: never equal between two runs, so left out of comparisons.
# Wall-clock stamps (`*_at`) and run ids differ between any two runs, so they are left out.
VOLATILE = frozenset({"run_id"})
VOLATILE_SUFFIXES = ("_at",)


class PageFaults:
    """Fault specs aimed at one endpoint; `mid` puts the fault on the second request (page 2)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on(self, kind: str, count: int | str = 1) -> str:
        return f"{kind}@{self.path}:{count}"

    def mid(self, kind: str, count: int | str = 1) -> str:
        return f"pass@{self.path}:1,{kind}@{self.path}:{count}"


LIQ = PageFaults(LIQ_PATH)


def make_client(
    server: ReplayServer, key: str = SECRET, **kw: Any
) -> tuple[CoinGlassClient, RecordingSleeper]:
    """A client that records its backoff waits instead of sleeping, clock synced to the server."""
    sleeper = RecordingSleeper()
    kw.setdefault("backoff_jitter", 0.0)  # exact delays to assert on
    client = CoinGlassClient(server.base_url, key, sleeper=sleeper, **kw)
    client.sync_clock()
    return client, sleeper


def start_server(unseen_dir: Path, faults: str | None = None, **kw: Any) -> ReplayServer:
    """A replay server with the clock `sniper run` uses (every recorded bar closed) unless `now`."""
    kw.setdefault("now", recordings_end(unseen_dir))
    return ReplayServer(unseen_dir, quiet=True, faults=faults, **kw).start()


@dataclass(frozen=True)
class Plan:
    plan: CoinPlan
    layers: LayersConfig

    def source(self, layer: str) -> ResolvedSource:
        source = self.plan.sources.get(layer)
        assert source is not None, f"{COIN} has no {layer} source"
        return source

    def source_for(self, path: str) -> ResolvedSource:
        [source] = [s for s in self.plan.sources.values() if s is not None and s.endpoint == path]
        return source


def coin_plan(unseen_dir: Path) -> Plan:
    cfg = config_dir()
    layers = load_layers(cfg)
    plans = plan_from_manifest(load_manifest(unseen_dir), load_coins(cfg), layers)
    return Plan(plans[COIN], layers)


def new_engine(folder: Path, name: str = "warehouse") -> Engine:
    folder.mkdir(parents=True, exist_ok=True)
    return make_engine(warehouse_location(f"duckdb:///{folder / name}.duckdb"))


def ingest(
    client: CoinGlassClient, engine: Engine, plan: Plan, source: ResolvedSource, *, validate: bool = True
) -> LayerIngest:
    """`ingest_layer` as the raw asset calls it, with the plain (non-Dagster) GX suite."""
    table = LAYER_TABLES[source.layer].name
    now = client.now()

    def check(frame: pd.DataFrame) -> None:
        result = validate_frame(table, frame, interval=source.interval, now=now)
        if not result.ok:
            raise FrameRejectedError(f"{table}: {result.summary()}")

    return ingest_layer(
        client,
        engine,
        COIN,
        source,
        history_days=plan.layers.history_days,
        overlap_bars=plan.layers.overlap_bars,
        validate=check if validate else None,
    )


class FrameRejectedError(Exception):
    """The GX suite rejected the fetched frame (nothing was written)."""


# -- comparing warehouse tables -----------------------------------------------------------------


def stable_columns(table: Table) -> list[str]:
    return [
        c.name for c in table.columns if c.name not in VOLATILE and not c.name.endswith(VOLATILE_SUFFIXES)
    ]


def key_columns(table: Table) -> list[str]:
    return [c.name for c in table.primary_key.columns]


def _norm(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def table_rows(engine: Engine, table: Table, columns: Iterable[str] | None = None) -> list[tuple[Any, ...]]:
    """Every row of `table` (stable columns only), sorted: two runs compare with ==."""
    names = list(columns) if columns is not None else stable_columns(table)
    with engine.connect() as conn:
        rows = conn.execute(select(*[table.c[n] for n in names])).all()
    return sorted((tuple(_norm(v) for v in row) for row in rows), key=repr)


@dataclass(frozen=True)
class TableDiff:
    """How a table differs from the fault-free baseline, by primary key."""

    expected: int
    actual: int
    lost: int  # baseline keys absent
    extra: int  # keys the baseline has not
    duplicated: int  # rows sharing a key (only possible without a primary key)
    changed: int  # same key, other values

    @property
    def equal(self) -> bool:
        return self.lost == self.extra == self.duplicated == self.changed == 0


def diff_rows(
    baseline: list[tuple[Any, ...]], actual: list[tuple[Any, ...]], key_index: list[int]
) -> TableDiff:
    def by_key(rows: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], list[tuple[Any, ...]]]:
        out: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
        for row in rows:
            out.setdefault(tuple(row[i] for i in key_index), []).append(row)
        return out

    base, got = by_key(baseline), by_key(actual)
    return TableDiff(
        expected=len(baseline),
        actual=len(actual),
        lost=sum(1 for k in base if k not in got),
        extra=sum(1 for k in got if k not in base),
        duplicated=sum(len(v) - 1 for v in got.values()),
        changed=sum(1 for k, v in got.items() if k in base and v[0] != base[k][0]),
    )


def diff_table(baseline: list[tuple[Any, ...]], engine: Engine, table: Table) -> TableDiff:
    names = stable_columns(table)
    keys = [names.index(k) for k in key_columns(table) if k in names]
    return diff_rows(baseline, table_rows(engine, table, names), keys)


def snapshot(engine: Engine, tables: Mapping[str, Table]) -> dict[str, list[tuple[Any, ...]]]:
    return {name: table_rows(engine, table) for name, table in tables.items()}


@contextmanager
def faulted(server: ReplayServer, spec: str | None) -> Iterator[ReplayServer]:
    """Faults for the block only; the server answers cleanly again afterwards."""
    server.set_faults(spec)
    try:
        yield server
    finally:
        server.set_faults(None)


# -- the whole pipeline (coin scan job in process) ----------------------------------------------

PIPELINE_TABLES = (
    "raw_funding",
    "raw_open_interest",
    "raw_liquidations",
    "raw_taker_volume",
    "raw_prices",
    "fct_layer_bars",
    "alert_events",
    "outbox",
)
# Keys of tables the warehouse does not declare (dbt models).
MODEL_KEYS = {"fct_layer_bars": ("coin", "interval", "ts")}


def _select_all(engine: Engine, name: str) -> tuple[list[str], list[tuple[Any, ...]]] | None:
    """(stable column names, rows) of a table by name; None when it does not exist.

    Plain SQL, not reflection: duckdb-engine cannot reflect (no pg_collation), and dbt models
    are not in the SQLAlchemy metadata anyway.
    """
    from sqlalchemy import inspect, text

    if name not in inspect(engine).get_table_names():
        return None
    with engine.connect() as conn:
        result = conn.execute(text(f'select * from "{name}"'))
        names = list(result.keys())
        rows = result.all()
    keep = [i for i, n in enumerate(names) if n not in VOLATILE and not n.endswith(VOLATILE_SUFFIXES)]
    shaped = sorted((tuple(_norm(row[i]) for i in keep) for row in rows), key=repr)
    return [names[i] for i in keep], shaped


def _keys(name: str) -> tuple[str, ...]:
    from sniper_pipeline.warehouse.tables import metadata

    table = metadata.tables.get(name)
    return tuple(key_columns(table)) if table is not None else MODEL_KEYS[name]


def warehouse_state(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Rows of every compared table (a missing table reads as empty)."""
    state: dict[str, list[tuple[Any, ...]]] = {}
    for name in PIPELINE_TABLES:
        found = _select_all(engine, name)
        state[name] = [] if found is None else found[1]
    return state


def state_diff(engine: Engine, baseline: Mapping[str, list[tuple[Any, ...]]]) -> dict[str, TableDiff]:
    out: dict[str, TableDiff] = {}
    for name in PIPELINE_TABLES:
        found = _select_all(engine, name)
        if found is None:
            n = len(baseline[name])
            out[name] = TableDiff(expected=n, actual=0, lost=n, extra=0, duplicated=0, changed=0)
            continue
        names, rows = found
        out[name] = diff_rows(baseline[name], rows, [names.index(k) for k in _keys(name)])
    return out


def outbox_duplicates(engine: Engine) -> int:
    """Outbox rows beyond one per (dedup_key, channel): what a double send would leave."""
    from sqlalchemy import text

    if _select_all(engine, "outbox") is None:
        return 0
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "select coalesce(sum(n - 1), 0) from "
                    "(select count(*) n from outbox group by dedup_key, channel)"
                )
            ).scalar_one()
        )


@dataclass
class RunOutcome:
    success: bool
    failures: list[str]  # "step: message" of each failed step
    fired: list[tuple[str, Fault]]  # the faults the server answered with: (path, fault)


# Events on this many last bars are sent (the shipped 2 sends none of the unseen recordings'):
# the outbox then has delivered rows, so a double send would show.
DELIVER_SINCE_BARS = 120


def alerting_config(folder: Path) -> Path:
    """A copy of config/ whose delivery sends the events of the last DELIVER_SINCE_BARS bars."""
    import shutil

    target = folder / "config"
    shutil.copytree(config_dir(), target, dirs_exist_ok=True)
    delivery = target / "delivery.yaml"
    text, n = re.subn(
        r"^deliver_since_bars:\s*\S+",
        f"deliver_since_bars: {DELIVER_SINCE_BARS}",
        delivery.read_text(),
        flags=re.M,
    )
    assert n == 1, "config/delivery.yaml has no deliver_since_bars line"
    delivery.write_text(text)
    return target


def pipeline_env(folder: Path, alert_url: str) -> dict[str, str]:
    """Generated files under `folder`, the alerting config, alerts to `alert_url`."""
    return {
        "SNIPER_DATA_DIR": str(folder / "data"),
        "SNIPER_REPORTS_DIR": str(folder / "reports"),
        "DAGSTER_HOME": str(folder / "dagster_home"),
        "SNIPER_CONFIG_DIR": str(alerting_config(folder)),
        "SNIPER_ALERT_URLS": alert_url,
    }


class PipelineHarness:
    """Runs `coin_scan_job` for HYPE in process against one replay server, one warehouse per run.

    The definitions are built as `sniper run` builds them: replay profile, the server's URL, the
    recordings; `pipeline_env` adds an alert channel on a loopback receiver so the outbox has
    rows to compare.
    """

    def __init__(self, server: ReplayServer, folder: Path, replay_dir: Path) -> None:
        self.server = server
        self.folder = folder
        self.replay_dir = replay_dir
        self.warehouse: WarehouseLocation | None = None

    def use_warehouse(self, name: str) -> Engine:
        self.warehouse = warehouse_location(f"duckdb:///{self.folder / name}.duckdb")
        return make_engine(self.warehouse)

    def run(self, faults: str | None) -> RunOutcome:
        import dagster as dg

        from sniper_pipeline.definitions import build_defs
        from sniper_pipeline.ingest.runtime import load_runtime

        runtime = load_runtime(
            profile="replay",
            replay_dir=self.replay_dir,
            base_url=self.server.base_url,
            warehouse=self.warehouse,
        )
        job = build_defs(runtime).resolve_job_def("coin_scan_job")
        self.server.set_faults(faults)
        injector = self.server.injector
        try:
            result = job.execute_in_process(
                partition_key=COIN, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
            )
        finally:
            self.server.set_faults(None)
        failures = []
        for event in result.all_events:
            data = event.step_failure_data if event.is_step_failure else None
            if data is not None:
                failures.append(f"{event.step_key}: {error_text(data.error)}")
        return RunOutcome(result.success, failures, list(injector.fired))


def error_text(error: Any) -> str:
    """A Dagster SerializableErrorInfo as text: its own message, then each cause's (the
    CoinGlassError that made the step fail sits under Dagster's "Error occurred while ...")."""
    parts: list[str] = []
    while error is not None and len(parts) < 5:
        # Dagster's message already starts with the class ("pkg.module.RateLimitError: ...").
        parts.append(re.sub(r"^[\w.]*\.(\w+): ", r"\1: ", error.message.strip()))
        error = error.cause
    return " <- ".join(parts)
