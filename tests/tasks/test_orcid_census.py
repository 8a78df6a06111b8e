"""The ORCID census end to end on a synthetic public data file: served by the
fault-injecting loopback server, cut mid-download and resumed, checked against its MD5,
read by two worker processes, reduced to arrivals in China. Synthetic figures are never
reported: the census refuses a file named synthetic, and a pipeline ignores a census
that came from one."""

from __future__ import annotations

import hashlib
import threading
from http.server import ThreadingHTTPServer

import httpx
import polars as pl
import pytest

from talentflow.tasks import orcid_census
from talentflow.tasks.features.intake import china_arrivals, prior_ties_by_year
from talentflow.tasks.sources.large_file import RemoteFile, download_resumable
from talentflow.tasks.sources.orcid import affiliations_from_tarball, tidy_records
from tests.synthetic_orcid import write_synthetic_data_file
from tests.tasks.sources.test_large_file import Handler, Served


@pytest.fixture
def synthetic_file(tmp_path):
    return write_synthetic_data_file(tmp_path / "synthetic_summaries.tar.gz", 2_000, seed=7)


def test_a_cut_download_resumes_and_two_workers_find_the_same_arrivals(synthetic_file, tmp_path):
    payload = synthetic_file.read_bytes()
    served = Served(payload=payload, cut_first_after=len(payload) // 2)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.served = served  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        remote = RemoteFile(
            name="summaries.tar.gz",
            url=f"http://127.0.0.1:{server.server_address[1]}/files/2",
            size=len(payload),
            md5=hashlib.md5(payload).hexdigest(),
        )
        with httpx.Client(timeout=5.0) as client:
            path = download_resumable(
                remote, tmp_path / "downloads" / "synthetic.tar.gz", client=client
            )
    finally:
        server.shutdown()
        server.server_close()
    assert len(served.requests) == 2 and served.bytes_sent == len(payload)
    arrivals, summary = orcid_census.extract_arrivals(path, workers=2)
    serial = china_arrivals(tidy_records(affiliations_from_tarball(synthetic_file)))
    assert arrivals.equals(serial.sort("year", "orcid"))
    assert summary.records_read == 2_000 and summary.complete
    assert arrivals.height > 0 and set(arrivals["tie"]) <= {"returnee", "no_prior_tie"}
    destination = tmp_path / "orcid" / "china_arrivals.parquet"
    orcid_census.write_census(arrivals, summary, destination)
    assert pl.read_parquet(destination).equals(arrivals)
    assert prior_ties_by_year(arrivals)["people"].sum() == arrivals.height


def test_the_census_refuses_a_synthetic_file(synthetic_file, tmp_path):
    with pytest.raises(ValueError, match="synthetic file never produces a published finding"):
        orcid_census.census_from_file.fn(synthetic_file, tmp_path / "census.parquet", 1)
    assert not (tmp_path / "census.parquet").exists()


def test_a_pipeline_reads_a_census_but_never_one_made_from_synthetic_data(
    synthetic_file, settings_env
):
    assert orcid_census.read_census(settings_env) is None  # no census run yet
    arrivals, summary = orcid_census.extract_arrivals(synthetic_file, workers=1)
    destination = orcid_census.census_path(settings_env)
    orcid_census.write_census(arrivals, summary, destination)  # sidecar names the synthetic file
    assert orcid_census.read_census(settings_env) is None
    summary.path = synthetic_file.with_name("ORCID_2099_10_summaries.tar.gz")
    orcid_census.write_census(arrivals, summary, destination)
    assert orcid_census.read_census(settings_env).equals(arrivals)


def test_the_command_refuses_a_synthetic_file_or_two_sources_at_once(synthetic_file):
    from typer.testing import CliRunner

    from talentflow.flows.cli import app

    refused = CliRunner().invoke(app, ["orcid-census", "--file", str(synthetic_file)])
    assert refused.exit_code == 2
    assert "synthetic file never produces a published finding" in refused.output
    both = CliRunner().invoke(
        app, ["orcid-census", "--article", "21220892", "--file", str(synthetic_file)]
    )
    assert both.exit_code == 2 and "give --article or --file, not both" in both.output
