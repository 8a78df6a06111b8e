"""Files too large to hold in memory (the ORCID public data file: tens of GB), downloaded
to disk by streaming, resumed with HTTP range requests, and checked against the
publisher's checksum before anyone reads them.

:mod:`tasks.sources.fetch` returns a dataset's bytes in memory and never writes a file;
this module is its counterpart for one kind of source: a release file on figshare, whose
public API lists each file's name, size, download URL and MD5.

How a download survives what a 37 GB transfer meets
--------------------------------------------------
- It streams into ``<name>.part`` beside the destination, with a small JSON state file
  (``<name>.part.json``: URL, validator, expected size and MD5). A connection that drops,
  a process that is killed, a machine that reboots: the next call sends
  ``Range: bytes=<bytes on disk>-`` with ``If-Range`` (the ETag or Last-Modified of the
  first response) and appends what is missing.
- A server that answers a range request with the whole file (200) or with a range that
  does not start where the file ends, or a file that changed on the server (``If-Range``
  fails, so a 200 comes back), starts the file over: never a spliced file.
- Attempts count only transfers that made no progress; each attempt that adds bytes
  resets the count, so a long transfer over a poor line still finishes.
- When the bytes are all there, the size and the publisher's MD5 are checked over the
  whole file. A mismatch deletes the partial file (it cannot be repaired by resuming) and
  raises :class:`FetchError` naming both digests; only a file that passed is renamed to
  its final name (an atomic rename), so a reader never sees a half-downloaded file.

Why not a library: httpx streams and ranges well but has no resumable download; the
download managers on PyPI either hold no checksum contract or pull in an async stack.
This is the smallest code that makes those guarantees testable.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from talentflow.tasks.sources.fetch import FetchError, _backoff, _describe_transport_error

FIGSHARE_API = "https://api.figshare.com/v2"
#: Statuses worth asking again for (the server, or something in between, is busy).
RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
CHUNK_BYTES = 1 << 20
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


@dataclass(frozen=True)
class RemoteFile:
    """One file a publisher offers: where to get it and what it must be."""

    name: str
    url: str
    size: int | None = None
    md5: str | None = None  # hex, as the publisher computed it


def figshare_files(article_id: int, client: httpx.Client) -> list[RemoteFile]:
    """The files of a public figshare article (``GET /v2/articles/<id>/files``), with the
    MD5 figshare computed for each (``computed_md5``, else the uploader's
    ``supplied_md5``)."""
    url = f"{FIGSHARE_API}/articles/{article_id}/files"
    try:
        response = client.get(url, params={"page_size": 100})
    except httpx.TransportError as error:
        raise FetchError(f"{url}: {_describe_transport_error(error)}") from error
    if response.status_code != 200:
        raise FetchError(f"{url}: HTTP {response.status_code}; is {article_id} a public article?")
    try:
        listed = response.json()
        return [
            RemoteFile(
                name=str(item["name"]),
                url=str(item["download_url"]),
                size=int(item["size"]) if item.get("size") is not None else None,
                md5=(item.get("computed_md5") or item.get("supplied_md5") or None),
            )
            for item in listed
        ]
    except (ValueError, KeyError, TypeError) as error:
        raise FetchError(f"{url}: not figshare's file list ({error})") from error


def pick_file(files: list[RemoteFile], pattern: str) -> RemoteFile:
    """The one file whose name matches ``pattern`` (a regular expression); FetchError
    naming what is there when none or several do."""
    matches = [f for f in files if re.fullmatch(pattern, f.name)]
    if len(matches) != 1:
        names = ", ".join(f.name for f in files) or "no files"
        raise FetchError(
            f"expected exactly one file named like {pattern!r}, found {len(matches)} among: {names}"
        )
    return matches[0]


@dataclass(frozen=True)
class _State:
    url: str
    size: int | None
    md5: str | None
    validator: str | None  # ETag (strong) or Last-Modified of the first response


def _paths(destination: Path) -> tuple[Path, Path]:
    part = destination.with_name(destination.name + ".part")
    return part, destination.with_name(destination.name + ".part.json")


def _read_state(state_path: Path) -> _State | None:
    try:
        return _State(**json.loads(state_path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _write_state(state_path: Path, state: _State) -> None:
    temporary = state_path.with_name(state_path.name + ".tmp")
    temporary.write_text(json.dumps(asdict(state)), encoding="utf-8")
    os.replace(temporary, state_path)


def _start_over(part: Path, state_path: Path) -> None:
    part.unlink(missing_ok=True)
    state_path.unlink(missing_ok=True)


def file_md5(path: Path, chunk: int = 8 * CHUNK_BYTES) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def download_resumable(
    remote: RemoteFile,
    destination: Path,
    *,
    client: httpx.Client,
    attempts: int = 5,
    backoff_seconds: float = 2.0,
    max_wait_seconds: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download ``remote`` to ``destination``, resuming whatever an earlier call left in
    ``<destination>.part``, and return ``destination`` once its size and MD5 match the
    publisher's. A file already at ``destination`` is returned as it is.

    ``attempts`` bounds consecutive attempts that add no byte; ``progress(bytes, total)``
    is called after each chunk written. Raises :class:`FetchError` (naming the URL) for a
    refusal (4xx), for a server that keeps failing, and for a checksum or size mismatch,
    after which no partial file is left."""
    if destination.is_file():
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    part, state_path = _paths(destination)
    state = _read_state(state_path)
    if state is None or state.url != remote.url or state.md5 != remote.md5:
        _start_over(part, state_path)  # another file's bytes are never resumed
        state = _State(remote.url, remote.size, remote.md5, None)
    failures = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if remote.size is not None and have >= remote.size:
            break
        headers = {}
        if have:
            headers["Range"] = f"bytes={have}-"
            if state.validator:
                headers["If-Range"] = state.validator
        before = have
        try:
            done, state = _transfer(
                remote, part, state_path, state, headers, have, client, progress
            )
        except _Retry as fault:
            # the validator of a response that broke off is on disk, not returned
            state = _read_state(state_path) or _State(remote.url, remote.size, remote.md5, None)
            grew = (part.stat().st_size if part.exists() else 0) > before
            failures = 0 if grew else failures + 1
            if failures >= attempts:
                raise FetchError(
                    f"{remote.url}: no progress in {attempts} attempts; the last: {fault}. "
                    f"Run again to resume from {part} ({before:,} bytes kept)."
                ) from None
            if not grew:
                sleep(_backoff(failures, backoff_seconds, max_wait_seconds))
            continue
        if done:
            break
    _verify(remote, part, state_path)
    os.replace(part, destination)
    state_path.unlink(missing_ok=True)
    return destination


