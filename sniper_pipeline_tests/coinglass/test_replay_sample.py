"""The shipped sample archive and its extraction."""

from __future__ import annotations

import io
import json
import tarfile
import threading
from pathlib import Path

import pytest

from sniper_pipeline.replay import sample as sample_mod
from sniper_pipeline.replay.sample import (
    CACHE_ENV,
    FOLDER_NAME,
    MARKER,
    build_archive,
    default_cache_root,
    sample_dir,
)
from sniper_pipeline_tests.coinglass.conftest import REPO_ROOT, SHARED_REAL_DIR

SAMPLE_README = REPO_ROOT / "sniper_pipeline" / "sample" / "README.md"


def test_sample_folder_is_complete_and_real(sample_data_dir: Path) -> None:
    manifest = json.loads((sample_data_dir / "manifest.json").read_text())
    listed = {e["file"] for e in manifest["files"]}
    on_disk = {p.name for p in sample_data_dir.glob("*.json")} - {"manifest.json"}
    assert listed == on_disk and len(listed) > 40
    assert not any(e.get("synthetic") for e in manifest["files"])
    readme = SAMPLE_README.read_text()
    assert manifest["source_repository"].removeprefix("github:") in readme
    assert manifest["commit"] in readme


@pytest.mark.skipif(not SHARED_REAL_DIR.is_dir(), reason="no ../shared/fixtures/coinglass-real")
def test_sample_ships_the_whole_shared_folder(sample_data_dir: Path) -> None:
    shared = {p.name: p.read_bytes() for p in SHARED_REAL_DIR.glob("*.json")}
    shipped = {p.name: p.read_bytes() for p in sample_data_dir.glob("*.json")}
    assert shipped == shared


def test_extracts_once_and_reuses(tmp_path: Path) -> None:
    folder = sample_dir(tmp_path)
    assert folder == tmp_path / FOLDER_NAME
    marker = (folder / MARKER).stat().st_mtime_ns
    assert sample_dir(tmp_path) == folder
    assert (folder / MARKER).stat().st_mtime_ns == marker
    assert [p.name for p in tmp_path.iterdir()] == [FOLDER_NAME]  # no temp folders left behind


def test_stale_extraction_is_replaced(tmp_path: Path) -> None:
    folder = sample_dir(tmp_path)
    (folder / MARKER).write_text("old archive\n")
    (folder / "leftover.json").write_text("{}")
    again = sample_dir(tmp_path)
    assert again == folder and not (folder / "leftover.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [FOLDER_NAME]


def test_concurrent_callers_get_one_complete_folder(tmp_path: Path) -> None:
    results: list[Path] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(4)

    def call() -> None:
        gate.wait()
        try:
            results.append(sample_dir(tmp_path))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert results == [tmp_path / FOLDER_NAME] * 4
    assert (tmp_path / FOLDER_NAME / "manifest.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [FOLDER_NAME]


def test_cache_root_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    assert default_cache_root() == tmp_path / "cache"
    monkeypatch.delenv(CACHE_ENV)
    assert default_cache_root() == REPO_ROOT / "data" / "sample"  # running from a checkout


def test_archive_is_reproducible(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "manifest.json").write_text('{"files": []}')
    (src / "a.json").write_text('{"code": "0", "data": []}')
    a = build_archive(src, tmp_path / "a.tar.xz")
    (src / "a.json").touch()  # mtimes must not matter
    b = build_archive(src, tmp_path / "b.tar.xz")
    assert a.read_bytes() == b.read_bytes()


def test_shipped_archive_holds_only_the_recordings_folder() -> None:
    with tarfile.open(fileobj=io.BytesIO(sample_mod.archive_bytes()), mode="r:xz") as tar:
        names = tar.getnames()
    assert names[0] == FOLDER_NAME
    assert all(n.startswith(FOLDER_NAME + "/") and n.endswith(".json") for n in names[1:])
    assert f"{FOLDER_NAME}/manifest.json" in names
