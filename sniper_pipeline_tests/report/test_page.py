"""The page: self-contained, every section present or "no data yet", no warehouse secret."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from plotly.offline import get_plotlyjs
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from sniper_pipeline.commands.report import report_command
from sniper_pipeline.report import write_report
from sniper_pipeline.report.data import ReportData, redacted_url
from sniper_pipeline.report.html import render_page
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.url import warehouse_location
from sniper_pipeline_tests.report.conftest import NOW, build_warehouse

PLOTLY_BANNER = get_plotlyjs()[:60]


def _section(page: str, anchor: str) -> str:
    """The body of `<section id="anchor">` (sections are not nested)."""
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert match, f"no section {anchor}"
    return match.group(1)


def _expected_plots(page: str) -> int:
    match = re.search(r'data-plots-expected="(\d+)"', page)
    assert match
    return int(match.group(1))


def test_full_report_is_one_self_contained_page(warehouse: Engine, tmp_path: Path) -> None:
    path = write_report(warehouse, tmp_path / "out" / "signals.html", now=NOW)
    assert path == tmp_path / "out" / "signals.html"
    page = path.read_text(encoding="utf-8")
    assert page.count(PLOTLY_BANNER) == 1  # plotly.js inline, once for the page
    ours = page.replace(get_plotlyjs(), "")
    assert not re.search(r"\bsrc\s*=|https?://", ours)  # nothing fetched: viewable offline
    assert _expected_plots(page) == 3  # two coins and the ETF panel
    assert page.count('class="plotly-graph-div"') == 3
    for heading in (
        "Stress now",
        "Recent alerts",
        "Data freshness",
        "Charts",
        "BTC",
        "ETH",
        "BTC ETF flows",
        "Percentile configs",
        "API health",
    ):
        assert re.search(rf"<h[23][^>]*>{heading}", page), heading
    assert f"generated at {NOW:%Y-%m-%d %H:%M:%S} UTC" in page
    assert "coins: BTC, ETH" in page
    assert f"warehouse: <code>{warehouse.url.render_as_string(hide_password=True)}</code>" in page
    assert "no data yet" not in page
    assert "Signal evaluation" not in page  # no such table: no section
    assert not list(path.parent.glob(".*.tmp"))  # the temporary file was renamed into place


def test_report_for_chosen_coins(warehouse: Engine, tmp_path: Path) -> None:
    page = write_report(warehouse, tmp_path / "r.html", coins=["eth"], now=NOW).read_text()
    assert "coins: ETH" in page and 'id="coin-BTC"' not in page
    assert _expected_plots(page) == 2


def test_a_warehouse_without_tables_says_no_data_yet(tmp_path: Path) -> None:
    engine = make_engine(warehouse_location(f"duckdb:///{tmp_path / 'w.duckdb'}"), create_tables=False)
    page = write_report(engine, tmp_path / "r.html", now=NOW).read_text()
    assert "no data yet" in page
    assert _expected_plots(page) == 0
    assert PLOTLY_BANNER not in page  # nothing to plot: no 4.8 MB of JavaScript either
    assert "tables not in the warehouse yet" in page and "<code>layer_signals</code>" in page


def test_missing_and_empty_optional_tables(tmp_path: Path) -> None:
    engine = build_warehouse(tmp_path / "w.duckdb", coins=["BTC"], bars=120, etf=False, health=False)
    with engine.begin() as conn:
        conn.execute(text("drop table api_health"))
        conn.execute(text("delete from alert_events"))
    page = write_report(engine, tmp_path / "r.html", now=NOW).read_text()
    assert _expected_plots(page) == 1  # the coin still plots
    assert "no data yet" in _section(page, "etf") and "no data yet" in _section(page, "health")
    assert "no data yet: no alert events" in _section(page, "alerts")
    assert "<code>api_health</code>" in page


def test_a_coin_without_bars_gets_a_no_data_section(warehouse: Engine, tmp_path: Path) -> None:
    with warehouse.begin() as conn:
        conn.execute(text("delete from layer_signals where coin = 'ETH'"))
    page = write_report(warehouse, tmp_path / "r.html", now=NOW).read_text()
    assert "no data yet: no scored bars for ETH" in page
    assert _expected_plots(page) == 2


def test_signal_evaluation_is_shown_when_the_table_exists(warehouse: Engine, tmp_path: Path) -> None:
    pd.DataFrame({"coin": ["BTC"], "tier": ["action"], "hit_rate": [0.61]}).to_sql(
        "signal_evaluation", warehouse, index=False
    )
    page = write_report(warehouse, tmp_path / "r.html", now=NOW).read_text()
    section = _section(page, "evaluation")
    assert "<th>Hit rate</th>" in section and "0.61" in section
    assert 'href="#evaluation"' in page  # listed in the contents


def test_text_from_the_warehouse_is_escaped(warehouse: Engine, tmp_path: Path) -> None:
    with warehouse.begin() as conn:
        conn.execute(text("update api_health set detail = '<script>alert(1)</script>'"))
    page = write_report(warehouse, tmp_path / "r.html", now=NOW).read_text()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


def test_the_page_never_shows_the_warehouse_password() -> None:
    secret_url = (
        "postgresql+psycopg://sniper:S3cret-pw@db.example:5432/sniper?password=Q-secret&sslmode=require"
    )
    # An engine is only built, never connected: the header comes from its URL object.
    engine = create_engine(secret_url)
    page = render_page(ReportData(warehouse=redacted_url(engine.url), coins=[]), NOW)
    assert "S3cret-pw" not in page and "Q-secret" not in page
    assert "db.example:5432/sniper" in page
    assert "sniper:***@db.example:5432/sniper?password=***&amp;sslmode=***" in page


@pytest.mark.postgres
def test_report_from_postgres_hides_the_password(pg_url: str, tmp_path: Path) -> None:
    url = make_url(pg_url)
    assert url.password
    engine = make_engine(warehouse_location(pg_url))
    from sniper_pipeline_tests.report.conftest import confluence, layer_signals

    layers = layer_signals("BTC", 120)
    layers.to_sql("layer_signals", engine, index=False)
    confluence(layers).to_sql("confluence_signals", engine, index=False)
    page = write_report(engine, tmp_path / "r.html", now=NOW).read_text()
    assert f":{url.password}@" not in page and "***" in page
    assert _expected_plots(page) == 1


def test_report_command_writes_the_default_path(
    project_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    build_warehouse(project_env / "w.duckdb", coins=["BTC"], bars=60, etf=False)
    monkeypatch.setenv("SNIPER_WAREHOUSE_URL", f"duckdb:///{project_env / 'w.duckdb'}")
    assert report_command(None) == 0
    target = project_env / "reports" / "signals.html"
    assert target.is_file() and "coins: BTC" in target.read_text()
    assert str(target) in capsys.readouterr().out
    assert report_command(project_env / "elsewhere" / "x.html") == 0
    assert (project_env / "elsewhere" / "x.html").is_file()


def test_report_command_reports_a_bad_warehouse_url(
    project_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SNIPER_WAREHOUSE_URL", "mysql://u:pw@h/db")
    assert report_command(None) == 1
    err = capsys.readouterr().err
    assert "unsupported backend" in err and "pw@" not in err
