"""Bounded decompression: a payload that expands like a bomb is refused while it is being
decompressed, naming the file; an honest compressed file still reads whole."""

from __future__ import annotations

import gzip
import io
import zipfile

import pytest

from talentflow.tasks.sources import formats
from talentflow.tasks.sources.fetch import _archive_fault
from talentflow.tasks.sources.formats import ReaderError, open_payload
from talentflow.tasks.sources.orcid import parse_records


def gzip_bomb(expanded: int) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as sink:
        block = b"\0" * (1 << 20)
        for _ in range(expanded >> 20):
            sink.write(block)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """100 MiB of zeros in about 100 KB: over 1,000:1."""
    return gzip_bomb(100 << 20)


def test_a_gzip_bomb_is_refused_as_it_expands_naming_the_file(tmp_path, bomb):
    path = tmp_path / "synthetic_record.json.gz"  # the ORCID sample that once took 2.3 GB
    path.write_bytes(bomb)
    with pytest.raises(
        ReaderError, match=r"synthetic_record\.json\.gz: refused: .*decompression bomb"
    ):
        open_payload(path, "*")
    with pytest.raises(ReaderError, match="decompression bomb"):
        parse_records(path)


def test_a_zip_bomb_member_is_refused(tmp_path):
    path = tmp_path / "synthetic_wdi.zip"
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("API_synthetic.csv", "w") as member,
    ):
        block = b"0," * (1 << 19)
        for _ in range(100):
            member.write(block)
    with pytest.raises(ReaderError, match=r"synthetic_wdi\.zip \(API_synthetic\.csv\): refused"):
        open_payload(path, "*.csv")


def test_a_download_that_expands_like_a_bomb_is_a_fault(bomb):
    assert "decompression bomb" in _archive_fault(bomb)


def test_the_absolute_limit_holds_whatever_the_ratio(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "MAX_PAYLOAD_BYTES", 3 << 20)
    path = tmp_path / "synthetic_big.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n" + b"1,2\n" * (1 << 20)))  # 4 MiB, ratio ~ 250
    with pytest.raises(ReaderError, match=r"expands beyond 3,145,728 bytes"):
        open_payload(path)


def test_an_honest_gzip_reads_whole(tmp_path):
    text = b"country,year,value\n" + b"CHN,2020,1.5\n" * 50_000
    path = tmp_path / "synthetic_values.csv.gz"
    path.write_bytes(gzip.compress(text))
    assert open_payload(path) == ("synthetic_values.csv", text)
