"""The ORCID census: every researcher whose career moves into China, from the ORCID
public data file (or, for a list of people, the public API), for claim (b) of the seed
question (docs/metrics.md, The seed's claims).

Two steps, each a Prefect task: download the release's summaries tarball from figshare
(resumable, checked against figshare's MD5: ``tasks.sources.large_file``), then stream it
through worker processes (``tasks.sources.orcid.iter_affiliations_from_tarball``) and keep
only :func:`~talentflow.tasks.features.intake.china_arrivals` of each batch. The result,
one row per person arriving in China (tens of thousands, not 22 million), is written to
``<data_dir>/orcid/china_arrivals.parquet`` with a JSON sidecar saying which file it came
from; every later pipeline run adds those people to ``china_prior_ties``.

For a known list of people (a cohort of grantees, a department), :func:`census_from_api`
reads each record from the public API v3.0 instead, paced by the catalog's rate limit for
``pub.orcid.org`` (a Prefect global concurrency limit) and retried on 429/503 with the
server's ``Retry-After``; a record that is gone (404, 409 deactivated) is counted, not
fatal. Never use it for a census of everyone: that is what the data file is for.

A file whose name says ``synthetic`` is refused: synthetic data never produces a
published finding.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import httpx
import polars as pl
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from talentflow.core.settings import Settings
from talentflow.core.storage import atomic_write_bytes
from talentflow.tasks.features.intake import ARRIVAL_SCHEMA, china_arrivals
from talentflow.tasks.sources.catalog import ORCID_SUMMARIES_FILE
from talentflow.tasks.sources.fetch import FetchError, _backoff, _retry_after
from talentflow.tasks.sources.large_file import download_resumable, figshare_files, pick_file
from talentflow.tasks.sources.orcid import (
    ORCID_ID,
    ExtractionSummary,
    iter_affiliations_from_tarball,
    parse_message,
    tidy_records,
)

CENSUS_FILE = Path("orcid") / "china_arrivals.parquet"


def census_path(settings: Settings) -> Path:
    return settings.data_dir / CENSUS_FILE


@task(name="orcid-download", cache_policy=NO_CACHE)
def download_summaries(article_id: int, downloads: Path) -> Path:
    """The release's summaries tarball under ``downloads``, resumed where an earlier
    attempt stopped and checked against figshare's MD5."""
    with httpx.Client(
        timeout=httpx.Timeout(120.0, connect=15.0),
        follow_redirects=True,
        headers={"User-Agent": "talentflow (+https://github.com/talentflow)"},
    ) as client:
        summaries = pick_file(figshare_files(article_id, client), ORCID_SUMMARIES_FILE)
        get_run_logger().info(
            "ORCID article %s: %s, %s bytes, MD5 %s",
            article_id,
            summaries.name,
            f"{summaries.size:,}" if summaries.size else "unknown",
            summaries.md5,
        )
        return download_resumable(summaries, downloads / summaries.name, client=client)


def refuse_synthetic(path: Path) -> None:
    if "synthetic" in path.name.lower():
        raise ValueError(
            f"{path}: a synthetic file never produces a published finding; the census reads "
            "the ORCID public data file only"
        )


def extract_arrivals(path: Path, workers: int) -> tuple[pl.DataFrame, ExtractionSummary]:
    """Every person arriving in China in the file, read by ``workers`` processes."""
    summary = ExtractionSummary(path)
    batches = [
        china_arrivals(tidy_records(frame))
        for frame in iter_affiliations_from_tarball(path, summary=summary, workers=workers)
    ]
    arrivals = pl.concat(batches) if batches else pl.DataFrame(schema=ARRIVAL_SCHEMA)
    return arrivals.sort("year", "orcid"), summary


def write_census(arrivals: pl.DataFrame, summary: ExtractionSummary, destination: Path) -> None:
    """The arrivals as Parquet and a sidecar (``.json``) naming the file they came from,
    both written atomically, the sidecar last (the old sidecar is removed first, so a stop
    between the two leaves a census that later runs ignore, never a mismatched pair)."""
    import io

    destination.with_suffix(".json").unlink(missing_ok=True)

    buffer = io.BytesIO()
    arrivals.write_parquet(buffer)
    atomic_write_bytes(destination, buffer.getvalue())
    described = {
        key: str(value) if isinstance(value, Path) else value
        for key, value in asdict(summary).items()
    }
    sidecar = {
        "source_file": Path(summary.path).name,
        "arrivals": arrivals.height,
        "extracted_at": datetime.now(UTC).isoformat(),
        "extraction": described,
    }
    atomic_write_bytes(
        destination.with_suffix(".json"), json.dumps(sidecar, indent=2).encode("utf-8")
    )


