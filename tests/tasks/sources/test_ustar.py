"""The one-pass tar header reader agrees with tarfile on every format an archive may
use, and refuses what tarfile refuses."""

from __future__ import annotations

import io
import tarfile

import pytest

from talentflow.tasks.sources.ustar import MemberStream

LONG = "summaries/" + "very-long-folder-name/" * 8 + "0000-0002-1825-0097.xml"  # > 100 chars


def archive(members: list[tuple[str, bytes | None, bytes]], fmt: int) -> bytes:
    """A tar archive in ``fmt`` of (name, type, content) members; type None: regular."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for name, kind, content in members:
            info = tarfile.TarInfo(name)
            if kind is not None:
                info.type = kind
                info.linkname = "/etc/passwd" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


MEMBERS = [
    ("summaries/", tarfile.DIRTYPE, b""),
    ("summaries/097/0000-0002-1825-0097.xml", None, b"<record/>" * 100),
    (LONG, None, b"<record>long</record>"),
    ("summaries/README", None, b"not a record"),
    ("summaries/\u00e9t\u00e9/0000-0002-1825-0098.xml", None, b"<record>utf-8 name</record>"),
    ("summaries/link.xml", tarfile.SYMTYPE, b""),
    ("summaries/empty.xml", None, b""),
]


def with_tarfile(data: bytes) -> list[tuple[str, bytes, int, str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
        read = []
        for member in tar:
            handle = tar.extractfile(member) if member.isreg() else None
            content = handle.read() if handle else b""
            read.append((member.name, member.type, member.size, member.linkname, content))
    return read


def with_stream(data: bytes) -> tuple[list[tuple[str, bytes, int, str, bytes]], bool]:
    members = MemberStream(io.BytesIO(data))
    read = []
    for member in members:
        content = members.read(member) if member.isreg() else b""
        read.append((member.name, member.type, member.size, member.linkname, content))
    return read, members.ended


@pytest.mark.parametrize(
    "fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT], ids=str
)
def test_every_member_reads_as_tarfile_reads_it(fmt):
    members = MEMBERS if fmt != tarfile.USTAR_FORMAT else [m for m in MEMBERS if m[0] != LONG]
    data = archive(members, fmt)
    read, ended = with_stream(data)
    assert read == with_tarfile(data)
    assert ended
    assert [name for name, *_ in read] == [name.rstrip("/") for name, *_ in members]


def test_members_left_unread_are_skipped():
    data = archive(MEMBERS, tarfile.PAX_FORMAT)
    names = [member.name for member in MemberStream(io.BytesIO(data))]
    assert names == [name.rstrip("/") for name, *_ in MEMBERS]


def test_an_archive_cut_between_members_has_not_ended():
    data = archive(MEMBERS[:3], tarfile.GNU_FORMAT)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        cut = tar.getmembers()[2].offset
    stream = MemberStream(io.BytesIO(data[:cut]))
    assert len(list(stream)) == 2 and not stream.ended


def resummed(data: bytes) -> bytes:
    """``data`` with its first header's checksum made right again."""
    header = data[:148] + b" " * 8 + data[156:512]
    return data[:148] + b"%06o\0 " % sum(header) + data[156:]


@pytest.mark.parametrize(
    ("damage", "fault"),
    [
        (lambda data: data[:700], "unexpected end of data"),  # inside the first content
        (lambda data: data[:1300], "unexpected end of data"),  # inside a header
        (lambda data: data[:148] + b"0000001\0" + data[156:], "bad checksum"),
        (lambda data: resummed(data[:124] + b"0000000009x\0" + data[136:]), "bad number"),
    ],
)
def test_a_damaged_archive_is_refused_as_tarfile_refuses_it(damage, fault):
    data = damage(archive(MEMBERS[1:3], tarfile.GNU_FORMAT))
    with pytest.raises(tarfile.ReadError, match=fault):
        stream = MemberStream(io.BytesIO(data))
        for member in stream:
            stream.read(member)
