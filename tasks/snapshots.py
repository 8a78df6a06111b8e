"""Raw snapshots: every download kept as published, named by its sha256, with a sidecar.

Layout: ``<data_dir>/snapshots/<dataset_id>/<sha256><suffix>`` and beside it
``<sha256>.json`` (source, retrieved-at, size, sha256, rows, publisher, licence, ETag
and Last-Modified when the server sent them). Identical bytes make no new snapshot; the
raw file is read once before it is committed (a temporary file renamed into place), so a
failed or unreadable pull leaves nothing partial behind.

Only this module writes raw bytes. It never changes a snapshot once written.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import rate_limit

from core.settings import Settings, get_settings
from core.storage import atomic_path, atomic_write_bytes, snapshots_dir
from tasks.sources.catalog import RATE_LIMITS, Dataset, dataset
from tasks.sources.fetch import Download, fetch
from tasks.sources.formats import ReaderError, resolve_format


@dataclass(frozen=True)
class Snapshot:
    dataset_id: str
    path: Path
    sha256: str
    is_new: bool
    sidecar: dict

    @property
    def sidecar_path(self) -> Path:
        return self.path.with_name(f"{self.sha256}.json")


def _suffix(filename: str) -> str:
    name = filename.lower()
    for suffix in (".csv.gz", ".csv", ".zip", ".json", ".xml", ".tar.gz"):
        if name.endswith(suffix):
            return suffix
    return ".bin"


def store_snapshot(source: Dataset, download: Download, settings: Settings) -> Snapshot:
    """Keep ``download`` under its checksum and describe it in a sidecar; return the
    snapshot (``is_new`` False when the same bytes were kept before)."""
    sha256 = hashlib.sha256(download.data).hexdigest()
    folder = snapshots_dir(settings, source.id)
    path = folder / f"{sha256}{_suffix(download.filename)}"
    sidecar_path = folder / f"{sha256}.json"
    if path.exists() and sidecar_path.exists():
        return Snapshot(source.id, path, sha256, False, json.loads(sidecar_path.read_text()))
    with atomic_path(path) as tmp:
        tmp.write_bytes(download.data)
        try:
            rows = resolve_format(source.reader).parse(tmp).height
        except ReaderError as error:
            raise ReaderError(
                f"{source.id}: the download from {download.source} cannot be read: {error}"
            ) from error
    sidecar = {
        "dataset_id": source.id,
        "publisher": source.publisher,
        "title": source.title,
        "licence": source.licence,
        "source": download.source,
        "filename": download.filename,
        "retrieved_at": download.retrieved_at,
        "size_bytes": len(download.data),
        "sha256": sha256,
        "rows": rows,
        "etag": download.etag,
        "last_modified": download.last_modified,
    }
    atomic_write_bytes(sidecar_path, json.dumps(sidecar, indent=2).encode())
    return Snapshot(source.id, path, sha256, True, sidecar)


@task(name="pull-snapshot", task_run_name="pull-{dataset_id}", cache_policy=NO_CACHE)
def pull_snapshot(dataset_id: str) -> Snapshot:
    """Fetch one dataset (live or mirror) and keep it as a raw snapshot. Live requests to
    a rate-limited host first take a slot of its Prefect rate limit."""
    settings = get_settings()
    source = dataset(dataset_id)
    host = urlparse(source.url).hostname if source.url else None
    if settings.mirror is None and host in RATE_LIMITS:
        rate_limit(RATE_LIMITS[host].name, timeout_seconds=600)
    return store_snapshot(source, fetch(source, settings), settings)


def snapshot_summary(snapshot: Snapshot) -> dict:
    """A flat, JSON-friendly description for logs and artifacts."""
    summary = asdict(snapshot)
    summary["path"] = str(snapshot.path)
    return summary
