"""Fetch a dataset's bytes: from the publisher over HTTP, or from the local source mirror.

Live pulls are the default. ``TALENTFLOW_MIRROR`` points at a folder laid out like
``shared/data``; then the same datasets are read from there (machines without internet,
tests, CI). Either way the caller gets the bytes exactly as published, plus where they
came from; snapshots and readers do the rest. This module never writes a file.

What a live pull refuses (each refusal is a :class:`FetchError` naming the dataset and URL):

- transport faults (timeouts, resets, a connection closed before the body was complete),
  HTTP 408/429/5xx, a body shorter or longer than its ``Content-Length``, a body whose
  ``Content-MD5``, ``x-goog-hash``, ``Digest``, ``Content-Digest`` or ``Repr-Digest`` does
  not match, an empty body, and a truncated or corrupt zip or gzip: these are retried, then
  refused;
- any other HTTP status (404, 403, ...), an HTML page, a World Bank API error payload and a
  World Bank API empty result (both sent with HTTP 200): refused at once, since asking again
  gets the same answer.

Retries live here, in the HTTP client, rather than in Prefect's task retries: Prefect's
``retry_jitter_factor`` has been reported to have no effect, and only the client sees
``Retry-After``. Waits are exponential with jitter, each capped at ``max_wait_seconds``;
``Retry-After`` (seconds or an HTTP date) is honoured up to ``max_retry_after_seconds``
(default :data:`MAX_RETRY_AFTER_SECONDS`) and a longer request fails the pull at once
instead of hammering the server early or hanging a worker for hours. ``sleep`` is
injectable so tests record the waits instead of sleeping.
"""

from __future__ import annotations

import base64
import binascii
import email.message
import email.utils
import gzip
import hashlib
import io
import json
import math
import random
import re
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from talentflow.core.settings import Settings
from talentflow.tasks.sources.catalog import Dataset
from talentflow.tasks.sources.formats import expansion_fault


class FetchError(RuntimeError):
    """A download failed or returned something that is not the dataset."""


@dataclass(frozen=True)
class Download:
    """Bytes as the publisher sent them, and where and when they came from."""

    dataset_id: str
    data: bytes
    source: str  # the catalog URL, or the mirror file's path
    filename: str
    retrieved_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    etag: str | None = None
    last_modified: str | None = None


RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
#: The longest ``Retry-After`` a pull waits for; a server asking for more fails the pull.
MAX_RETRY_AFTER_SECONDS = 300.0
#: Digest algorithms of the ``Digest``/``Content-Digest`` headers, as hashlib names them.
DIGEST_ALGORITHMS = {"md5": "md5", "sha-256": "sha256", "sha-512": "sha512"}


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
    """The dataset's file in the source mirror, as a Download."""
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
    max_wait_seconds: float = 60.0,
    max_retry_after_seconds: float = MAX_RETRY_AFTER_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> Download:
    """GET the dataset's catalog URL and return the body once it has passed every check.

    Parameters
    ----------
    dataset: a catalog entry with a ``url``; hand-typed sources (``url=None``) are refused.
    client: an httpx client (timeouts, transport); default one with a 15 s connect and
        60 s read timeout. Redirects are followed either way.
    attempts: how many requests at most, retries included (default 4).
    backoff_seconds: first wait between attempts; doubles each time, with ±50 % jitter.
    max_wait_seconds: cap on one backoff wait (default 60 s).
    max_retry_after_seconds: the longest ``Retry-After`` honoured (default 300 s); a
        longer one fails the pull at once.
    sleep: how to wait (default :func:`time.sleep`); tests pass a recorder.

    Notes
    -----
    The Download's ``source`` is the catalog URL, not the address after redirects: that
    is the address an operator pulls again, and redirect targets may carry signed tokens.
    """
    url = _live_url(dataset)
    own_client = client is None
    client = client or httpx.Client(
        timeout=httpx.Timeout(60.0, connect=15.0),
        headers={"User-Agent": "talentflow (+https://github.com/talentflow)"},
    )
    try:
        for attempt in range(1, attempts + 1):
            try:
                return _get_once(dataset, url, client)
            except _RetryableFault as fault:
                if attempt == attempts:
                    raise FetchError(
                        f"{dataset.id}: {url} failed after {attempts} attempt(s); the last: "
                        f"{fault}. Run the pull again later; if it keeps failing, check the "
                        "URL in the catalog, or set TALENTFLOW_MIRROR to read the source mirror."
                    ) from fault.__cause__
                if fault.retry_after is None:
                    wait = _backoff(attempt, backoff_seconds, max_wait_seconds)
                elif fault.retry_after <= max_retry_after_seconds:
                    wait = fault.retry_after
                else:
                    raise FetchError(
                        f"{dataset.id}: {url} answered {fault} and asked to wait "
                        f"{fault.retry_after:.0f} s (Retry-After), more than the "
                        f"{max_retry_after_seconds:.0f} s a pull waits; run it again later."
                    ) from fault.__cause__
                sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover
    finally:
        if own_client:
            client.close()


