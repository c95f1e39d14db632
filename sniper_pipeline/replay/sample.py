"""The shipped sample of real CoinGlass v4 recordings (``sniper_pipeline/sample/``).

The sample travels compressed inside the package; ``sample_dir()`` extracts it once
into a cache folder and returns that folder. Cache location, first match wins:

1. ``$SNIPER_SAMPLE_CACHE`` (a folder; the sample lands in ``<it>/coinglass-real``);
2. ``data/sample`` of the source checkout when the package runs from one (``data/`` is
   git-ignored);
3. ``$XDG_CACHE_HOME/sniper-pipeline/sample`` (default ``~/.cache/...``).

Extraction goes to a temporary folder next to the target and is renamed into place,
so concurrent callers (pytest-xdist workers, two CLIs) never see a half-written
folder. A marker file holds the archive's SHA-256: a changed archive re-extracts.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import uuid
from importlib import resources
from pathlib import Path

ARCHIVE_NAME = "coinglass-real.tar.xz"
FOLDER_NAME = "coinglass-real"
MARKER = ".archive-sha256"
CACHE_ENV = "SNIPER_SAMPLE_CACHE"


def archive_bytes() -> bytes:
    return resources.files("sniper_pipeline").joinpath("sample", ARCHIVE_NAME).read_bytes()


def default_cache_root() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    package_dir = Path(__file__).resolve().parents[1]
    checkout = package_dir.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "sniper_pipeline").is_dir():
        return checkout / "data" / "sample"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "sniper-pipeline" / "sample"


def _is_current(folder: Path, digest: str) -> bool:
    marker = folder / MARKER
    return marker.is_file() and marker.read_text().strip() == digest and (folder / "manifest.json").is_file()


def sample_dir(cache_root: Path | str | None = None) -> Path:
    """Folder holding the shipped sample (manifest.json + JSON envelopes), extracted if needed."""
    root = Path(cache_root) if cache_root is not None else default_cache_root()
    data = archive_bytes()
    digest = hashlib.sha256(data).hexdigest()
    target = root / FOLDER_NAME
    if _is_current(target, digest):
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{FOLDER_NAME}-", dir=root))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:xz") as tar:
            tar.extractall(tmp, filter="data")  # "data" filter refuses absolute paths and links out
        extracted = tmp / FOLDER_NAME
        if not (extracted / "manifest.json").is_file():
            raise RuntimeError(f"{ARCHIVE_NAME} has no {FOLDER_NAME}/manifest.json")
        (extracted / MARKER).write_text(digest + "\n")
        for _ in range(5):
            if _is_current(target, digest):
                return target  # another process finished first
            try:
                extracted.rename(target)
                return target
            except OSError:
                # target exists: stale (older archive) or half-removed; move it aside and retry.
                if target.exists() and not _is_current(target, digest):
                    aside = root / f".stale-{uuid.uuid4().hex}"
                    try:
                        target.rename(aside)
                    except OSError:
                        continue
                    shutil.rmtree(aside, ignore_errors=True)
        if _is_current(target, digest):
            return target
        raise RuntimeError(f"could not install the sample into {target}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_archive(source: Path | str, dest: Path | str) -> Path:
    """Pack a recordings folder as the shipped archive, byte-for-byte reproducible.

    For refreshing the sample: ``build_archive("../shared/fixtures/coinglass-real",
    "sniper_pipeline/sample/coinglass-real.tar.xz")``.
    """
    source, dest = Path(source), Path(dest)
    if not (source / "manifest.json").is_file():
        raise ValueError(f"{source}: no manifest.json")
    buf = io.BytesIO()
    # Fixed owner, mode and mtime, sorted names: the same folder gives the same bytes (clean git diffs).
    with tarfile.open(fileobj=buf, mode="w:xz", preset=9) as tar:
        dir_info = tarfile.TarInfo(FOLDER_NAME)
        dir_info.type, dir_info.mode, dir_info.mtime = tarfile.DIRTYPE, 0o755, 0
        tar.addfile(dir_info)
        for path in sorted(p for p in source.iterdir() if p.is_file() and p.suffix == ".json"):
            payload = path.read_bytes()
            info = tarfile.TarInfo(f"{FOLDER_NAME}/{path.name}")
            info.size, info.mode, info.mtime = len(payload), 0o644, 0
            tar.addfile(info, io.BytesIO(payload))
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(buf.getvalue())
    return dest
