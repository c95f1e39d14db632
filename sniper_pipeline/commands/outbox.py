"""`sniper outbox [resolve ...]`: the sends left in doubt by a crash mid-send, and settling them.

A send whose worker stopped after it started and before its outcome was recorded is never
re-sent blindly (the receiver may have it): the operator checks the channel, then either marks
it delivered or asks for a resend (with the same idempotency key, where the channel has one)."""

from __future__ import annotations

from typing import Literal

from sniper_pipeline.commands.preflight import checked_warehouse
from sniper_pipeline.delivery.outbox import in_doubt_rows, resolve_in_doubt
from sniper_pipeline.warehouse.engine import make_engine

EXIT_OK = 0


def outbox_list_command() -> int:
    engine = make_engine(checked_warehouse())
    try:
        rows = in_doubt_rows(engine)
    finally:
        engine.dispose()
    if not rows:
        print("outbox: no send in doubt")
        return EXIT_OK
    print(f"outbox: {len(rows)} send(s) in doubt (started, outcome unknown); check the channel, then")
    print("  sniper outbox resolve --mark-delivered | --resend [--dedup-key K] [--channel C]")
    for dedup_key, channel in rows:
        print(f"  {dedup_key}  {channel}")
    return EXIT_OK


def outbox_resolve_command(
    action: Literal["resend", "mark_delivered"], dedup_key: str | None, channel: str | None
) -> int:
    engine = make_engine(checked_warehouse())
    try:
        settled = resolve_in_doubt(engine, dedup_key=dedup_key, channel=channel, action=action)
    finally:
        engine.dispose()
    verb = "queued for resend" if action == "resend" else "marked delivered"
    print(f"outbox: {len(settled)} send(s) {verb}")
    for key, row_channel in settled:
        print(f"  {key}  {row_channel}")
    return EXIT_OK
