"""One `deliver_due` in its own process, for `test_crash.py` to kill with SIGKILL mid-send.

    python -m sniper_pipeline_tests.delivery.crash_worker WAREHOUSE_URL CHANNEL_URL NOW SETTINGS MODE

MODE `slow`: a plain run (the test kills it while its receiver holds the first request).
MODE `after_send`: the process kills itself with SIGKILL as soon as the first send returns,
before the outcome is committed: the crash between a send and its `delivered` mark.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import datetime

from sniper_pipeline.delivery.channels import channels_from_urls
from sniper_pipeline.delivery.messages import Message
from sniper_pipeline.delivery.notifier import Notifier, SendOutcome
from sniper_pipeline.delivery.outbox import deliver_due
from sniper_pipeline.delivery.settings import DeliverySettings
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.url import warehouse_location

MODES = ("slow", "after_send")


class KilledAfterSend(Notifier):
    def send(self, channel_id: str, message: Message, *, idempotency_key: str | None = None) -> SendOutcome:
        outcome = super().send(channel_id, message, idempotency_key=idempotency_key)
        print(f"sent ok={outcome.ok}; killing myself", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        return outcome  # not reached


def main(argv: list[str]) -> int:
    warehouse_url, channel_url, now, settings_json, mode = argv
    if mode not in MODES:
        raise SystemExit(f"mode must be one of {MODES}")
    engine = make_engine(warehouse_location(warehouse_url))
    channels = channels_from_urls([channel_url])
    notifier = KilledAfterSend(channels) if mode == "after_send" else Notifier(channels)
    print("delivering", flush=True)
    report = deliver_due(
        engine, notifier, datetime.fromisoformat(now), DeliverySettings.model_validate_json(settings_json)
    )
    print(f"finished: {report.as_metadata()}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
