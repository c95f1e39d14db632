"""The global asset graph in a real browser: dagster-webserver over workspace.yaml with the shipped
instance config, its lineage page with every group expanded, in Debian's headless chromium. The
page must draw one node for each asset the webserver serves (raw layers, dbt models, signals),
and the screenshot must be the requested size and show a drawn graph, not a blank or loading page.

`SNIPER_UPDATE_DOCS_SCREENSHOT=1 pytest sniper_pipeline_tests/defs/test_asset_graph_ui.py` also
copies the screenshot to docs/images/asset-graph.png."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from sniper_pipeline_tests.browser import DevToolsPage, Png, needs_chromium
from sniper_pipeline_tests.defs.webserver import graphql, running_webserver

pytestmark = [pytest.mark.slow, pytest.mark.browser, needs_chromium]

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "asset-graph.png"
WINDOW = (1800, 1500)  # the whole graph at the page's zoom-to-fit-width
GROUPS = ("ingest", "transform", "signals", "ops")
# The lineage page keeps its open groups in the `expanded` query parameter; dagster-webserver
# 1.13 names a group "global@global:<group>" (groups not split per code location).
GRAPH_PATH = "/asset-groups?expanded=" + quote(",".join(f"global@global:{g}" for g in GROUPS))
# The UI's own markup (dagster-webserver 1.13, CSS-module class names): node labels, and a node
# box still in its loading colour until the asset's status has arrived.
LABELS = "Array.from(document.querySelectorAll('[class*=\"AssetNode_assetName\"]'), e => e.textContent)"
LOADING = "document.querySelectorAll('[style*=\"--minimal-bg: var(--color-background-light)\"]').length"
BOXES = """Array.from(document.querySelectorAll('[class*="AssetNode_minimalAssetNodeBox"]'), box => {
  const r = box.getBoundingClientRect();
  return [box.textContent, r.left, r.top, r.width, r.height];
})"""
MUST_DRAW = (
    "raw_funding",
    "raw_open_interest",
    "raw_liquidations",
    "raw_taker_volume",
    "stg_coinglass__funding",
    "stg_coinglass__open_interest",
    "stg_coinglass__liquidations",
    "stg_coinglass__taker_volume",
    "fct_layer_bars",
    "percentile_configs",
    "layer_signals",
    "confluence_signals",
    "alert_events",
    "alert_outbox",
)
ASSET_NAMES = "{ assetNodes { assetKey { path } } }"


@dataclass(frozen=True)
class GraphPage:
    served: set[str]  # asset names from the webserver's GraphQL API, what the page asks too
    labels: list[str]  # node labels drawn in the page
    boxes: list[tuple[str, float, float, float, float]]  # each node box: label, left, top, width, height
    screenshot: Path


def drawn_as(label: str, name: str) -> bool:
    """Zoomed out, the UI shortens long names in the middle: `stg_coin…__funding`."""
    head, ellipsis, tail = label.partition("…")
    if not ellipsis:
        return label == name
    return len(name) > len(head) + len(tail) and name.startswith(head) and name.endswith(tail)


@pytest.fixture(scope="module")
def graph_page(tmp_path_factory: pytest.TempPathFactory) -> GraphPage:
    root = tmp_path_factory.mktemp("asset-graph")
    with running_webserver(root / "home") as port:
        nodes = graphql(port, ASSET_NAMES)["data"]["assetNodes"]
        served = {"/".join(node["assetKey"]["path"]) for node in nodes}
        url = f"http://127.0.0.1:{port}{GRAPH_PATH}"
        with DevToolsPage(url, root / "profile", WINDOW) as page:
            labels: list[str] = page.wait_for(
                f"(() => {{ const l = {LABELS}; return l.length >= {len(served)} && {LOADING} === 0"
                " && document.fonts.status === 'loaded' ? l : null; })()",
                timeout_s=60,
            )
            shot = page.screenshot(root / "asset-graph.png")
            boxes = [tuple(box) for box in page.evaluate(BOXES)]
    return GraphPage(served, labels, boxes, shot)  # type: ignore[arg-type]


def test_label_matching_follows_the_ui_shortening() -> None:
    assert drawn_as("stg_coin…__funding", "stg_coinglass__funding")
    assert not drawn_as("stg_coin…__funding", "stg_coinglass__liquidations")
    assert not drawn_as("raw_funding", "raw_funding_intervals")


def test_the_graph_draws_every_served_asset(graph_page: GraphPage) -> None:
    assert set(MUST_DRAW) <= graph_page.served
    labels = graph_page.labels
    assert len(labels) == len(graph_page.served), labels
    for name in sorted(graph_page.served):
        assert any(drawn_as(label, name) for label in labels), f"{name} not drawn; labels: {labels}"
    for label in labels:
        assert any(drawn_as(label, name) for name in graph_page.served), f"{label}: not a served asset"


def test_the_screenshot_shows_the_drawn_graph(graph_page: GraphPage) -> None:
    png = Png(graph_page.screenshot)
    assert (png.width, png.height) == WINDOW
    pixels = png.rgb(WINDOW[1])
    assert pixels.std() > 5, "a blank page"
    # Every node box the page laid out is in the picture where the DOM has it: filled (not the
    # group's background just left of it), all in the one fill of a never-materialized asset.
    assert len(graph_page.boxes) == len(graph_page.served)
    fills = set()
    for label, left, top, width, height in graph_page.boxes:
        y = int(top + 0.2 * height)  # above the centred label text
        inside, outside = pixels[y, int(left + width / 2)].astype(int), pixels[y, int(left) - 6].astype(int)
        assert abs(inside - outside).sum() > 6, f"{label}: no box drawn at ({left:.0f}, {top:.0f})"
        fills.add(tuple(inside))
    assert len(fills) == 1, fills
    if os.environ.get("SNIPER_UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(graph_page.screenshot, DOCS_SCREENSHOT)
