"""Test helpers for the client: a sleeper that records instead of sleeping, and one page of a bar
series asked for and parsed the way `fetch_series` (the pipeline's path) does it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sniper_pipeline.coinglass import endpoints as ep
from sniper_pipeline.coinglass.client import CoinGlassClient
from sniper_pipeline.coinglass.errors import CoinGlassError
from sniper_pipeline.coinglass.parsing import ParsedFrame
from sniper_pipeline.coinglass.transport import Sleeper


@dataclass
class RecordingSleeper:
    """A sleeper that records requested delays and does not sleep (or calls `inner` when given)."""

    delays: list[float] = field(default_factory=list)
    inner: Sleeper | None = None

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.inner is not None:
            self.inner(seconds)


def series_page(client: CoinGlassClient, path: str, **params: Any) -> ParsedFrame:
    """`client.get` with the series' params, then `parse_series_response`. Client-side validation
    is `fetch_series`'s own (test_client_side_validation_sends_nothing)."""
    clean = {k: v for k, v in params.items() if v is not None}
    if isinstance(clean.get("exchange_list"), list | tuple):
        clean["exchange_list"] = ",".join(clean["exchange_list"])
    data = client.get(path, clean)
    try:
        return ep.parse_series_response(
            path,
            data,
            interval=str(clean["interval"]),
            now=client.now(),
            value_unit=ep.series_value_unit(path, clean),
        )
    except CoinGlassError as exc:
        raise exc.with_request(clean) from None
