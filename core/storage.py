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
from urllib.parse import quote

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


def run_report_path(settings: Settings, run_id: str) -> Path:
    """The run report of one run (``tasks.report.publish_run_report``)."""
    return reports_dir(settings) / f"run-{run_id}.md"


def backtest_report_path(settings: Settings, vintage: int) -> Path:
    """The backtest report of a vintage's run (``tasks.report.publish_backtest_report``)."""
    return reports_dir(settings) / f"backtest-{vintage}.md"


def findings_report_path(settings: Settings) -> Path:
    """The findings of the latest full run (``tasks.report.publish_findings_report``)."""
    return reports_dir(settings) / "findings.md"


#: The Data Docs site as the reports folder shows it (a link to where GX builds it).
DATA_DOCS_IN_REPORTS = "data-docs"


def report_url(settings: Settings, path: Path) -> str:
    """Where a browser opens a report: ``<report_base_url>/<path under the reports
    folder>`` when ``report_base_url`` is set, else the file's ``file://`` URI (fine from
    a file manager; a browser refuses it from the Prefect UI's http page).

    Raises ValueError when ``report_base_url`` is set and ``path`` is outside the reports
    folder, which the report site does not serve."""
    if settings.report_base_url is None:
        return path.absolute().as_uri()
    folder = reports_dir(settings).absolute()
    try:
        relative = path.absolute().relative_to(folder)
    except ValueError:
        raise ValueError(
            f"report {path} is outside the reports folder {folder}, which is all that "
            f"TALENTFLOW_REPORT_BASE_URL ({settings.report_base_url}) serves; write the "
            "report there"
        ) from None
    return f"{settings.report_base_url}/{quote(relative.as_posix())}"


def data_docs_in_reports(settings: Settings, site_index: Path) -> Path:
    """Show the Data Docs site (whose ``index.html`` is ``site_index``) in the reports
    folder as ``reports/data-docs``, a relative symbolic link, so the report site serves it
    beside the reports without serving the rest of the data directory. Returns the
    site's index as seen through the link. The link is replaced atomically."""
    folder = reports_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / DATA_DOCS_IN_REPORTS
    target = Path(os.path.relpath(site_index.parent.absolute(), folder.absolute()))
    if not (link.is_symlink() and link.readlink() == target):
        fresh = folder / f".{DATA_DOCS_IN_REPORTS}.{os.getpid()}"
        fresh.unlink(missing_ok=True)
        fresh.symlink_to(target, target_is_directory=True)
        os.replace(fresh, link)
    return link / site_index.name


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


# -- one writer per data directory -----------------------------------------------------------

WRITER_LOCK = ".writer.lock"
_held: dict[Path, int] = {}  # lock file -> depth, for this process's own nested flows


class DataDirectoryBusy(RuntimeError):
    """Another process is writing to the data directory; the message says which."""


@contextmanager
def writer_lock(settings: Settings, what: str) -> Iterator[None]:
    """Hold the data directory's writer lock while ``what`` (``run``, ``pull``…) writes;
    raise :class:`DataDirectoryBusy`, naming the holder, when another process holds it.

    An advisory ``flock`` on ``<data_dir>/.writer.lock``, hand-written rather than a
    dependency because its one property matters most: the kernel drops the lock when the
    holding process dies, so a killed run never leaves a stale lock behind. The holder
    writes its pid, command and start time into the file for the message. Re-entrant in
    one process (the pipeline runs the ingest flow inside it). POSIX only."""
    import fcntl
    import json
    import sys
    from datetime import UTC, datetime

    path = settings.data_dir / WRITER_LOCK
    if _held.get(path):
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "{}"
            try:
                who = json.loads(holder)
            except ValueError:
                who = {}
            raise DataDirectoryBusy(
                f"{settings.data_dir} is being written by another talentflow process "
                f"(pid {who.get('pid', '?')}, `{who.get('what', '?')}` since "
                f"{who.get('since', '?')}); wait for it to finish, or set TALENTFLOW_DATA_DIR "
                "to another folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "what": what,
                    "since": datetime.now(UTC).isoformat(timespec="seconds"),
                    "argv": sys.argv[:4],
                }
            )
        )
        handle.flush()
        _held[path] = 1
        try:
            yield
        finally:
            del _held[path]
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


def holding_writer_lock(what: str):
    """Decorate a flow function so its whole run holds :func:`writer_lock` (the pipeline,
    ingest and census flows: whoever starts them, the CLI, a worker or ``serve``)."""
    import functools

    from talentflow.core.settings import get_settings

    def decorate(function):
        @functools.wraps(function)
        def locked(*args, **kwargs):
            with writer_lock(get_settings(), what):
                return function(*args, **kwargs)

        return locked

    return decorate
