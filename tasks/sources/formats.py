"""What every publisher format shares: the Format contract and the parsing helpers.

A format has two plain functions:

``parse(path) -> pl.DataFrame``
    The raw snapshot as the publisher laid it out: the publisher's own column names (so a
    Great Expectations suite can check the layout exactly as published), with only what
    the format forces done: decompressing, stripping a BOM and preamble lines, dropping
    the empty column of a trailing comma, turning wide year columns into rows, parsing
    numbers.
``tidy(raw) -> pl.DataFrame``
    talentflow's documented schema: ``country_iso3`` (via core.countries), ``year`` as an
    integer, value columns named with their units, dimension columns.

Formats never write. Malformed input raises :class:`ReaderError` naming the file, the
line or field, and the fault.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

YEAR_COLUMN = re.compile(r"^\d{4}$")


class ReaderError(ValueError):
    """A raw file that cannot be read as the format it claims to be."""


#: Bounded decompression (every gzip and zip talentflow opens): a payload may expand to at
#: most MAX_PAYLOAD_BYTES, and beyond RATIO_FREE_BYTES to at most MAX_RATIO times its
#: compressed size. Real sources expand 3-30 times (CSV, XML); a decompression bomb
#: expands a thousand times and more. Checked while decompressing, so a bomb is refused
#: after RATIO_FREE_BYTES, not after it filled the memory.
MAX_PAYLOAD_BYTES = 2 * 1024**3
MAX_RATIO = 100
RATIO_FREE_BYTES = 64 * 1024**2


def expansion_fault(expanded: int, compressed: int) -> str | None:
    """Why ``compressed`` bytes expanding to (at least) ``expanded`` is refused, or None."""
    if expanded > MAX_PAYLOAD_BYTES:
        return f"expands beyond {MAX_PAYLOAD_BYTES:,} bytes, the most talentflow opens"
    if expanded > RATIO_FREE_BYTES and expanded > MAX_RATIO * compressed:
        return (
            f"{compressed:,} compressed bytes expand to more than {expanded:,} (over "
            f"{MAX_RATIO}:1): a decompression bomb, not data"
        )
    return None


def bounded_read(stream: io.BufferedIOBase, compressed: int, where: str) -> bytes:
    """Everything ``stream`` (a decompressing reader) yields, refused with ReaderError as
    soon as :func:`expansion_fault` finds a fault."""
    parts, expanded = [], 0
    while block := stream.read(1 << 20):
        expanded += len(block)
        fault = expansion_fault(expanded, compressed)
        if fault is not None:
            raise ReaderError(f"{where}: refused: {fault}")
        parts.append(block)
    return b"".join(parts)


def open_payload(path: Path, member_pattern: str = "*.csv") -> tuple[str, bytes]:
    """Return (name, bytes) of the data file: the file itself, or its gunzipped
    content, or the member of a zip download that matches ``member_pattern``."""
    data = path.read_bytes()
    if not data.removeprefix(b"\xef\xbb\xbf").strip():
        raise ReaderError(f"{path}: the file is empty")
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
                return path.name.removesuffix(".gz"), bounded_read(stream, len(data), str(path))
        except (OSError, EOFError) as error:
            raise ReaderError(f"{path}: truncated or corrupt gzip: {error}") from error
    if data[:4] == b"PK\x03\x04":
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            names = [
                n
                for n in archive.namelist()
                if Path(n).match(member_pattern) and not Path(n).name.startswith("Metadata_")
            ]
            if len(names) != 1:
                raise ReaderError(
                    f"{path}: expected one member matching {member_pattern!r} in the zip, "
                    f"found {archive.namelist()}"
                )
            with archive.open(names[0]) as member:
                where = f"{path} ({names[0]})"
                return names[0], bounded_read(
                    member, archive.getinfo(names[0]).compress_size, where
                )
        except zipfile.BadZipFile as error:
            raise ReaderError(f"{path}: truncated or corrupt zip: {error}") from error
    return path.name, data


def decode(path: Path, data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ReaderError(f"{path}: not UTF-8 text at byte {error.start}") from error
    if text.lstrip()[:15].lower().startswith(("<!doctype", "<html")):
        raise ReaderError(
            f"{path}: holds an HTML page, not data (an error page saved under the data "
            "file's name?). Pull the source again."
        )
    return text


def parse_numbers(
    frame: pl.DataFrame, columns: list[str], path: Path, *, first_line: int
) -> pl.DataFrame:
    """Cast text columns to Float64; empty text becomes null, anything else that is not a
    number raises ReaderError naming the line and column. ``first_line`` is the file
    line of the frame's first row (1-based), so the message points into the file."""
    cleaned = frame.with_columns(
        pl.col(c).str.strip_chars().replace("", None).alias(c) for c in columns
    )
    parsed = cleaned.with_columns(pl.col(c).cast(pl.Float64, strict=False) for c in columns)
    for column in columns:
        bad = cleaned.with_row_index("_row").filter(
            pl.col(column).is_not_null() & parsed[column].is_null()
        )
        if bad.height:
            row = bad.row(0, named=True)
            raise ReaderError(
                f"{path}: line {first_line + row['_row']}, column {column!r}: "
                f"{row[column]!r} is not a number ({bad.height} such cell(s))"
            )
    return parsed


