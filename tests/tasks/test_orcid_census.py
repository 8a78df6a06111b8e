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
from talentflow.tasks.sources.orcid import (
    AFFILIATION_SCHEMA,
    affiliations_from_tarball,
    tidy_records,
)
from tests.synthetic_orcid import write_synthetic_data_file
from tests.tasks.sources.test_large_file import Handler, Served


@pytest.fixture
def synthetic_file(tmp_path):
    return write_synthetic_data_file(tmp_path / "synthetic_summaries.tar.gz", 2_000, seed=7)


def download_served(served: Served, destination) -> object:
    """Serve ``served`` on the fault-injecting loopback server and download it resumably
    (checked against the payload's MD5) to ``destination``; the server is stopped after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.served = served  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        remote = RemoteFile(
            name=destination.name,
            url=f"http://127.0.0.1:{server.server_address[1]}/files/2",
            size=len(served.payload),
            md5=hashlib.md5(served.payload).hexdigest(),
        )
        with httpx.Client(timeout=5.0) as client:
            return download_resumable(remote, destination, client=client)
    finally:
        server.shutdown()
        server.server_close()


def test_a_cut_download_resumes_and_two_workers_find_the_same_arrivals(synthetic_file, tmp_path):
    payload = synthetic_file.read_bytes()
    served = Served(payload=payload, cut_first_after=len(payload) // 2)
    path = download_served(served, tmp_path / "downloads" / "synthetic.tar.gz")
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
    destination.with_suffix(".json").unlink()  # a census stopped before its sidecar
    assert orcid_census.read_census(settings_env) is None


def test_the_command_refuses_a_synthetic_file_or_two_sources_at_once(synthetic_file):
    from typer.testing import CliRunner

    from talentflow.flows.cli import app

    refused = CliRunner().invoke(app, ["orcid-census", "--file", str(synthetic_file)])
    assert refused.exit_code == 2
    assert "synthetic file never produces a published finding" in refused.output
    both = CliRunner().invoke(
        app, ["orcid-census", "--article", "21220892", "--file", str(synthetic_file)]
    )
    assert both.exit_code == 2 and "give one of --article, --file and --ids" in both.output


def test_the_api_path_reads_each_record_at_the_catalogs_pace_and_counts_the_gone(tmp_path):
    """Synthetic records behind the API's paths on a loopback server: one busy (503 with
    Retry-After, then served), one gone (404); every request first takes a rate slot."""
    from http.server import BaseHTTPRequestHandler

    from tests.synthetic_orcid import iter_synthetic_records, render_synthetic_record

    records = {r.orcid: r for r in iter_synthetic_records(40, seed=9)}
    ids = list(records)
    busy, gone = ids[3], ids[5]
    seen: list[str] = []

    class Api(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            orcid_id = self.path.split("/")[2]
            seen.append(orcid_id)
            if orcid_id == gone or orcid_id not in records:
                status, body, headers = 404, b"", {}
            elif orcid_id == busy and seen.count(busy) == 1:
                status, body, headers = 503, b"", {"Retry-After": "0"}
            else:
                status, body, headers = 200, render_synthetic_record(records[orcid_id]), {}
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    paced: list[int] = []
    original = orcid_census.ORCID_API
    orcid_census.ORCID_API = f"http://127.0.0.1:{server.server_address[1]}/v3.0"
    try:
        with httpx.Client(timeout=5.0) as client:
            arrivals, counts = orcid_census.census_from_api(
                ids, client, pace=lambda: paced.append(1), sleep=lambda _: None
            )
    finally:
        orcid_census.ORCID_API = original
        server.shutdown()
        server.server_close()
    assert counts == {"requested": 40, "read": 39, "gone": 1}
    assert arrivals.height > 0  # the synthetic cohort has people moving into China
    assert len(paced) == len(seen) == 41  # one retry of the busy record
    kept = [r for orcid_id, r in records.items() if orcid_id != gone]
    rows = [tuple(item[c] for c in AFFILIATION_SCHEMA) for r in kept for item in r.affiliations]
    expected = china_arrivals(
        tidy_records(pl.DataFrame(rows, schema=AFFILIATION_SCHEMA, orient="row"))
    )
    assert arrivals.equals(expected.sort("year", "orcid"))


def test_an_ids_file_with_a_wrong_line_is_refused_naming_it(tmp_path):
    ids = tmp_path / "cohort.txt"
    ids.write_text(
        "# grantees\n0000-0002-7869-831X\nhttps://orcid.org/0000-0001-5000-0007\nnot-an-id\n"
    )
    with pytest.raises(ValueError, match=r"cohort.txt, line 4: 'not-an-id' is not an ORCID iD"):
        orcid_census.read_ids(ids)
    ids.write_text(
        "0000-0002-7869-831X\nhttps://orcid.org/0000-0001-5000-0007\n0000-0002-7869-831X\n"
    )
    assert orcid_census.read_ids(ids) == ["0000-0002-7869-831X", "0000-0001-5000-0007"]


def test_the_flow_reads_an_ids_file_through_prefects_rate_limit(
    prefect_harness, settings_env, tmp_path, monkeypatch
):
    """``talentflow orcid-census --ids``: the iDs read from the (loopback) API under the
    pub.orcid.org rate limit, the census written where the next run reads it."""
    from http.server import BaseHTTPRequestHandler

    from typer.testing import CliRunner

    from talentflow.flows.cli import app
    from tests.synthetic_orcid import iter_synthetic_records, render_synthetic_record

    records = {r.orcid: r for r in iter_synthetic_records(12, seed=9)}

    class Api(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            body = render_synthetic_record(records[self.path.split("/")[2]])
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(
        orcid_census, "ORCID_API", f"http://127.0.0.1:{server.server_address[1]}/v3.0"
    )
    ids = tmp_path / "cohort.txt"
    ids.write_text("\n".join(records) + "\n")
    try:
        result = CliRunner().invoke(app, ["orcid-census", "--ids", str(ids)])
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 0, result.output
    census = orcid_census.read_census(settings_env)
    assert census is not None and census.height > 0
    sidecar = orcid_census.census_path(settings_env).with_suffix(".json").read_text()
    assert "ORCID public API v3.0, 12 iD(s)" in sidecar


def test_a_hostile_tarball_downloaded_whole_is_refused_by_the_census(tmp_path):
    """Served, downloaded (MD5 fine: the publisher's file itself is hostile), then read by
    two workers: the entity-laden record stops the census naming the member; no census
    file is written."""
    from talentflow.tasks.sources.orcid import HostileInputError
    from tests.tasks.sources.test_orcid import BILLION_LAUGHS, _hostile_tarball

    member = ("summaries/007/0000-0001-5000-0007.xml", BILLION_LAUGHS)
    payload = _hostile_tarball(tmp_path / "hostile.tar.gz", [member]).read_bytes()
    path = download_served(
        Served(payload=payload), tmp_path / "downloads" / "ORCID_2099_10_summaries.tar.gz"
    )
    destination = tmp_path / "orcid" / "china_arrivals.parquet"
    with pytest.raises(HostileInputError, match=r"0000-0001-5000-0007\.xml.*entities"):
        orcid_census.census_from_file.fn(path, destination, 2)
    assert not destination.exists()
