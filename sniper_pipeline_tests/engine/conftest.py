from __future__ import annotations

from pathlib import Path

import pytest

from sniper_pipeline.replay.sample import sample_dir

SHARED_RECORDINGS = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "coinglass-real"


@pytest.fixture(scope="session")
def recordings_dir() -> Path:
    """The real recordings: ../shared/fixtures/coinglass-real, else the copy the package ships."""
    if (SHARED_RECORDINGS / "manifest.json").is_file():
        return SHARED_RECORDINGS
    return sample_dir()
