"""The ORCID census: every researcher whose career moves into China, from the ORCID
public data file, for claim (b) of the seed question (docs/metrics.md, The seed's claims).

Two steps, each a Prefect task: download the release's summaries tarball from figshare
(resumable, checked against figshare's MD5: ``tasks.sources.large_file``), then stream it
through worker processes (``tasks.sources.orcid.iter_affiliations_from_tarball``) and keep
only :func:`~talentflow.tasks.features.intake.china_arrivals` of each batch. The result,
one row per person arriving in China (tens of thousands, not 22 million), is written to
``<data_dir>/orcid/china_arrivals.parquet`` with a JSON sidecar saying which file it came
from; every later pipeline run adds those people to ``china_prior_ties``.

A file whose name says ``synthetic`` is refused: synthetic data never produces a
published finding.
"""

from __future__ import annotations

import json
import os
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
from talentflow.tasks.sources.large_file import download_resumable, figshare_files, pick_file
from talentflow.tasks.sources.orcid import (
    ExtractionSummary,
    iter_affiliations_from_tarball,
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
    both written atomically, the sidecar last."""
    import io

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
    if not path.is_file():
        return None
    sidecar = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    if "synthetic" in str(sidecar.get("source_file", "")).lower():
        return None
    return pl.read_parquet(path)
