"""The ``orcid-census`` flow: the ORCID public data file, downloaded and read once a year,
reduced to the people whose careers move into China (``tasks/orcid_census.py``)."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from talentflow.core.settings import get_settings
from talentflow.core.storage import holding_writer_lock
from talentflow.tasks.orcid_census import (
    census_from_api_ids,
    census_from_file,
    census_path,
    download_summaries,
    read_ids,
)
from talentflow.tasks.sources.catalog import ORCID_PUBLIC_DATA_FILES


@flow(name="orcid-census", persist_result=False, result_serializer="json")
@holding_writer_lock("orcid-census")
def orcid_census(
    article_id: int | None = None,
    file: str | None = None,
    workers: int | None = None,
    ids_file: str | None = None,
) -> Path:
    """Download the summaries tarball of ORCID's figshare ``article_id`` (default: the
    latest release in the catalog) to ``<data_dir>/downloads``, resuming a cut download,
    or read ``file`` where it is, or read the records of the iDs in ``ids_file`` from the
    public API; then write the arrivals in China for the next pipeline runs. Returns the
    census file."""
    settings = get_settings()
    if ids_file is not None:
        from talentflow.flows.ingest import ensure_rate_limits_for_hosts

        ensure_rate_limits_for_hosts(["pub.orcid.org"])
        return census_from_api_ids(read_ids(Path(ids_file)), census_path(settings))
    if file is not None:
        path = Path(file)
    else:
        article = article_id or ORCID_PUBLIC_DATA_FILES[max(ORCID_PUBLIC_DATA_FILES)]
        path = download_summaries(article, settings.data_dir / "downloads")
    return census_from_file(path, census_path(settings), workers)