class _RetryableFault(Exception):
    """A fault that another attempt may not meet (a transit fault, a busy server)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _live_url(dataset: Dataset) -> str:
    if dataset.url is None:
        raise FetchError(
            f"{dataset.id}: there is no live source to download; its figures are typed by "
            f"hand from public pages ({dataset.publisher}). An operator refreshes the file "
            f"by hand (see the reader module's docstring); to read it, set "
            f"TALENTFLOW_MIRROR to a folder holding {dataset.mirror_glob!r}."
        )
    return dataset.url


def _get_once(dataset: Dataset, url: str, client: httpx.Client) -> Download:
    """One GET; raises _RetryableFault for faults worth another attempt, FetchError for
    the others."""
    try:
        with client.stream("GET", url, follow_redirects=True) as response:
            if response.status_code != 200:
                response.read()
                _refuse_status(dataset, url, response)
            data = _checked_body(response)
    except httpx.TransportError as error:
        raise _RetryableFault(_describe_transport_error(error)) from error
    except httpx.TooManyRedirects as error:
        raise FetchError(f"{dataset.id}: {url} redirects in a loop: {error}") from error

    if not data.strip():
        raise _RetryableFault("HTTP 200 with an empty body")
    _refuse_error_page(dataset, url, response.headers, data)
    fault = _archive_fault(data)
    if fault:
        raise _RetryableFault(fault)
    return Download(
        dataset_id=dataset.id,
        data=data,
        source=url,
        filename=_filename(response, dataset, data),
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
    )


def _checked_body(response: httpx.Response) -> bytes:
    """The body, decoded, once the bytes as sent have passed their ``Content-Length`` and
    checksum headers (which describe the bytes before any content coding is undone)."""
    coded = _content_coding(response.headers) not in ("", "identity")
    if response.is_stream_consumed and coded:
        return response.content  # a transport that decoded it already: nothing left to check
    # httpx.MockTransport and the like hand over a body they have read already
    wire = response.content if response.is_stream_consumed else b"".join(response.iter_raw())
    fault = _length_fault(response.headers, wire) or _checksum_fault(response.headers, wire)
    if fault:
        raise _RetryableFault(fault)
    return _decoded(response.headers, wire)


def _content_coding(headers: httpx.Headers) -> str:
    return headers.get("Content-Encoding", "").strip().lower()


def _refuse_status(dataset: Dataset, url: str, response: httpx.Response) -> None:
    excerpt = response.text[:200]
    if response.status_code in RETRYABLE_STATUS:
        raise _RetryableFault(
            f"HTTP {response.status_code}: {excerpt!r}", retry_after=_retry_after(response)
        )
    hint = {
        404: " The publisher may have moved or removed the file: check the URL in the catalog.",
        410: " The publisher has removed the file: find its new address for the catalog.",
    }.get(response.status_code, "")
    raise FetchError(
        f"{dataset.id}: {url} answered HTTP {response.status_code}: {excerpt!r}.{hint}"
    )


def _describe_transport_error(error: httpx.TransportError) -> str:
    if isinstance(error, httpx.TimeoutException):
        return f"timed out ({type(error).__name__}: {error})"
    if isinstance(error, httpx.RemoteProtocolError):
        return (
            "the connection closed before the whole body arrived, a truncated download "
            f"({type(error).__name__}: {error})"
        )
    return f"{type(error).__name__}: {error}"


def _backoff(attempt: int, base: float, cap: float) -> float:
    return min(cap, base * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks us to wait (``Retry-After`` as seconds or an HTTP date)."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # "-0000": UTC by RFC 5322
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return None if math.isnan(seconds) else max(0.0, seconds)


def _length_fault(headers: httpx.Headers, raw: bytes) -> str | None:
    """The body against its ``Content-Length`` (raw bytes, before any content coding)."""
    declared = headers.get("Content-Length", "").strip()
    if not declared.isdigit() or "chunked" in headers.get("Transfer-Encoding", "").lower():
        return None
    if len(raw) < int(declared):
        return f"a truncated download: received {len(raw)} of {declared} bytes (Content-Length)"
    if len(raw) > int(declared):
        return f"received {len(raw)} bytes where Content-Length says {declared}"
    return None


def _expected_digests(headers: httpx.Headers) -> list[tuple[str, str, bytes]]:
    """(header, hashlib algorithm, digest) for every checksum header we can verify."""
    expected: list[tuple[str, str, bytes]] = []

    def add(header: str, algorithm: str | None, encoded: str) -> None:
        try:
            digest = base64.b64decode(encoded.strip().strip(":"), validate=True)
        except (binascii.Error, ValueError):
            return  # not base64: nothing we can check
        if algorithm is not None and digest:
            expected.append((header, algorithm, digest))

    if "Content-MD5" in headers:
        add("Content-MD5", "md5", headers["Content-MD5"])
    for part in headers.get_list("x-goog-hash", split_commas=True):
        name, _, encoded = part.partition("=")
        if name.strip().lower() == "md5":  # crc32c needs a library we do not carry
            add("x-goog-hash", "md5", encoded)
    for header in ("Digest", "Content-Digest", "Repr-Digest"):
        for part in headers.get_list(header, split_commas=True):
            name, _, encoded = part.partition("=")
            add(header, DIGEST_ALGORITHMS.get(name.strip().lower()), encoded)
    return expected


def _checksum_fault(headers: httpx.Headers, raw: bytes) -> str | None:
    """The body against the checksum headers the server sent (over the bytes as sent,
    before any content coding, as those headers define it)."""
    for header, algorithm, digest in _expected_digests(headers):
        actual = hashlib.new(algorithm, raw).digest()
        if actual != digest:
            return (
                f"the body fails its {header} {algorithm} checksum: the server announced "
                f"{base64.b64encode(digest).decode()}, the bytes give "
                f"{base64.b64encode(actual).decode()} (corrupted or truncated in transit)"
            )
    return None


def _decoded(headers: httpx.Headers, raw: bytes) -> bytes:
    """Undo a ``Content-Encoding`` (gzip, deflate, ...), as httpx would have."""
    coding = _content_coding(headers)
    if coding in ("", "identity"):
        return raw
    try:
        return httpx.Response(200, headers={"Content-Encoding": coding}, content=raw).content
    except httpx.DecodingError as error:
        raise _RetryableFault(
            f"the body cannot be decoded as Content-Encoding {coding!r}: {error}"
        ) from error


def _archive_fault(data: bytes) -> str | None:
    """A zip or gzip download (by its magic bytes) must be complete and pass its CRCs."""
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                bad_member = archive.testzip()
        except (zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError) as error:
            return f"the zip is truncated or corrupt ({type(error).__name__}: {error})"
        except NotImplementedError as error:
            return f"the zip uses a compression this Python cannot read: {error}"
        if bad_member is not None:
            return f"the zip is corrupt: member {bad_member!r} fails its CRC check"
    elif data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
                expanded = 0
                while block := stream.read(1 << 20):
                    expanded += len(block)
                    if (fault := expansion_fault(expanded, len(data))) is not None:
                        return fault
        except (EOFError, zlib.error, OSError) as error:
            return f"the gzip file is truncated or corrupt ({type(error).__name__}: {error})"
    return None


WORLD_BANK_XML_MESSAGE = re.compile(rb'<wb:message id="([^"]*)" key="([^"]*)">([^<]*)<')


def _refuse_error_page(dataset: Dataset, url: str, headers: httpx.Headers, data: bytes) -> None:
    """Publishers answer some errors with HTTP 200: an HTML page, or (World Bank API) an
    error or empty-result payload. None of them is the dataset."""
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    content_type = headers.get("Content-Type", "")
    looks_html = head.startswith((b"<!doctype html", b"<html"))
    if looks_html or ("html" in content_type.lower() and head.startswith(b"<")):
        raise FetchError(
            f"{dataset.id}: {url} returned an HTML page instead of data "
            f"(Content-Type {content_type!r}); the publisher may have moved the file or be "
            "down. Open the URL in a browser, then fix the catalog or pull again later."
        )
    problem = _world_bank_payload_fault(data)
    if problem:
        raise FetchError(
            f"{dataset.id}: {url} {problem}. Check the indicator code and query of the URL in "
            "the catalog against the World Bank API."
        )


def _world_bank_payload_fault(data: bytes) -> str | None:
    """The World Bank API's error payload (JSON or XML) or empty result, else None."""
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<") and b"<wb:error" in head:
        quoted = "; ".join(
            f"{id_.decode()} {key.decode()}: {value.decode().strip()}"
            for id_, key, value in WORLD_BANK_XML_MESSAGE.findall(data[:8192])
        )
        return f"returned a World Bank API error (HTTP 200): {quoted or head[:300]!r}"
    if not head.startswith(b"[") or (b'"message"' not in head and b'"total"' not in head):
        return None
    try:
        payload = json.loads(data)
    except ValueError:  # not a World Bank payload after all; the reader decides
        return None
    if not isinstance(payload, list) or not payload or not isinstance(payload[0], dict):
        return None
    first = payload[0]
    if "message" in first:
        messages = first["message"] if isinstance(first["message"], list) else [first["message"]]
        quoted = "; ".join(
            f"{m.get('id')} {m.get('key')}: {m.get('value')}" if isinstance(m, dict) else str(m)
            for m in messages
        )
        return f"returned a World Bank API error payload (HTTP 200): {quoted}"
    if "total" in first and (len(payload) < 2 or not payload[1]):
        return (
            f"returned a World Bank API empty result (total {first.get('total')!r}, "
            "no records) instead of data"
        )
    return None


def _filename(response: httpx.Response, dataset: Dataset, data: bytes) -> str:
    """The publisher's file name (Content-Disposition, else the URL's last segment),
    with the suffix its bytes call for when the name lacks it."""
    disposition = email.message.Message()
    disposition["Content-Disposition"] = response.headers.get("Content-Disposition", "")
    name = disposition.get_filename() or Path(response.url.path).name or dataset.id
    name = Path(name.replace("\\", "/")).name or dataset.id  # never a path
    if data[:4] == b"PK\x03\x04" and not name.lower().endswith(".zip"):
        name += ".zip"
    elif data[:2] == b"\x1f\x8b" and not name.lower().endswith((".gz", ".tgz")):
        name += ".gz"
    return name
