"""Debian's headless chromium for the screenshot tests (nothing downloads a browser).

Two ways to drive it: `chromium()` runs it once (`--dump-dom` / `--screenshot` after a
virtual-time budget), enough for a static page such as the report; `DevToolsPage` keeps a
DevTools session open and waits for a condition in the page, for pages that never go idle (the
Dagster UI polls and lays its graph out in a web worker, which virtual time does not wait for:
a budget there either dumps the DOM before the graph is drawn or never returns).
`Png` / `png_summary` read a screenshot back."""

from __future__ import annotations

import base64
import json
import queue
import re
import struct
import subprocess
import threading
import time
import zlib
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pytest
from websockets.sync.client import ClientConnection, connect

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
)
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


def chromium(url: str, profile: Path, *args: str, budget_ms: int = 5000) -> subprocess.CompletedProcess[str]:
    """One run of chromium over `url`; `args` say what to produce (--dump-dom, --screenshot=...)."""
    profile.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [
            str(CHROMIUM),
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class ChromiumStartError(RuntimeError):
    """Chromium exited, or printed no DevTools endpoint in time, during start-up."""


class _Chromium:
    """A chromium process whose stderr a daemon thread drains into a queue: a deadline on
    reading it holds (a blocking readline does not), and a full pipe never stalls chromium."""

    def __init__(self, profile: Path, size: tuple[int, int]) -> None:
        self.proc = subprocess.Popen(
            [
                str(CHROMIUM),
                *FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",  # chromium picks a free port and prints it
                f"--window-size={size[0]},{size[1]}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        with self.proc.stderr:
            for line in self.proc.stderr:
                self.lines.put(line)
        self.lines.put(None)  # end of stream: chromium exited

    def endpoint(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        seen: list[str] = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                self.proc.wait()
                raise ChromiumStartError(
                    f"chromium exited ({self.proc.returncode}) before its DevTools endpoint:\n"
                    + "".join(seen[-20:])
                )
            seen.append(line)
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            if found:
                return found.group(1)
        raise ChromiumStartError(
            f"chromium printed no DevTools endpoint in {timeout_s:.0f} s:\n" + "".join(seen[-20:])
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class DevToolsPage:
    """A chromium tab at `url` in a `size` viewport, driven over the DevTools protocol."""

    START_TIMEOUT_S = 45.0

    def __init__(self, url: str, profile: Path, size: tuple[int, int]) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        self.size = size
        self._ids = 0
        self._socket: ClientConnection | None = None
        self._session = ""
        self._chromium = _Chromium(profile, size)
        try:
            try:
                endpoint = self._chromium.endpoint(self.START_TIMEOUT_S)
            except ChromiumStartError:
                # On a loaded machine chromium sometimes exits or stalls during start-up
                # (seen in CI: no endpoint for 30 s after its D-Bus errors): one more try.
                self._chromium.stop()
                self._chromium = _Chromium(profile, size)
                endpoint = self._chromium.endpoint(self.START_TIMEOUT_S)
            self._socket = connect(endpoint, max_size=None, open_timeout=30)
            [page] = [t for t in self._send("Target.getTargets")["targetInfos"] if t["type"] == "page"]
            attached = self._send("Target.attachToTarget", targetId=page["targetId"], flatten=True)
            self._session = attached["sessionId"]
            width, height = size
            self._send(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
            self._send("Page.navigate", url=url)
        except BaseException:
            self.close()
            raise

    def _send(self, method: str, **params: Any) -> dict[str, Any]:
        assert self._socket is not None
        self._ids += 1
        message: dict[str, Any] = {"id": self._ids, "method": method, "params": params}
        if self._session:
            message["sessionId"] = self._session
        self._socket.send(json.dumps(message))
        while True:  # events arrive in between; the answer carries our id
            answer = json.loads(self._socket.recv(timeout=60))
            if answer.get("id") == self._ids:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]  # type: ignore[no-any-return]

    def evaluate(self, expression: str) -> Any:
        result = self._send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float) -> Any:
        """The first truthy value of `expression`, polled; fails with the last value seen."""
        deadline = time.monotonic() + timeout_s
        value = None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        raise AssertionError(f"not true within {timeout_s} s: {expression} (last: {value!r})")

    def screenshot(self, path: Path) -> Path:
        data = self._send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._chromium.stop()

    def __enter__(self) -> DevToolsPage:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class Png:
    """An 8-bit RGB(A) PNG decoded with zlib and numpy (no imaging package is installed): rows
    with the None, Sub or Up filter in one vector step, Average and Paeth rows byte by byte."""

    def __init__(self, path: Path) -> None:
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
        self.width, self.height, depth, colour_type, _, _, interlace = header
        assert depth == 8 and interlace == 0 and colour_type in (2, 6)
        self.bpp = 3 if colour_type == 2 else 4
        self._raw = zlib.decompress(bytes(idat))
        assert len(self._raw) == self.height * (self.width * self.bpp + 1)

    def rgb(self, max_rows: int) -> np.ndarray:
        """The first `max_rows` rows as a (rows, width, 3) uint8 array."""
        bpp, stride = self.bpp, self.width * self.bpp
        rows = min(self.height, max_rows)
        out = np.zeros((rows, stride), dtype=np.uint8)
        previous = np.zeros(stride, dtype=np.uint8)
        for row in range(rows):
            start = row * (stride + 1)
            kind = self._raw[start]
            line = np.frombuffer(self._raw, dtype=np.uint8, count=stride, offset=start + 1)
            if kind == 0:
                out[row] = line
            elif kind == 1:  # uint8 sums wrap modulo 256, as the filter does
                out[row] = line.reshape(-1, bpp).cumsum(axis=0, dtype=np.uint8).ravel()
            elif kind == 2:
                out[row] = line + previous
            else:
                out[row] = self._average_or_paeth(kind, bytearray(line), previous)
            previous = out[row]
        return out.reshape(rows, self.width, bpp)[:, :, :3]

    def _average_or_paeth(self, kind: int, line: bytearray, above: np.ndarray) -> np.ndarray:
        bpp, up_row = self.bpp, bytes(above)
        for i in range(len(line)):
            left = line[i - bpp] if i >= bpp else 0
            up = up_row[i]
            if kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 255
            else:
                corner = up_row[i - bpp] if i >= bpp else 0
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        return np.frombuffer(bytes(line), dtype=np.uint8)


def png_summary(path: Path, max_rows: int, first_row: int = 0) -> tuple[int, int, set[bytes]]:
    """Width, height and the distinct colours (RGB) of rows `first_row` to `max_rows`."""
    png = Png(path)
    pixels = png.rgb(max_rows)[first_row:].reshape(-1, 3).astype(np.uint32)
    packed = np.unique(pixels[:, 0] << 16 | pixels[:, 1] << 8 | pixels[:, 2])
    return png.width, png.height, {int(c).to_bytes(3, "big") for c in packed}
