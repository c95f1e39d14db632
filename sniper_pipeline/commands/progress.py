"""What `sniper run` shows while it works: a line per finished step and per finished job, driven
by Dagster's STEP_START / STEP_SUCCESS / STEP_FAILURE events.

On a terminal, a `rich` live line shows the running step and its time; elsewhere (a pipe, a
file, `-v`) plain lines. Dagster's and dbt's own logs go to a log file instead (`run.py`)."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

if TYPE_CHECKING:
    from dagster import EventLogEntry

MARKS = {"STEP_SUCCESS": "✓", "STEP_FAILURE": "✗ failed", "STEP_SKIPPED": "- skipped"}


class RunProgress:
    """One per `sniper run`; `on_event` is the Dagster instance's event listener of each run."""

    def __init__(self, stream: TextIO, *, live: bool) -> None:
        # markup off: labels and notes such as "[recovery] ..." are text, not rich markup
        self._console = Console(file=stream, markup=False, highlight=False, emoji=False)
        self._live = live and self._console.is_terminal and not self._console.is_dumb_terminal
        self._stream = stream
        self._job = ""
        self._job_started = 0.0
        self._running: dict[str, float] = {}  # step key -> start (epoch seconds, as events carry)
        self._width = 0
        self._spinner = Spinner("dots", style="cyan")
        self._display: Live | None = None

    def line(self, text: str, style: str | None = None) -> None:
        """A line of its own on the operator's stream (above the live line, if any)."""
        if self._live:
            self._console.print(Text(text, style=style or ""))
        else:
            self._stream.write(text + "\n")
            self._stream.flush()

    def start_job(self, label: str, what: str) -> None:
        self._job, self._job_started = label, time.time()
        self._running.clear()
        self._width = max(self._width, len(label))
        if self._live:
            self._console.print(Text(f"{label}  {what}", style="bold"))
            # redirect off: Dagster writes to sys.stdout/sys.stderr, whose fds go to the log file
            self._display = Live(
                console=self._console,
                get_renderable=self._render,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
                refresh_per_second=8,
            )
            self._display.start()

    def finish_job(self, success: bool, mark: str | None = None) -> None:
        self._stop_display()
        elapsed = time.time() - self._job_started
        mark = mark or ("done" if success else "FAILED (see the summary)")
        self.line(f"{self._job:<{self._width}}  {mark} in {elapsed:.1f}s", None if success else "red")

    def on_event(self, entry: EventLogEntry) -> None:
        # Progress must never break a run; the events are in the log file anyway.
        with contextlib.suppress(Exception):
            self._on_event(entry)

    def close(self) -> None:
        self._stop_display()

    def _on_event(self, entry: EventLogEntry) -> None:
        event = entry.dagster_event
        if event is None or event.step_key is None:
            return
        kind = event.event_type_value
        if kind == "STEP_START":
            self._running[event.step_key] = entry.timestamp
        elif kind in MARKS:
            started = self._running.pop(event.step_key, entry.timestamp)
            elapsed = entry.timestamp - started
            self.line(
                f"{self._job:<{self._width}}  {event.step_key:<26} {MARKS[kind]} {elapsed:.1f}s",
                "red" if kind == "STEP_FAILURE" else None,
            )

    def _render(self) -> Spinner:
        now = time.time()
        if self._running:
            step, started = next(reversed(self._running.items()))
            text = f"{self._job}  {step}  {now - started:.1f}s"
        else:
            text = f"{self._job}  {now - self._job_started:.1f}s"
        self._spinner.update(text=Text(text))
        return self._spinner

    def _stop_display(self) -> None:
        if self._display is not None:
            self._display.stop()
            self._display = None
