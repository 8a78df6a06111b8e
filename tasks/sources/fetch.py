"""Fetch a dataset's bytes: from the publisher over HTTP, or from the local source mirror.

Live pulls are the default. ``TALENTFLOW_MIRROR`` points at a folder laid out like
``shared/data``; then the same datasets are read from there (machines without internet,
tests, CI). Either way the caller gets the bytes exactly as published, plus where they
came from; snapshots and readers do the rest.

Retries live here rather than in Prefect's task retries: Prefect's ``retry_jitter_factor``
has been reported to have no effect, and only the HTTP client sees ``Retry-After``.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from core.settings import Settings
from tasks.sources.catalog import Dataset


class FetchError(RuntimeError):
    """A download failed or returned something that is not the dataset."""


@dataclass(frozen=True)
class Download:
    """Bytes as the publisher sent them, and where and when they came from."""

    dataset_id: str
    data: bytes
    source: str  # the URL, or the mirror file's path
    filename: str
    retrieved_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    etag: str | None = None
    last_modified: str | None = None


RETRYABLE_STATUS = {429, 500, 502, 503, 504}


def fetch(dataset: Dataset, settings: Settings, *, client: httpx.Client | None = None) -> Download:
    """Return the dataset's bytes from the mirror if one is set, else from its live URL."""
    if settings.mirror is not None:
        return fetch_from_mirror(dataset, settings.mirror)
    return fetch_live(dataset, client=client)


def mirror_file(dataset: Dataset, mirror: Path) -> Path:
    """The one file under ``mirror`` that holds ``dataset``."""
    matches = sorted(mirror.glob(dataset.mirror_glob))
    if len(matches) != 1:
        found = ", ".join(str(m) for m in matches) or "nothing"
        raise FetchError(
            f"{dataset.id}: the mirror {mirror} must hold exactly one file matching "
            f"{dataset.mirror_glob!r}, found {found}. Check TALENTFLOW_MIRROR."
        )
    return matches[0]


def fetch_from_mirror(dataset: Dataset, mirror: Path) -> Download:
    path = mirror_file(dataset, mirror)
    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return Download(
        dataset_id=dataset.id,
        data=path.read_bytes(),
        source=str(path),
        filename=path.name,
        last_modified=email.utils.format_datetime(modified, usegmt=True),
    )


def fetch_live(
    dataset: Dataset,
    *,
    client: httpx.Client | None = None,
    attempts: int = 4,
    backoff_seconds: float = 2.0,
    max_wait_seconds: float = 120.0,
) -> Download:
    """GET the dataset's URL with timeouts and retries (exponential backoff with jitter,
    ``Retry-After`` honoured), and refuse an answer that is an error page."""
    own_client = client is None
    client = client or httpx.Client(
        timeout=httpx.Timeout(60.0, connect=15.0),
        follow_redirects=True,
        headers={"User-Agent": "talentflow (+https://github.com/talentflow)"},
    )
    try:
        for attempt in range(1, attempts + 1):
            try:
                response = client.get(dataset.url)
            except httpx.TransportError as error:  # timeouts, resets, truncated bodies
                if attempt == attempts:
                    raise FetchError(
                        f"{dataset.id}: {dataset.url} failed after {attempts} attempts: "
                        f"{type(error).__name__}: {error}"
                    ) from error
                time.sleep(_backoff(attempt, backoff_seconds, max_wait_seconds))
                continue
            if response.status_code in RETRYABLE_STATUS and attempt < attempts:
                time.sleep(
                    _retry_after(response) or _backoff(attempt, backoff_seconds, max_wait_seconds)
                )
                continue
            if response.status_code != 200:
                raise FetchError(
                    f"{dataset.id}: {dataset.url} answered HTTP {response.status_code} "
                    f"after {attempt} attempt(s): {response.text[:200]!r}"
                )
            _refuse_error_page(dataset, response)
            return Download(
                dataset_id=dataset.id,
                data=response.content,
                source=str(response.url),
                filename=_filename(response, dataset),
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
            )
        raise AssertionError("unreachable")  # pragma: no cover
    finally:
        if own_client:
            client.close()


def _backoff(attempt: int, base: float, cap: float) -> float:
    return min(cap, base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    if value.strip().isdigit():
        return float(value)
    when = email.utils.parsedate_to_datetime(value)
    return max(0.0, (when - datetime.now(UTC)).total_seconds()) if when else None


def _refuse_error_page(dataset: Dataset, response: httpx.Response) -> None:
    """Publishers answer some errors with HTTP 200: an HTML page, or (World Bank API)
    a JSON body ``[{"message": [...]}]``. Neither is the dataset."""
    head = response.content[:512].lstrip().lower()
    content_type = response.headers.get("Content-Type", "")
    if "text/html" in content_type or head.startswith((b"<!doctype html", b"<html")):
        raise FetchError(
            f"{dataset.id}: {response.url} returned an HTML page instead of data "
            f"(Content-Type {content_type!r}); the publisher may have moved the file."
        )
    if head.startswith(b"[{") and b'"message"' in head:
        raise FetchError(
            f"{dataset.id}: {response.url} returned a World Bank API error payload: "
            f"{response.text[:300]}"
        )


def _filename(response: httpx.Response, dataset: Dataset) -> str:
    disposition = response.headers.get("Content-Disposition", "")
    if "filename=" in disposition:
        return disposition.split("filename=")[-1].strip('"; ')
    return Path(response.url.path).name or dataset.id
