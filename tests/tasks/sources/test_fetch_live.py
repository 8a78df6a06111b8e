"""fetch_live against a loopback HTTP server that serves the real mirror files under their
live URL paths, with faults injected per test.

The server listens on 127.0.0.1 only, on a free port, in a background thread; the client's
transport rewrites every request's scheme, host and port to it and keeps the live path and
query, so no test can reach another address. Each test queues the replies a path gives
(a fault, then the good payload by default); the server counts requests, answers at most
``MAX_REQUESTS`` per test, waits at most ``MAX_HANDLER_DELAY`` seconds, and is shut down
after each test. Waits between attempts are recorded by an injected ``sleep``, not slept.
"""

from __future__ import annotations

import base64
import csv
import email.utils
import gzip
import hashlib
import io
import json
import threading
import time
import zipfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from talentflow.core.settings import Settings
from talentflow.tasks.snapshots import Snapshot, store_snapshot
from talentflow.tasks.sources.catalog import CATALOG, RESEARCHERS_PER_MILLION, Dataset
from talentflow.tasks.sources.fetch import Download, FetchError, fetch, fetch_live

RESEARCHERS = CATALOG[RESEARCHERS_PER_MILLION]
COUNTRIES = CATALOG["wdi_countries"]
WPP_ANNUAL = CATALOG["wpp2024_population_annual"]
OWID_GDP = CATALOG["owid_gdp_per_capita_ppp"]
HAND_TYPED = CATALOG["macropolo_ai_talent_tracker"]

RESEARCHERS_FILE = "wdi/API_SP.POP.SCIE.RD.P6_DS2_en_csv_v2_37695.csv"
RESEARCHERS_ZIP_NAME = "API_SP.POP.SCIE.RD.P6_DS2_en_csv_v2_37695.zip"
ETAG = '"wdi-sp-pop-scie-rd-p6-37695"'
LAST_MODIFIED = "Mon, 13 Jul 2026 10:00:00 GMT"

ATTEMPTS = 3
MAX_REQUESTS = 20
MAX_HANDLER_DELAY = 2.0
READ_TIMEOUT = 0.5


def live_path(dataset: Dataset) -> str:
    """The path and query of the dataset's live URL, as a client sends them."""
    assert dataset.url is not None
    return httpx.URL(dataset.url).raw_path.decode()


def base64_digest(algorithm: str, data: bytes) -> str:
    return base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


# --- the loopback server ------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One answer of the test server. ``body=None`` means the path's good payload (and its
    headers, overridden by ``headers``)."""

    status: int = 200
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering, capped at MAX_HANDLER_DELAY
    send_only: int | None = None  # send this many body bytes, then close the connection


class Scenario:
    """What each path answers: queued replies first, then its good payload."""

    def __init__(self, payloads: dict[str, Reply]) -> None:
        self.payloads = payloads
        self.queued: dict[str, deque[Reply]] = {}
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.port = 0

    def queue(self, dataset: Dataset, *replies: Reply) -> None:
        with self.lock:
            self.queued.setdefault(live_path(dataset), deque()).extend(replies)

    def count(self, dataset: Dataset) -> int:
        with self.lock:
            return self.requests.count(live_path(dataset))

    def next_reply(self, path: str) -> Reply:
        with self.lock:
            self.requests.append(path)
            if len(self.requests) > MAX_REQUESTS:
                return Reply(503, b"test server: request budget spent")
            queued = self.queued.get(path)
            reply = queued.popleft() if queued else None
        good = self.payloads.get(path)
        if reply is None:
            return good or Reply(404, b"test server: no such path")
        if reply.body is None and good is not None:
            return replace(reply, body=good.body, headers={**good.headers, **reply.headers})
        return reply


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # an idle keep-alive connection ends after 5 s
    server: LoopbackServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        scenario = self.server.scenario
        reply = scenario.next_reply(self.path)
        if reply.delay and scenario.stop.wait(min(reply.delay, MAX_HANDLER_DELAY)):
            self.close_connection = True
            return
        body = reply.body or b""
        try:
            self.send_response(reply.status)
            for name, value in {"Content-Length": str(len(body)), **reply.headers}.items():
                self.send_header(name, value)
            self.end_headers()
            if reply.send_only is None:
                self.wfile.write(body)
            else:
                self.wfile.write(body[: reply.send_only])
                self.close_connection = True
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    scenario: Scenario

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out and hung up is expected here


class LoopbackTransport(httpx.BaseTransport):
    """Send every request to the test server: scheme, host and port rewritten, the live
    path and query kept. The response still carries the live request and URL."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        local = httpx.Request(
            request.method,
            request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port),
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return self.inner.handle_request(local)

    def close(self) -> None:
        self.inner.close()


