"""Where things are kept under the data directory, and how they are written.

Every write that a reader could observe goes through :func:`atomic_write_bytes` or
:func:`atomic_path`: the content is written to a temporary file in the destination's
folder and renamed over the destination, so a reader sees the old file or the new one,
never half of one. This module never decides *what* to write.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from talentflow.core.settings import Settings


def snapshots_dir(settings: Settings, dataset_id: str) -> Path:
    """Folder of the raw, content-addressed snapshots of one dataset."""
    return settings.data_dir / "snapshots" / dataset_id


def quarantine_dir(settings: Settings, dataset_id: str) -> Path:
    """Where snapshots that failed to read or failed a critical expectation are kept,
    with the reason, out of the way of every reader of good snapshots."""
    return settings.data_dir / "quarantine" / dataset_id


def tidy_parquet(settings: Settings, dataset_id: str, sha256: str) -> Path:
    """The tidy table of one snapshot (derived from it; safe to delete and rebuild)."""
    return settings.data_dir / "tidy" / dataset_id / f"{sha256}.parquet"


def tidy_warnings_json(settings: Settings, dataset_id: str, sha256: str) -> Path:
    """The whole list of warnings one snapshot got when it was accepted (beside its tidy
    table; the log and the run's artifacts say how many of each kind, and point here)."""
    return settings.data_dir / "tidy" / dataset_id / f"{sha256}.warnings.json"


def published_dir(settings: Settings) -> Path:
    """Folder of the published Parquet tables."""
    return settings.data_dir / "published"


def published_parquet(settings: Settings, table: str) -> Path:
    return published_dir(settings) / f"{table}.parquet"


def duckdb_path(settings: Settings) -> Path:
    """The DuckDB database that holds every published table."""
    return settings.data_dir / "talentflow.duckdb"


def as_of_dir(settings: Settings, as_of: int) -> Path:
    """Tidy tables truncated at an as-of year, for a replayed run (derived; rebuilt on
    every such run)."""
    return settings.data_dir / "as_of" / str(as_of)


def model_artefacts_dir(settings: Settings, run_id: str) -> Path:
    """Fitted models of one run, as JSON or skops files (never pickles)."""
    return settings.data_dir / "models" / run_id


def reports_dir(settings: Settings) -> Path:
    """Markdown and HTML reports written by runs."""
    return settings.data_dir / "reports"


@contextmanager
def atomic_path(destination: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; on success rename it over the
    destination, on failure delete it and leave the destination as it was."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", dir=destination.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600; what we keep is for everyone the umask allows to read.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, destination)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(destination: Path, data: bytes) -> None:
    with atomic_path(destination) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
