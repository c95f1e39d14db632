"""AlertDeliveryResource: delivery settings, channels (URLs from config or SNIPER_ALERT_URLS)."""

import os
from datetime import datetime

import dagster as dg
from sqlalchemy import Engine

from sniper_pipeline.delivery.channels import resolve_channels
from sniper_pipeline.delivery.notifier import Notifier, send_ops_alert
from sniper_pipeline.delivery.outbox import DeliveryReport, EnqueueCounts, deliver_due, enqueue
from sniper_pipeline.delivery.settings import DeliverySettings, load_delivery_settings
from sniper_pipeline.settings.paths import config_dir
from sniper_pipeline.settings.timeutil import utc_now_naive


def dagster_ui_url() -> str:
    return os.environ.get("SNIPER_DAGSTER_URL", "http://127.0.0.1:3000").rstrip("/")


class AlertDeliveryResource(dg.ConfigurableResource):
    """Sends alert events through the outbox; a link to the Dagster run goes into each message."""

    run_url_template: str | None = None  # e.g. http://127.0.0.1:3000/runs/{run_id}

    def settings(self) -> DeliverySettings:
        return load_delivery_settings(config_dir())

    def enqueue(
        self, engine: Engine, events: object, bar_interval: str | None, now: datetime
    ) -> EnqueueCounts:
        """One outbox row per (event, channel). `now` is the API's clock (the replay server's in
        replay), naive UTC: the cut-off for historical events compares it with bar times."""
        settings = self.settings()
        return enqueue(
            engine, events, resolve_channels(settings), now, bar_interval=bar_interval, settings=settings
        )

    def deliver_due(self, engine: Engine, now: datetime) -> DeliveryReport:
        settings = self.settings()
        notifier = Notifier(resolve_channels(settings))
        return deliver_due(engine, notifier, now, settings, run_url=self.run_url_template)

    def deliver(self, engine: Engine) -> DeliveryReport:
        return self.deliver_due(engine, utc_now_naive())

    def ops_alert(self, title: str, body: str) -> None:
        send_ops_alert(self.settings(), title, body)


def area_defs() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "alert_delivery": AlertDeliveryResource(run_url_template=f"{dagster_ui_url()}/runs/{{run_id}}")
        }
    )