def read_text_csv(path: Path, *, required: Sequence[str] = ()) -> pl.DataFrame:
    """The CSV at ``path`` (plain, gzipped or zipped) as text columns, header names as
    published. Empty cells become null; nothing else does (``NA`` is Namibia's ISO2 code,
    and a UIS magnitude code).

    Raises :class:`ReaderError` for a row whose field count differs from the header's (a
    truncated download or a hand-edited copy), naming the line, and for a header lacking
    any of ``required`` (the columns the caller must type), naming them."""
    _, data = open_payload(path, "*.csv")
    text = decode(path, data)
    check_field_counts(path, text)
    try:
        frame = pl.read_csv(io.StringIO(text), infer_schema=False)
    except pl.exceptions.PolarsError as error:
        raise ReaderError(f"{path}: cannot parse as CSV: {error}") from error
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ReaderError(
            f"{path}: no column(s) {missing} in the header {frame.columns}; the publisher "
            "changed its layout, or this is another file"
        )
    return frame


def check_field_counts(path: Path, text: str) -> None:
    """Refuse a CSV whose rows do not all have the header's number of fields. Polars
    would pad a short last row with nulls, hiding a truncated download."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        if header is None:
            raise ReaderError(f"{path}: no header line")
        for row in reader:
            if row and len(row) != len(header):
                raise ReaderError(
                    f"{path}: line {reader.line_num} has {len(row)} field(s), the header has "
                    f"{len(header)}: a truncated or corrupted file? Pull it again."
                )
    except csv.Error as error:
        raise ReaderError(f"{path}: line {reader.line_num}: malformed CSV: {error}") from error


def parse_whole_numbers(
    frame: pl.DataFrame,
    columns: Sequence[str],
    path: Path,
    *,
    first_line: int,
    dtype: type[pl.DataType] = pl.Int64,
) -> pl.DataFrame:
    """Cast text columns holding whole numbers (``2003`` or ``2003.0``) to ``dtype``.
    Empty cells become null; text that is not a number, or a number with a fraction
    (``2003.5``), raises ReaderError naming the line and column."""
    parsed = parse_numbers(frame, list(columns), path, first_line=first_line)
    for column in columns:
        fractional = parsed.with_row_index("_row").filter(
            pl.col(column).is_not_null()
            & (~pl.col(column).is_finite() | (pl.col(column) != pl.col(column).round(0)))
        )
        if fractional.height:
            row = fractional.row(0, named=True)["_row"]
            raise ReaderError(
                f"{path}: line {first_line + row}, column {column!r}: "
                f"{frame[column][row]!r} is not a whole number ({fractional.height} such "
                "cell(s))"
            )
    return parsed.with_columns(pl.col(c).cast(dtype) for c in columns)


def require_columns(
    raw: pl.DataFrame, columns: Sequence[str], what: str, suite: str | None = None
) -> None:
    """Refuse to tidy a parsed table that lacks a column tidy reads, naming it. (parse
    keeps unknown layouts so that the suite can report them; tidy cannot guess.)"""
    missing = [column for column in columns if column not in raw.columns]
    if missing:
        check = f"its {suite!r} validation report" if suite else "its validation report"
        raise ReaderError(
            f"{what}: no column(s) {missing} (the parsed table has {raw.columns}); the "
            f"publisher renamed or dropped them: {check} names the layout change."
        )


@dataclass(frozen=True)
class Format:
    """A publisher format: how to parse its files and how to tidy what was parsed."""

    name: str
    parse: Callable[[Path], pl.DataFrame]
    tidy: Callable[[pl.DataFrame], pl.DataFrame]


def resolve_format(reader: str) -> Format:
    """The Format named ``"<module>.<format>"`` in ``tasks.sources`` (as the catalog
    names it), e.g. ``"world_bank.bulk_indicator"``."""
    import importlib

    module_name, _, attribute = reader.partition(".")
    try:
        found = getattr(
            importlib.import_module(f"talentflow.tasks.sources.{module_name}"), attribute
        )
    except (ImportError, AttributeError) as error:
        raise LookupError(f"no reader {reader!r} in tasks.sources: {error}") from error
    if not isinstance(found, Format):
        raise LookupError(f"talentflow.tasks.sources.{reader} is not a Format")
    return found