class _Retry(Exception):
    """A transfer that may succeed if tried again (resuming from the bytes on disk)."""


def _transfer(
    remote: RemoteFile,
    part: Path,
    state_path: Path,
    state: _State,
    headers: dict[str, str],
    have: int,
    client: httpx.Client,
    progress: Callable[[int, int | None], None] | None,
) -> tuple[bool, _State]:
    """One request. Returns (whether the file is complete, the state to keep)."""
    try:
        with client.stream("GET", remote.url, headers=headers) as response:
            status = response.status_code
            if status == 416 and have:
                # Nothing left to send from here: complete if the size says so, else the
                # bytes on disk are not the server's file.
                total = _total_from_content_range(response.headers.get("Content-Range"))
                if total is not None and total == have:
                    return True, state
                _start_over(part, state_path)
                raise _Retry(f"HTTP 416 for bytes {have}- of a {total}-byte file: started over")
            if status in RETRYABLE_STATUS:
                raise _Retry(f"HTTP {status}")
            if status not in (200, 206):
                raise FetchError(f"{remote.url}: HTTP {status}; not retried")
            mode = "ab"
            if status == 206:
                start = _range_start(response.headers.get("Content-Range"))
                if start != have:
                    _start_over(part, state_path)
                    raise _Retry(
                        f"the server sent bytes from {start} when asked from {have}: started over"
                    )
            elif have:
                mode = "wb"  # a 200 to a range request: the whole file again (or a new one)
            validator = _validator(response.headers)
            if state.validator is None or mode == "wb" or not have:
                state = _State(state.url, state.size, state.md5, validator)
                _write_state(state_path, state)
            written = have if mode == "ab" else 0
            with part.open(mode) as sink:
                for block in response.iter_raw():  # as sent: ranges count these bytes
                    sink.write(block)
                    written += len(block)
                    if progress is not None:
                        progress(written, remote.size)
                sink.flush()
                os.fsync(sink.fileno())
    except httpx.TransportError as error:
        raise _Retry(_describe_transport_error(error)) from None
    size = part.stat().st_size
    if remote.size is None:
        return True, state
    if size < remote.size:
        raise _Retry(f"the response ended at {size:,} of {remote.size:,} bytes")
    return True, state


def _validator(headers: httpx.Headers) -> str | None:
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):  # If-Range needs a strong validator
        return etag
    return headers.get("Last-Modified")


def _range_start(value: str | None) -> int | None:
    match = _CONTENT_RANGE.match(value or "")
    return int(match.group(1)) if match else None


def _total_from_content_range(value: str | None) -> int | None:
    match = re.match(r"^bytes \*/(\d+)$", value or "") or _CONTENT_RANGE.match(value or "")
    if not match:
        return None
    total = match.groups()[-1]
    return int(total) if total != "*" else None


def _verify(remote: RemoteFile, part: Path, state_path: Path) -> None:
    size = part.stat().st_size
    if remote.size is not None and size != remote.size:
        _start_over(part, state_path)
        raise FetchError(
            f"{remote.url}: downloaded {size:,} bytes, the publisher lists {remote.size:,}; "
            "the partial file was removed, run again to download it whole"
        )
    if remote.md5 is None:
        return
    found = file_md5(part)
    if found != remote.md5.lower():
        _start_over(part, state_path)
        raise FetchError(
            f"{remote.url}: MD5 {found} does not match the publisher's {remote.md5}; the "
            "file was removed (resuming cannot repair it), run again to download it anew"
        )
