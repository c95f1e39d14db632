"""`sniper outbox`: an operator lists the sends left in doubt and settles them from the CLI."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from sniper_pipeline.cli import main
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.tables import outbox
from sniper_pipeline.warehouse.url import warehouse_location

STARTED = datetime(2025, 5, 20, 12, 0)


@pytest.fixture
def doubtful_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A warehouse with two sends in doubt (as a crash mid-send leaves them) and one delivered."""
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    monkeypatch.setenv("SNIPER_WAREHOUSE_URL", url)
    engine = make_engine(warehouse_location(url))
    rows = [("BTC|4h|e1", "in_doubt"), ("ETH|4h|e2", "in_doubt"), ("SOL|4h|e3", "delivered")]
    with engine.begin() as conn:
        for key, status in rows:
            conn.execute(
                insert(outbox).values(
                    dedup_key=key,
                    channel="json://desk",
                    status=status,
                    attempts=1,
                    created_at=STARTED,
                    attempted_at=STARTED,
                    delivered_at=STARTED if status == "delivered" else None,
                )
            )
    engine.dispose()
    return url


def _statuses(url: str) -> dict[str, str]:
    engine = make_engine(warehouse_location(url))
    with engine.connect() as conn:
        found = {key: status for key, status in conn.execute(select(outbox.c.dedup_key, outbox.c.status))}
    engine.dispose()
    return found


def test_lists_and_settles_sends_in_doubt(
    doubtful_warehouse: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["outbox"]) == 0
    listing = capsys.readouterr().out
    assert "2 send(s) in doubt" in listing and "BTC|4h|e1" in listing and "SOL|4h|e3" not in listing

    assert main(["outbox", "resolve", "--mark-delivered", "--dedup-key", "BTC|4h|e1"]) == 0
    assert "1 send(s) marked delivered" in capsys.readouterr().out
    assert main(["outbox", "resolve", "--resend"]) == 0
    assert "ETH|4h|e2" in capsys.readouterr().out
    assert _statuses(doubtful_warehouse) == {
        "BTC|4h|e1": "delivered",
        "ETH|4h|e2": "pending",
        "SOL|4h|e3": "delivered",
    }
    assert main(["outbox"]) == 0
    assert "no send in doubt" in capsys.readouterr().out


def test_resolve_needs_a_decision(doubtful_warehouse: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["outbox", "resolve"]) == 2
    assert "--resend or --mark-delivered" in capsys.readouterr().err
    assert set(_statuses(doubtful_warehouse).values()) == {"in_doubt", "delivered"}