@task(name="orcid-extract", cache_policy=NO_CACHE)
def census_from_file(path: Path, destination: Path, workers: int | None = None) -> Path:
    refuse_synthetic(path)
    workers = workers or os.cpu_count() or 1
    arrivals, summary = extract_arrivals(path, workers)
    write_census(arrivals, summary, destination)
    get_run_logger().info("%s; %s people arriving in China", summary.describe(), arrivals.height)
    return destination


def read_census(settings: Settings) -> pl.DataFrame | None:
    """The census's arrivals, or None when no census was run (or its file says synthetic)."""
    path = census_path(settings)
    sidecar_path = path.with_suffix(".json")
    if not path.is_file() or not sidecar_path.is_file():
        # no census, or one stopped between its two files (the sidecar is written last)
        return None
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    if "synthetic" in str(sidecar.get("source_file", "")).lower():
        return None
    return pl.read_parquet(path).select(
        [pl.col(name).cast(dtype) for name, dtype in ARRIVAL_SCHEMA.items()]
    )


ORCID_API = "https://pub.orcid.org/v3.0"
#: Answers that mean the record is not (or no longer) public: counted, not fatal.
GONE = {404, 409, 410}
RETRY = {429, 500, 502, 503, 504}


def read_ids(path: Path) -> list[str]:
    """ORCID iDs, one per line (blank lines and ``#`` comments skipped); ValueError naming
    the first line that is not an iD."""
    ids = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].strip().removeprefix("https://orcid.org/")
        if not text:
            continue
        if not ORCID_ID.match(text):
            raise ValueError(
                f"{path}, line {number}: {text!r} is not an ORCID iD (0000-0000-0000-000X)"
            )
        ids.append(text)
    if not ids:
        raise ValueError(f"{path}: no ORCID iD in the file")
    return list(dict.fromkeys(ids))


def api_record(
    orcid_id: str,
    client: httpx.Client,
    *,
    attempts: int = 4,
    pace: Callable[[], None] = lambda: None,
    sleep: Callable[[float], None] = time.sleep,
) -> bytes | None:
    """One record of the public API as XML, or None when it is gone. ``pace`` is called
    before every request (the rate limit); 429 and 5xx are retried, honouring
    ``Retry-After``."""
    url = f"{ORCID_API}/{orcid_id}/record"
    for attempt in range(1, attempts + 1):
        pace()
        try:
            response = client.get(url, headers={"Accept": "application/vnd.orcid+xml"})
        except httpx.TransportError as error:
            fault = f"{type(error).__name__}: {error}"
        else:
            if response.status_code == 200:
                return response.content
            if response.status_code in GONE:
                return None
            if response.status_code not in RETRY:
                raise FetchError(f"{url}: HTTP {response.status_code}; not retried")
            fault = f"HTTP {response.status_code}"
            wait = _retry_after(response)
            if wait is not None and attempt < attempts:
                sleep(min(wait, 60.0))
                continue
        if attempt < attempts:
            sleep(_backoff(attempt, 1.0, 30.0))
    raise FetchError(f"{url}: failed after {attempts} attempts; the last: {fault}")


def census_from_api(
    ids: Iterable[str],
    client: httpx.Client,
    *,
    pace: Callable[[], None] = lambda: None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The arrivals in China among ``ids`` and how many records were read and gone."""
    frames, counts = [], {"requested": 0, "read": 0, "gone": 0}
    for orcid_id in ids:
        counts["requested"] += 1
        data = api_record(orcid_id, client, pace=pace, sleep=sleep)
        if data is None:
            counts["gone"] += 1
            continue
        counts["read"] += 1
        frames.append(parse_message(data, f"{ORCID_API}/{orcid_id}/record"))
    if not frames:
        return pl.DataFrame(schema=ARRIVAL_SCHEMA), counts
    return china_arrivals(tidy_records(pl.concat(frames))).sort("year", "orcid"), counts


@task(name="orcid-api", cache_policy=NO_CACHE)
def census_from_api_ids(ids: list[str], destination: Path) -> Path:
    """Read ``ids`` from the public API at the catalog's pace and write their arrivals."""
    from prefect.concurrency.sync import rate_limit

    from talentflow.tasks.sources.catalog import RATE_LIMITS

    limit = RATE_LIMITS["pub.orcid.org"].name
    with httpx.Client(
        timeout=httpx.Timeout(30.0, connect=15.0),
        headers={"User-Agent": "talentflow (+https://github.com/talentflow)"},
    ) as client:
        arrivals, counts = census_from_api(
            ids, client, pace=lambda: rate_limit(limit, timeout_seconds=600)
        )
    summary = ExtractionSummary(Path(f"ORCID public API v3.0, {len(ids)} iD(s)"))
    summary.records_read, summary.complete = counts["read"], True
    write_census(arrivals, summary, destination)
    get_run_logger().info(
        "ORCID API: %(read)d of %(requested)d records read, %(gone)d gone", counts
    )
    return destination
