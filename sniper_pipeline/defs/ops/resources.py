"""AlertDeliveryResource: delivery settings, channels (URLs from config or SNIPER_ALERT_URLS)."""

import os
from datetime import UTC, datetime

import dagster as dg
from sqlalchemy import Engine

from sniper_pipeline.delivery.channels import resolve_channels
from sniper_pipeline.delivery.notifier import Notifier, send_ops_alert
from sniper_pipeline.delivery.outbox import DeliveryReport, EnqueueCounts, deliver_due, enqueue
from sniper_pipeline.delivery.settings import DeliverySettings, load_delivery_settings
from sniper_pipeline.settings.paths import config_dir


def dagster_ui_url() -> str:
    return os.environ.get("SNIPER_DAGSTER_URL", "http://127.0.0.1:3000").rstrip("/")


class AlertDeliveryResource(dg.ConfigurableResource):
    """Sends alert events through the outbox; a link to the Dagster run goes into each message."""

    run_url_template: str | None = None  # e.g. http://127.0.0.1:3000/runs/{run_id}

    def settings(self) -> DeliverySettings:
        return load_delivery_settings(config_dir())

    def enqueue_and_deliver(
        self, engine: Engine, events: object, bar_interval: str | None, now: datetime
    ) -> tuple[EnqueueCounts, DeliveryReport]:
        """`now` is the API's clock (the replay server's in replay), naive UTC: the cut-off for
        historical events compares it with bar times."""
        settings = self.settings()
        channels = resolve_channels(settings)
        counts = enqueue(engine, events, channels, now, bar_interval=bar_interval, settings=settings)
        report = deliver_due(engine, Notifier(channels), now, settings, run_url=self.run_url_template)
        return counts, report

    def deliver(self, engine: Engine) -> DeliveryReport:
        settings = self.settings()
        notifier = Notifier(resolve_channels(settings))
        return deliver_due(
            engine, notifier, datetime.now(UTC).replace(tzinfo=None), settings, run_url=self.run_url_template
        )

    def ops_alert(self, title: str, body: str) -> None:
        send_ops_alert(self.settings(), title, body)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "alert_delivery": AlertDeliveryResource(run_url_template=f"{dagster_ui_url()}/runs/{{run_id}}")
        }
    )
