"""Resumable downloads of large release files, against a loopback server that honours
HTTP ranges and injects faults: a connection cut mid-body, a server that ignores ranges,
a file replaced on the server, a wrong checksum, a process killed mid-download.

The payload is a synthetic ORCID summaries tarball (tests/synthetic_orcid.py), so the
last test can read what was downloaded. The server listens on 127.0.0.1 only, on a free
port, and is shut down after each test; waits are recorded, not slept.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from talentflow.tasks.sources.fetch import FetchError
from talentflow.tasks.sources.large_file import (
    RemoteFile,
    download_resumable,
    figshare_files,
    pick_file,
)
from talentflow.tasks.sources.orcid import affiliations_from_tarball
from tests.synthetic_orcid import synthetic_affiliations, write_synthetic_data_file

RECORDS = 300


@dataclass
class Served:
    """What the server sends, and what it saw."""

    payload: bytes
    etag: str = '"synthetic-v1"'
    cut_first_after: int | None = None  # the first GET sends this many bytes, then closes
    ignore_range: bool = False
    always_status: int | None = None  # answer every file request with this status
    requests: list[dict[str, str]] = field(default_factory=list)
    bytes_sent: int = 0


class Handler(BaseHTTPRequestHandler):
    served: Served

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        served = self.server.served  # type: ignore[attr-defined]
        served.requests.append(dict(self.headers))
        if self.path.startswith("/v2/articles/"):
            return self._figshare(served)
        if self.path != "/files/2" or served.always_status is not None:
            self.send_response(served.always_status or 404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        payload, start = served.payload, 0
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if wanted and not served.ignore_range and if_range in (None, served.etag):
            start = int(wanted.removeprefix("bytes=").rstrip("-"))
            if start >= len(payload):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(payload)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
        else:
            self.send_response(200)
        body = payload[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", served.etag)
        self.end_headers()
        if served.cut_first_after is not None and len(served.requests) == 1:
            body = body[: served.cut_first_after]
        self.wfile.write(body)
        served.bytes_sent += len(body)
        self.wfile.flush()

    def _figshare(self, served: Served) -> None:
        port = self.server.server_address[1]  # type: ignore[attr-defined]
        listing = [
            {
                "name": "ORCID_2099_10_activities_0.tar.gz",
                "download_url": f"http://127.0.0.1:{port}/files/1",
                "size": 10,
                "computed_md5": "0" * 32,
            },
            {
                "name": "ORCID_2099_10_summaries.tar.gz",
                "download_url": f"http://127.0.0.1:{port}/files/2",
                "size": len(served.payload),
                "computed_md5": hashlib.md5(served.payload).hexdigest(),
            },
        ]
        body = json.dumps(listing).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("orcid") / "synthetic_summaries.tar.gz"
    write_synthetic_data_file(path, RECORDS)
    return path.read_bytes()


@pytest.fixture
def served(tarball) -> Iterator[tuple[Served, str]]:
    served = Served(payload=tarball)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.served = served  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client


def remote(served: Served, base: str, **changes) -> RemoteFile:
    fields = {
        "name": "summaries.tar.gz",
        "url": f"{base}/files/2",
        "size": len(served.payload),
        "md5": hashlib.md5(served.payload).hexdigest(),
    }
    return RemoteFile(**(fields | changes))


def test_a_cut_connection_resumes_from_the_bytes_on_disk(served, client, tmp_path):
    server, base = served
    server.cut_first_after = len(server.payload) // 3
    waits: list[float] = []
    path = download_resumable(
        remote(server, base), tmp_path / "s.tar.gz", client=client, sleep=waits.append
    )
    assert path.read_bytes() == server.payload
    assert server.requests[1]["Range"] == f"bytes={len(server.payload) // 3}-"
    assert server.requests[1]["If-Range"] == server.etag
    assert server.bytes_sent == len(server.payload)  # nothing sent twice
    assert waits == []  # the cut attempt made progress: no wait
    assert not (tmp_path / "s.tar.gz.part").exists()
    assert not (tmp_path / "s.tar.gz.part.json").exists()


def test_a_killed_download_resumes_in_a_new_process(served, client, tmp_path):
    """What a killed process leaves (a partial file and its state) is picked up."""
    server, base = served
    file = remote(server, base)
    destination = tmp_path / "s.tar.gz"
    kept = len(server.payload) // 2
    (tmp_path / "s.tar.gz.part").write_bytes(server.payload[:kept])
    state = {"url": file.url, "size": file.size, "md5": file.md5, "validator": server.etag}
    (tmp_path / "s.tar.gz.part.json").write_text(json.dumps(state))
    download_resumable(file, destination, client=client)
    assert destination.read_bytes() == server.payload
    assert server.bytes_sent == len(server.payload) - kept


def test_a_server_that_ignores_ranges_gets_the_file_whole_not_spliced(served, client, tmp_path):
    server, base = served
    server.cut_first_after = 1000
    server.ignore_range = True
    path = download_resumable(remote(server, base), tmp_path / "s.tar.gz", client=client)
    assert path.read_bytes() == server.payload


def test_a_file_replaced_on_the_server_starts_over(served, client, tmp_path):
    """If-Range fails on a new ETag: the server sends the new file whole (200)."""
    server, base = served
    file = remote(server, base)
    (tmp_path / "s.tar.gz.part").write_bytes(b"x" * 5000)  # bytes of an older file
    state = {"url": file.url, "size": file.size, "md5": file.md5, "validator": '"old"'}
    (tmp_path / "s.tar.gz.part.json").write_text(json.dumps(state))
    path = download_resumable(file, tmp_path / "s.tar.gz", client=client)
    assert path.read_bytes() == server.payload


def test_a_checksum_mismatch_is_refused_and_leaves_nothing(served, client, tmp_path):
    server, base = served
    wrong = remote(server, base, md5="0" * 32)
    with pytest.raises(FetchError, match=r"MD5 [0-9a-f]{32} does not match the publisher's 0{32}"):
        download_resumable(wrong, tmp_path / "s.tar.gz", client=client)
    assert list(tmp_path.iterdir()) == []


def test_a_size_that_differs_from_the_publishers_is_refused_and_leaves_nothing(
    served, client, tmp_path
):
    server, base = served
    file = remote(server, base, size=len(server.payload) + 10)
    with pytest.raises(FetchError, match=r"downloaded [\d,]+ bytes, the publisher lists"):
        download_resumable(file, tmp_path / "s.tar.gz", client=client)
    assert list(tmp_path.iterdir()) == []


def test_a_server_that_keeps_failing_stops_after_attempts(served, client, tmp_path):
    server, base = served
    server.always_status = 503
    waits: list[float] = []
    with pytest.raises(FetchError, match="no progress in 3 attempts; the last: HTTP 503"):
        download_resumable(
            remote(server, base),
            tmp_path / "s.tar.gz",
            client=client,
            attempts=3,
            sleep=waits.append,
        )
    assert len(server.requests) == 3 and len(waits) == 2


def test_figshare_lists_the_summaries_file_with_its_md5_and_it_arrives_readable(
    served, client, tmp_path
):
    server, base = served
    # the loopback server answers figshare's API path too
    from talentflow.tasks.sources import large_file

    original = large_file.FIGSHARE_API
    large_file.FIGSHARE_API = f"{base}/v2"
    try:
        files = figshare_files(27151305, client)
    finally:
        large_file.FIGSHARE_API = original
    summaries = pick_file(files, r"ORCID_\d{4}_10_summaries\.tar\.gz")
    assert summaries.md5 == hashlib.md5(server.payload).hexdigest()
    with pytest.raises(FetchError, match="found 0 among: ORCID_2099_10_activities_0"):
        pick_file(files, r"nothing\.tar\.gz")
    path = download_resumable(summaries, tmp_path / summaries.name, client=client)
    read = affiliations_from_tarball(path)
    assert read.equals(synthetic_affiliations(RECORDS))


def test_a_refusal_is_not_retried(served, client, tmp_path):
    server, base = served
    gone = RemoteFile(name="x", url=f"{base}/nothing", size=None, md5=None)
    with pytest.raises(FetchError, match="HTTP 404; not retried"):
        download_resumable(gone, tmp_path / "x", client=client)
    assert len(server.requests) == 1
