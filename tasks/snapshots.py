"""Raw snapshots: every download kept as published, named by its sha256, with a sidecar.

Layout: ``<data_dir>/snapshots/<dataset_id>/<sha256><suffix>`` and beside it
``<sha256>.meta.json`` (source, retrieved-at, size, sha256, rows, publisher, licence, ETag
and Last-Modified when the server sent them). Identical bytes make no new snapshot; the
raw file is read once before it is committed (a temporary file renamed into place), so a
failed or unreadable pull leaves nothing partial behind.

Only this module writes raw bytes. It never changes a snapshot once written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import rate_limit

from talentflow.core.settings import Settings, get_settings
from talentflow.core.storage import atomic_path, atomic_write_bytes, quarantine_dir, snapshots_dir
from talentflow.tasks.sources.catalog import RATE_LIMITS, Dataset, dataset
from talentflow.tasks.sources.fetch import Download, fetch
from talentflow.tasks.sources.formats import ReaderError, resolve_format

logger = logging.getLogger(__name__)

# Never plain ".json": a JSON snapshot (an ORCID record) is itself "<sha256>.json".
SIDECAR_SUFFIX = ".meta.json"


@dataclass(frozen=True)
class Snapshot:
    dataset_id: str
    path: Path
    sha256: str
    is_new: bool
    sidecar: dict

    @property
    def sidecar_path(self) -> Path:
        return self.path.with_name(f"{self.sha256}{SIDECAR_SUFFIX}")


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
    sidecar_path = folder / f"{sha256}{SIDECAR_SUFFIX}"
    if path.exists() and sidecar_path.exists():
        return Snapshot(source.id, path, sha256, False, json.loads(sidecar_path.read_text()))
    with atomic_path(path) as tmp:
        tmp.write_bytes(download.data)
        try:
            rows = resolve_format(source.reader).parse(tmp).height
        except ReaderError as error:
            kept = quarantine_download(source, download, sha256, str(error), settings)
            raise ReaderError(
                f"{source.id}: the download from {download.source} cannot be read: {error} "
                f"(kept in quarantine: {kept})"
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


def _run_id() -> str | None:
    from prefect import runtime

    return str(runtime.flow_run.id) if runtime.flow_run.id else None


def _write_reason(folder: Path, sha256: str, reason: dict) -> Path:
    reason_path = folder / f"{sha256}.reason.json"
    atomic_write_bytes(reason_path, json.dumps(reason, indent=2, default=str).encode())
    return reason_path


def quarantine_download(
    source: Dataset, download: Download, sha256: str, fault: str, settings: Settings
) -> Path:
    """Keep bytes that could not be read under ``quarantine/``, with the fault and run."""
    folder = quarantine_dir(settings, source.id)
    kept = folder / f"{sha256}{_suffix(download.filename)}"
    atomic_write_bytes(kept, download.data)
    _write_reason(
        folder,
        sha256,
        {
            "dataset_id": source.id,
            "source": download.source,
            "retrieved_at": download.retrieved_at,
            "quarantined_at": datetime.now(UTC).isoformat(),
            "run_id": _run_id(),
            "fault": fault,
        },
    )
    return kept


def quarantine_snapshot(
    snapshot: Snapshot, fault: str, validation: dict, settings: Settings
) -> Path:
    """Move a snapshot that failed a critical expectation (and its sidecar) to
    ``quarantine/``, with the validation result and the run id. Good snapshots and
    published tables are not touched."""
    folder = quarantine_dir(settings, snapshot.dataset_id)
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / snapshot.path.name
    os.replace(snapshot.path, kept)
    if snapshot.sidecar_path.exists():
        os.replace(snapshot.sidecar_path, folder / snapshot.sidecar_path.name)
    _write_reason(
        folder,
        snapshot.sha256,
        {
            "dataset_id": snapshot.dataset_id,
            "source": snapshot.sidecar.get("source"),
            "quarantined_at": datetime.now(UTC).isoformat(),
            "run_id": _run_id(),
            "fault": fault,
            "validation": validation,
        },
    )
    return kept


def record_accepted(snapshot: Snapshot, settings: Settings, **details: object) -> None:
    """Append the snapshot to its dataset's ledger of accepted snapshots
    (``snapshots/<dataset>/accepted.jsonl``), the history drift checks compare with."""
    entry = {
        "sha256": snapshot.sha256,
        "accepted_at": datetime.now(UTC).isoformat(),
        "run_id": _run_id(),
        **details,
    }
    ledger = snapshots_dir(settings, snapshot.dataset_id) / "accepted.jsonl"
    # Rewritten whole and renamed into place, never appended: a process killed mid-write
    # leaves the previous ledger, not a torn last line. A ledger holds one line per
    # accepted release (a few hundred bytes each), so rewriting it costs nothing.
    kept = [json.dumps(e, default=str) for e in _ledger_entries(ledger)]
    lines = [*kept, json.dumps(entry, default=str)]
    atomic_write_bytes(ledger, ("\n".join(lines) + "\n").encode("utf-8"))


def _ledger_entries(ledger: Path) -> list[dict]:
    """The entries of a ledger; a damaged line (a torn write by an older version, an edit)
    is skipped with a warning naming the file and the line, never fatal."""
    if not ledger.exists():
        return []
    entries = []
    for number, line in enumerate(ledger.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as error:
            logger.warning(
                "%s, line %d: damaged ledger entry skipped (%s); the snapshot it named "
                "will be accepted again on its next pull",
                ledger,
                number,
                error.msg,
            )
    return entries


def accepted_history(settings: Settings, dataset_id: str) -> list[dict]:
    """Accepted snapshots of a dataset, oldest first (damaged lines skipped, with a warning)."""
    ledger = snapshots_dir(settings, dataset_id) / "accepted.jsonl"
    return _ledger_entries(ledger)


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
