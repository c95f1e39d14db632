from __future__ import annotations

from pathlib import Path

import pytest

from .recorded_bars import SHARED_RECORDINGS


@pytest.fixture(scope="session")
def recordings_dir() -> Path:
    """The real recordings: ../shared/fixtures/coinglass-real (skipped when absent)."""
    if not (SHARED_RECORDINGS / "manifest.json").is_file():
        pytest.skip(f"no recordings at {SHARED_RECORDINGS}")
    return SHARED_RECORDINGS