# --- payloads: the real mirror files as the publishers serve them --------------------------


def world_bank_zip(csv_bytes: bytes) -> bytes:
    """A World Bank bulk download: the data CSV plus two Metadata_*.csv members (their
    content is synthetic; the reader skips them)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        members = {
            "Metadata_Indicator_API_SP.POP.SCIE.RD.P6_DS2_en_csv_v2_37695.csv": (
                b'"INDICATOR_CODE","INDICATOR_NAME"\n'
                b'"SP.POP.SCIE.RD.P6","Researchers in R&D (per million people)"\n'
            ),
            "API_SP.POP.SCIE.RD.P6_DS2_en_csv_v2_37695.csv": csv_bytes,
            "Metadata_Country_API_SP.POP.SCIE.RD.P6_DS2_en_csv_v2_37695.csv": (
                b'"Country Code","Region","IncomeGroup"\n"CHN","East Asia & Pacific",""\n'
            ),
        }
        for name, content in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 7, 13, 10, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def world_bank_country_page(mirror: Path) -> bytes:
    """The World Bank API's JSON answer to /v2/country, rebuilt from the mirror's
    flattened copy of it (wdi/wb_api_countries.csv)."""
    with open(mirror / "wdi/wb_api_countries.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    records = [
        {
            "id": row["iso3code"],
            "iso2Code": row["iso2Code"],
            "name": row["name"],
            "region": {"id": row["region.id"], "value": row["region_value"]},
            "incomeLevel": {"id": row["incomeLevel_id"], "value": row["incomeLevel.value"]},
        }
        for row in rows
    ]
    page = {"page": 1, "pages": 1, "per_page": "400", "total": len(records)}
    return json.dumps([page, records]).encode()


@pytest.fixture(scope="module")
def payloads(mirror: Path) -> dict[str, Reply]:
    researchers_zip = world_bank_zip((mirror / RESEARCHERS_FILE).read_bytes())
    wpp_gz = gzip.compress(
        (mirror / "wpp2024/WPP2024_Population1JanuaryBySex_annual.csv").read_bytes(),
        compresslevel=1,
        mtime=0,
    )
    owid_gzip_encoded = gzip.compress(
        (mirror / "wdi/owid_NY.GDP.PCAP.PP.KD_gdp_per_capita_ppp.csv").read_bytes(), mtime=0
    )
    return {
        live_path(RESEARCHERS): Reply(
            body=researchers_zip,
            headers={
                "Content-Type": "application/zip",
                "Content-Disposition": f"attachment; filename={RESEARCHERS_ZIP_NAME}",
                "ETag": ETAG,
                "Last-Modified": LAST_MODIFIED,
            },
        ),
        live_path(WPP_ANNUAL): Reply(body=wpp_gz, headers={"Content-Type": "application/gzip"}),
        # OWID's CSV, sent gzip-encoded on the wire; Content-MD5 covers the encoded bytes
        live_path(OWID_GDP): Reply(
            body=owid_gzip_encoded,
            headers={
                "Content-Type": "text/csv",
                "Content-Encoding": "gzip",
                "Content-MD5": base64_digest("md5", owid_gzip_encoded),
            },
        ),
        live_path(COUNTRIES): Reply(
            body=world_bank_country_page(mirror),
            headers={"Content-Type": "application/json;charset=utf-8"},
        ),
    }


@pytest.fixture
def scenario(payloads: dict[str, Reply]) -> Iterator[Scenario]:
    scenario = Scenario(payloads)
    server = LoopbackServer(("127.0.0.1", 0), Handler)
    server.scenario = scenario
    scenario.port = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield scenario
    finally:
        scenario.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def client(scenario: Scenario) -> Iterator[httpx.Client]:
    with httpx.Client(
        transport=LoopbackTransport(scenario.port),
        timeout=httpx.Timeout(2.0, read=READ_TIMEOUT),
        trust_env=False,
    ) as client:
        yield client


@pytest.fixture
def waits() -> list[float]:
    """The waits fetch_live asked for, in seconds (recorded instead of slept)."""
    return []


def pull(dataset: Dataset, client: httpx.Client, waits: list[float]) -> Download:
    return fetch_live(dataset, client=client, attempts=ATTEMPTS, sleep=waits.append)


def good_body(payloads: dict[str, Reply], dataset: Dataset) -> bytes:
    body = payloads[live_path(dataset)].body
    assert body is not None
    return body


# --- a good pull ---------------------------------------------------------------------------


def test_the_world_bank_zip_arrives_whole_with_its_provenance(scenario, client, waits, payloads):
    download = pull(RESEARCHERS, client, waits)
    assert download.data == good_body(payloads, RESEARCHERS)
    assert download.source == RESEARCHERS.url  # the live URL, not the loopback address
    assert download.filename == RESEARCHERS_ZIP_NAME
    assert (download.etag, download.last_modified) == (ETAG, LAST_MODIFIED)
    assert scenario.count(RESEARCHERS) == 1 and waits == []


def test_a_gzipped_wpp_file_arrives_under_its_url_name(scenario, client, waits, mirror):
    download = pull(WPP_ANNUAL, client, waits)
    expected = (mirror / "wpp2024/WPP2024_Population1JanuaryBySex_annual.csv").read_bytes()
    assert gzip.decompress(download.data) == expected
    assert download.filename == "WPP2024_Population1JanuaryBySex_Medium.csv.gz"


def test_a_gzip_encoded_csv_is_checked_on_the_wire_and_kept_decoded(
    scenario, client, waits, mirror
):
    download = pull(OWID_GDP, client, waits)
    assert (
        download.data == (mirror / "wdi/owid_NY.GDP.PCAP.PP.KD_gdp_per_capita_ppp.csv").read_bytes()
    )
    assert scenario.count(OWID_GDP) == 1


def test_a_world_bank_api_page_with_records_is_data(scenario, client, waits):
    download = pull(COUNTRIES, client, waits)
    assert json.loads(download.data)[0]["total"] == 296


# --- retries -------------------------------------------------------------------------------


def test_a_server_error_is_retried_with_backoff(scenario, client, waits, payloads):
    scenario.queue(RESEARCHERS, Reply(500, b"Internal Server Error"))
    download = pull(RESEARCHERS, client, waits)
    assert download.data == good_body(payloads, RESEARCHERS)
    assert scenario.count(RESEARCHERS) == 2
    assert len(waits) == 1 and 1.0 <= waits[0] <= 3.0  # 2 s backoff, ±50 % jitter


def test_retry_after_in_seconds_is_honoured(scenario, client, waits):
    scenario.queue(RESEARCHERS, Reply(429, b"Too Many Requests", {"Retry-After": "2"}))
    pull(RESEARCHERS, client, waits)
    assert waits == [2.0]
    assert scenario.count(RESEARCHERS) == 2


def test_retry_after_as_an_http_date_is_honoured(scenario, client, waits):
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    scenario.queue(RESEARCHERS, Reply(503, b"Service Unavailable", {"Retry-After": when}))
    pull(RESEARCHERS, client, waits)
    assert len(waits) == 1 and 27.0 <= waits[0] <= 30.0


def test_a_retry_after_beyond_the_cap_fails_at_once(scenario, client, waits):
    scenario.queue(RESEARCHERS, Reply(429, b"Too Many Requests", {"Retry-After": "3600"}))
    with pytest.raises(FetchError, match=r"wdi_sp_pop_scie_rd_p6: .*asked to wait 3600 s"):
        pull(RESEARCHERS, client, waits)
    assert waits == [] and scenario.count(RESEARCHERS) == 1


def test_a_server_that_never_answers_in_time_fails_naming_dataset_and_url(scenario, client, waits):
    scenario.queue(RESEARCHERS, *[Reply(delay=MAX_HANDLER_DELAY)] * ATTEMPTS)
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        pull(RESEARCHERS, client, waits)
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert message.startswith(f"{RESEARCHERS.id}: {RESEARCHERS.url} failed after 3 attempt(s)")
    assert "timed out" in message and "ReadTimeout" in message
    assert scenario.count(RESEARCHERS) == ATTEMPTS and len(waits) == ATTEMPTS - 1
    assert elapsed < ATTEMPTS * READ_TIMEOUT + 2.0


def test_a_body_cut_short_every_time_is_a_truncated_download(scenario, client, waits):
    scenario.queue(RESEARCHERS, *[Reply(send_only=4096)] * ATTEMPTS)
    with pytest.raises(FetchError, match=r"wdi_sp_pop_scie_rd_p6: https://api\.worldbank") as e:
        pull(RESEARCHERS, client, waits)
    assert "truncated" in str(e.value) and "RemoteProtocolError" in str(e.value)
    assert scenario.count(RESEARCHERS) == ATTEMPTS


def test_a_body_cut_short_once_is_fetched_again(scenario, client, waits, payloads):
    scenario.queue(RESEARCHERS, Reply(send_only=4096))
    download = pull(RESEARCHERS, client, waits)
    assert download.data == good_body(payloads, RESEARCHERS)
    assert scenario.count(RESEARCHERS) == 2


def test_content_length_is_checked_even_when_the_transport_lets_a_short_body_through(waits):
    def short_body(request: httpx.Request) -> httpx.Response:  # synthetic, no network
        return httpx.Response(200, headers={"Content-Length": "100"}, content=b"PK\x03\x04")

    with (
        httpx.Client(transport=httpx.MockTransport(short_body)) as mock_client,
        pytest.raises(FetchError, match=r"truncated download: received 4 of 100 bytes"),
    ):
        fetch_live(RESEARCHERS, client=mock_client, attempts=2, sleep=waits.append)


def test_an_empty_body_is_not_data(scenario, client, waits):
    scenario.queue(RESEARCHERS, *[Reply(body=b"")] * ATTEMPTS)
    with pytest.raises(FetchError, match="wdi_sp_pop_scie_rd_p6: .*empty body"):
        pull(RESEARCHERS, client, waits)
    assert scenario.count(RESEARCHERS) == ATTEMPTS


# --- checksums -----------------------------------------------------------------------------


CHECKSUM_HEADERS = {
    "Content-MD5": lambda body: {"Content-MD5": base64_digest("md5", body)},
    "x-goog-hash": lambda body: {
        "x-goog-hash": f"crc32c=AAAAAA==,md5={base64_digest('md5', body)}"
    },
    "Digest": lambda body: {"Digest": f"SHA-256={base64_digest('sha256', body)}"},
    "Content-Digest": lambda body: {"Content-Digest": f"sha-256=:{base64_digest('sha256', body)}:"},
}


@pytest.mark.parametrize("header", sorted(CHECKSUM_HEADERS))
def test_a_matching_checksum_header_passes(scenario, client, waits, payloads, header):
    body = good_body(payloads, RESEARCHERS)
    scenario.queue(RESEARCHERS, Reply(headers=CHECKSUM_HEADERS[header](body)))
    assert pull(RESEARCHERS, client, waits).data == body


@pytest.mark.parametrize("header", sorted(CHECKSUM_HEADERS))
def test_a_body_that_fails_its_checksum_header_is_refused(scenario, client, waits, header):
    wrong = CHECKSUM_HEADERS[header](b"some other bytes")
    scenario.queue(RESEARCHERS, *[Reply(headers=wrong)] * ATTEMPTS)
    with pytest.raises(FetchError, match=f"wdi_sp_pop_scie_rd_p6: .*fails its {header}"):
        pull(RESEARCHERS, client, waits)
    assert scenario.count(RESEARCHERS) == ATTEMPTS


# --- answers that are not the dataset ------------------------------------------------------


def test_an_html_page_with_status_200_is_refused_without_retry(scenario, client, waits):
    page = b"<!DOCTYPE html><html><head><title>Maintenance</title></head><body></body></html>"
    scenario.queue(RESEARCHERS, Reply(body=page, headers={"Content-Type": "text/html"}))
    with pytest.raises(FetchError, match=r"wdi_sp_pop_scie_rd_p6: .*an HTML page"):
        pull(RESEARCHERS, client, waits)
    assert scenario.count(RESEARCHERS) == 1 and waits == []


WORLD_BANK_FAULTS = {
    "json error": (
        b'[{"message": [{"id": "120", "key": "Invalid value", '
        b'"value": "The provided parameter value is not valid"}]}]',
        r"error payload \(HTTP 200\): 120 Invalid value: The provided parameter value is not",
    ),
    "empty result": (
        b'[{"page":1,"pages":0,"per_page":50,"total":0}, null]',
        r"empty result \(total 0",
    ),
    "xml error": (
        b'<?xml version="1.0" encoding="utf-8"?>\r\n<wb:error '
        b'xmlns:wb="http://www.worldbank.org"><wb:message id="175" key="Invalid format">'
        b"The indicator was not found. It may have been deleted or archived.</wb:message>"
        b"</wb:error>",
        r"175 Invalid format: The indicator was not found",
    ),
}


@pytest.mark.parametrize("dataset", [COUNTRIES, RESEARCHERS], ids=lambda d: d.id)
@pytest.mark.parametrize("fault", sorted(WORLD_BANK_FAULTS))
def test_a_world_bank_error_or_empty_result_with_status_200_is_refused(
    scenario, client, waits, dataset, fault
):
    body, quoted = WORLD_BANK_FAULTS[fault]
    scenario.queue(dataset, Reply(body=body, headers={"Content-Type": "application/json"}))
    with pytest.raises(FetchError, match=f"{dataset.id}: .*{quoted}"):
        pull(dataset, client, waits)
    assert scenario.count(dataset) == 1


def corrupt_member(archive: bytes) -> bytes:
    """The zip with bytes flipped in the middle of its data member (headers intact)."""
    info = zipfile.ZipFile(io.BytesIO(archive)).getinfo(
        "API_SP.POP.SCIE.RD.P6_DS2_en_csv_v2_37695.csv"
    )
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    middle = start + info.compress_size // 2
    return (
        archive[:middle]
        + bytes(b ^ 0xFF for b in archive[middle : middle + 64])
        + archive[middle + 64 :]
    )


@pytest.mark.parametrize("damage", ["truncated", "flipped bytes"])
def test_a_corrupt_zip_is_refused_naming_the_url(scenario, client, waits, payloads, damage):
    archive = good_body(payloads, RESEARCHERS)
    body = archive[: len(archive) * 2 // 3] if damage == "truncated" else corrupt_member(archive)
    scenario.queue(RESEARCHERS, *[Reply(body=body)] * ATTEMPTS)  # a consistent Content-Length
    with pytest.raises(FetchError, match=f"{RESEARCHERS.id}: .*/SP.POP.SCIE.RD.P6.*zip"):
        pull(RESEARCHERS, client, waits)
    assert scenario.count(RESEARCHERS) == ATTEMPTS


def test_a_truncated_gzip_is_refused(scenario, client, waits, payloads):
    body = good_body(payloads, WPP_ANNUAL)
    scenario.queue(WPP_ANNUAL, *[Reply(body=body[: len(body) // 2])] * ATTEMPTS)
    with pytest.raises(FetchError, match=r"wpp2024_population_annual: .*gzip file is truncated"):
        pull(WPP_ANNUAL, client, waits)


def test_not_found_fails_at_once(scenario, client, waits):
    scenario.queue(RESEARCHERS, Reply(404, b"Not Found"))
    with pytest.raises(FetchError, match=r"wdi_sp_pop_scie_rd_p6: .* answered HTTP 404"):
        pull(RESEARCHERS, client, waits)
    assert scenario.count(RESEARCHERS) == 1 and waits == []


def test_a_hand_typed_source_has_no_live_pull(scenario, client, waits):
    with pytest.raises(FetchError) as caught:
        pull(HAND_TYPED, client, waits)
    message = str(caught.value)
    assert "no live source" in message and "by hand" in message
    assert "TALENTFLOW_MIRROR" in message
    assert scenario.requests == []


# --- end to end: live pull to snapshot -----------------------------------------------------


def snapshot_files(settings: Settings, dataset: Dataset) -> dict[str, bytes]:
    folder = settings.data_dir / "snapshots" / dataset.id
    return {p.name: p.read_bytes() for p in folder.iterdir()} if folder.exists() else {}


def pull_snapshot(dataset: Dataset, settings: Settings, client: httpx.Client) -> Snapshot:
    return store_snapshot(dataset, fetch(dataset, settings, client=client), settings)


def test_a_live_pull_becomes_a_snapshot_that_records_its_provenance(scenario, client, tmp_path):
    settings = Settings(data_dir=tmp_path, mirror=None)
    snapshot = pull_snapshot(RESEARCHERS, settings, client)
    sidecar = json.loads(snapshot.sidecar_path.read_text())
    assert sidecar["source"] == RESEARCHERS.url
    assert (sidecar["etag"], sidecar["last_modified"]) == (ETAG, LAST_MODIFIED)
    assert sidecar["filename"] == RESEARCHERS_ZIP_NAME and snapshot.path.suffix == ".zip"
    assert sidecar["rows"] == 2475  # MANIFEST: 2,475 non-null cells
    assert scenario.count(RESEARCHERS) == 1


def test_a_failed_live_pull_leaves_no_snapshot_and_keeps_the_earlier_one(
    scenario, client, tmp_path
):
    settings = Settings(data_dir=tmp_path, mirror=None)
    maintenance = Reply(body=b"<html><body>Down for maintenance</body></html>")
    scenario.queue(RESEARCHERS, maintenance)
    with pytest.raises(FetchError, match="HTML"):
        pull_snapshot(RESEARCHERS, settings, client)
    assert snapshot_files(settings, RESEARCHERS) == {}

    pull_snapshot(RESEARCHERS, settings, client)
    earlier = snapshot_files(settings, RESEARCHERS)
    assert len(earlier) == 2  # the raw zip and its sidecar
    scenario.queue(RESEARCHERS, maintenance)
    with pytest.raises(FetchError, match="HTML"):
        pull_snapshot(RESEARCHERS, settings, client)
    assert snapshot_files(settings, RESEARCHERS) == earlier
