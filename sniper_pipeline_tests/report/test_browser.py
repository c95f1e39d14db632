"""The report in a real browser: every figure renders without a JavaScript error, and a
screenshot shows charts, not a blank page.

The page's own probe script (report/html.py) writes the number of rendered plots and any errors
onto <body>; headless Chromium's --dump-dom gives back that DOM after the virtual-time budget."""

from __future__ import annotations

import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sniper_pipeline.report import write_report
from sniper_pipeline_tests.report.conftest import NOW, build_warehouse

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
WINDOW = (1400, 2400)


def _chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [
            str(CHROMIUM),
            *FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class _BodyAttributes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.attrs: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.attrs = {k: v or "" for k, v in attrs}


def _png_summary(path: Path, max_rows: int) -> tuple[int, int, int]:
    """Width, height and the number of distinct colours in the top `max_rows` rows of an 8-bit
    RGB(A) PNG; a minimal decoder (zlib + the five scanline filters), standard library only."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, bytearray(), None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert header is not None
    width, height, depth, colour_type, _, _, interlace = header
    assert depth == 8 and interlace == 0 and colour_type in (2, 6)
    bpp = 3 if colour_type == 2 else 4
    raw = zlib.decompress(bytes(idat))
    stride = width * bpp
    assert len(raw) == height * (stride + 1)
    previous = bytearray(stride)
    colours: set[bytes] = set()
    for row in range(min(height, max_rows)):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride) if kind else ():
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 255
            else:
                corner = previous[i - bpp] if i >= bpp else 0
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        colours.update(bytes(line[i : i + 3]) for i in range(0, stride, bpp))
        previous = line
    return width, height, len(colours)


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    engine = build_warehouse(root / "w.duckdb", coins=("BTC", "ETH"), bars=400)
    try:
        return write_report(engine, root / "signals.html", now=NOW)
    finally:
        engine.dispose()


def test_every_figure_renders_without_javascript_errors(report_page: Path) -> None:
    done = _chromium(report_page, report_page.parent / "profile-dom", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    parser = _BodyAttributes()
    parser.feed(done.stdout)
    body = parser.attrs
    assert body.get("data-report-ready") == "1", f"the page's probe never finished: {body}"
    assert body["data-js-errors"] == ""
    assert body["data-plots-expected"] == "3"  # two coins and the ETF panel
    assert body["data-plots-rendered"] == body["data-plots-expected"]


def test_screenshot_shows_the_charts(report_page: Path) -> None:
    shot = report_page.parent / "signals.png"
    done = _chromium(
        report_page,
        report_page.parent / "profile-shot",
        f"--screenshot={shot}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    )
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    assert shot.stat().st_size > 20_000
    # The first coin's figure sits in the top ~1300 px; a blank or text-only page has a few
    # dozen colours, anti-aliased lines in a dozen hues give thousands.
    width, height, colours = _png_summary(shot, max_rows=1300)
    assert (width, height) == WINDOW
    assert colours > 500, f"only {colours} distinct colours: the charts did not draw"
