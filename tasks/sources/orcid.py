"""ORCID: affiliations (where people studied and worked) from ORCID records, and the
2016 alumni-country table derived from ORCID.

What it is for
--------------
Affiliations give, per researcher, the countries of their education and employment with
years: the raw material for flows such as "educated in China, now employed elsewhere".
Three inputs share one schema (:data:`AFFILIATION_SCHEMA`):

- ``records``: one ORCID API v3.0 message (XML or JSON): a full record, an activities
  summary, an affiliation list (``/employments``), a single affiliation
  (``/employment/{put-code}``), a person section (no affiliations: an empty frame), or
  the compact ``record-summary`` message (no country or city in it: nulls).
- :func:`iter_affiliations_from_tarball`: the ORCID public data file (the *summaries*
  tarball), streamed record by record.
- ``alumni_current_country``: vfonov/sci_migration's 2016 table of MIT, Moscow State
  (MSU), St Petersburg State (SPbSU) and MIPT alumni with their ORCID country.

What counts as an affiliation
-----------------------------
The seven affiliation sections of API v3.0, all kept and told apart by
``affiliation_type``: ``education``, ``employment``, ``qualification``, ``distinction``,
``invited-position``, ``membership``, ``service``. Talent-flow metrics normally use
``education`` and ``employment`` (and perhaps ``qualification``); filter downstream.
Fundings, peer reviews (convening organisation), research resources (hosts) and works
also name organisations but are not a person's affiliation, so they are not read.
Person addresses (``address:country``, a self-declared country with no organisation and no
dates) are not exposed either: mixed into affiliations they would double-count people.
The ``orcid`` of an affiliation is the record's ``orcid-identifier/path``; failing that
(list and single-affiliation messages) the owner in the affiliation's own ``path``
attribute, then the message's ``path``, then ``source/source-orcid/path`` (who asserted
it; for single messages from a member API that is usually the owner).

Refreshing
----------
- Public data file: yearly, in October, CC0, on figshare ("ORCID Public Data File
  <year>"): ``ORCID_<year>_10_summaries.tar.gz`` holds one XML summary per record
  (``<top>/<xyz>/<orcid>.xml``, ``<xyz>`` the last three characters of the iD; ``<top>``
  is ``summaries`` or ``ORCID_<year>_10_summaries``), about 22 million records, 37 GiB
  compressed, ~650 GiB uncompressed: never extract it, stream it with
  :func:`iter_affiliations_from_tarball`. One core reads ~2,600 records/s of 11 KB
  synthetic records and ~1,500/s of a 37 KB record (bench/orcid_extract.py, 2-core dev
  machine), libxml2's parse being most of it: a full pass is 2-4 hours on one core, in
  ~70 MiB; ``workers=N`` parses in N processes while this one decompresses once
  (bench/RESULTS.md has the speed-up). The activities tarballs are not needed.
  ``talentflow orcid-census`` downloads it (``tasks.sources.large_file``) and reads it.
- Public API v3.0 (``https://pub.orcid.org/v3.0/<orcid>/record``): 12 requests/s, burst
  40, then HTTP 503; for a handful of records only, never for a census.
- The samples and the alumni table are frozen files (see the catalog).

What goes wrong
---------------
- Dates are partial: a year without month, no end date for a current position, no start
  date at all. Years are nullable integers; ``end_year`` null means "ongoing or unknown".
- Countries are ISO 3166-1 alpha-2 as ORCID stores them (``XK`` for Kosovo, ``NA`` for
  Namibia: never read a code column with NA-to-null conversion).
- The ``record-summary`` message truncates its lists (``summary:count`` 5, three
  employments listed) and has no organisation address; in the orcid-model sample its
  ``organization-name`` and ``role`` look swapped. Its schema spells ``invited-postition``;
  read as ``invited-position``.
- ``tarfile``'s own ``r|gz`` stream mode stops silently at a truncated download (it
  neither checks the gzip trailer nor requires the end-of-archive blocks), so the
  tarball is decompressed with :class:`gzip.GzipFile` (CRC and length checked) and the
  end-of-archive marker is required: a truncated file raises :class:`ReaderError` with
  the number of records read.
- A hostile or broken tarball: absolute or ``..`` member names, links and devices are
  refused (:class:`ReaderError`, fatal), as are XML records with a DOCTYPE that declares
  entities or external subsets (billion laughs, XXE); the XML parser never resolves
  entities, loads a DTD or touches the network.
- Malformed records (not well-formed XML, not UTF-8, not an ORCID record, an iD that
  differs from the member's file name, a non-numeric year or put-code, larger than
  :data:`MAX_RECORD_BYTES`) among 22 million are expected: they are skipped
  and counted in an :class:`ExtractionSummary` (the first few member names kept, a
  warning logged); more than ``max_malformed_share`` of them means the format changed
  and the extraction stops with :class:`ReaderError`.

Readers never write files; the extractor never extracts to disk.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import tarfile
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from lxml import etree

from talentflow.core.countries import harmonise
from talentflow.tasks.sources.formats import (
    Format,
    ReaderError,
    open_payload,
    parse_whole_numbers,
    read_text_csv,
    require_columns,
)
from talentflow.tasks.sources.ustar import MemberStream

logger = logging.getLogger(__name__)

#: The affiliation sections of the ORCID API v3.0, in the order a record lists them.
AFFILIATION_TYPES = (
    "distinction",
    "education",
    "employment",
    "invited-position",
    "membership",
    "qualification",
    "service",
)

AFFILIATION_SCHEMA: dict[str, pl.DataType] = {
    "orcid": pl.String(),
    "affiliation_type": pl.String(),
    "put_code": pl.Int64(),
    "organization": pl.String(),
    "role_title": pl.String(),
    "department": pl.String(),
    "country_iso2": pl.String(),
    "city": pl.String(),
    "start_year": pl.Int32(),
    "start_month": pl.Int32(),
    "end_year": pl.Int32(),
    "end_month": pl.Int32(),
}
AFFILIATION_COLUMNS = tuple(AFFILIATION_SCHEMA)

#: A record larger than this is skipped as malformed rather than read into memory. The
#: largest real summaries (people with thousands of works) are a few MiB.
MAX_RECORD_BYTES = 64 * 1024 * 1024
#: How many malformed member names an ExtractionSummary keeps.
EXAMPLES_KEPT = 5
ORCID_ID = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")

_NS = "http://www.orcid.org/ns/"
_COMMON = "{" + _NS + "common}"
_SUMMARY = "{" + _NS + "summary}"
_RECORD_ROOTS = frozenset({"{" + _NS + "record}record", _SUMMARY + "record-summary"})
# "{ns/employment}employment-summary" in lists and records, "{ns/employment}employment"
# as a single message; the summary message's own elements carry their type inside.
_AFFILIATION_TAGS: dict[str, str] = {
    **{f"{{{_NS}{kind}}}{kind}-summary": kind for kind in AFFILIATION_TYPES},
    **{f"{{{_NS}{kind}}}{kind}": kind for kind in AFFILIATION_TYPES},
    _SUMMARY + "employment": "employment",
    _SUMMARY + "professional-activity": "",
    _SUMMARY + "education-qualification": "",
}
_TYPE_SPELLINGS = {"invited-postition": "invited-position"}  # summary-3.0.xsd's typo
_JSON_SUMMARY_KEYS = {f"{kind}-summary": kind for kind in AFFILIATION_TYPES}

# DOCTYPE with an internal subset ("[") or an external identifier (SYSTEM/PUBLIC), or any
# entity declaration: how billion-laughs and XXE documents start. ORCID never sends one.
_DOCTYPE = re.compile(rb"<!DOCTYPE\s+[^\s\[>]+\s*([^\[>]*)([\[>]?)", re.IGNORECASE)
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)
_ENCODING_DECLARATION = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")


class HostileInputError(ReaderError):
    """Input built to attack the reader (entities, external DTDs, escaping tar members).

    Always fatal: a file that carries one is not a publisher's file."""


class MalformedRecordError(ReaderError):
    """One record that cannot be read (broken XML, not an ORCID record, a bad number)."""


# ---------------------------------------------------------------------------------------
# Hardened XML
# ---------------------------------------------------------------------------------------


def hardened_xml_parser() -> etree.XMLParser:
    """An lxml parser that resolves no entity, loads no DTD, never uses the network and
    keeps libxml2's size limits (``huge_tree=False``). Use it through :func:`_parse_xml`,
    which first makes sure the bytes are UTF-8 (so the scan of
    :func:`refuse_hostile_xml` sees what the parser sees). A parser is not thread-safe:
    one per thread or per call."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        collect_ids=False,
    )


def refuse_hostile_xml(data: bytes, where: str) -> None:
    """Raise :class:`HostileInputError` if ``data`` declares entities or a DTD subset."""
    if _ENTITY.search(data):
        raise HostileInputError(
            f"{where}: refused: the XML declares entities (<!ENTITY>), the shape of a "
            "billion-laughs or external-entity (XXE) attack; ORCID records never do"
        )
    doctype = _DOCTYPE.search(data)
    if doctype and (doctype.group(2) == b"[" or doctype.group(1).strip()):
        raise HostileInputError(
            f"{where}: refused: the XML has a DOCTYPE with an internal subset or an "
            "external DTD (SYSTEM/PUBLIC); ORCID records have no DOCTYPE"
        )


def _parse_xml(data: bytes, where: str, parser: etree.XMLParser) -> etree._Element:
    # Refuse UTF-16/32 and EBCDIC (libxml2 would detect and decode them, hiding a DOCTYPE
    # from the byte scan) and declarations of any other encoding: ORCID writes UTF-8.
    start = data[:200].removeprefix(b"\xef\xbb\xbf").lstrip()
    declared = _ENCODING_DECLARATION.match(start)
    if not start.startswith(b"<") or b"\x00" in start[:4]:
        raise MalformedRecordError(f"{where}: not UTF-8 XML (starts with {data[:8]!r})")
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii"):
        raise MalformedRecordError(
            f"{where}: declares encoding {declared.group(1).decode('ascii')!r}; ORCID "
            "records are UTF-8"
        )
    refuse_hostile_xml(data, where)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        raise MalformedRecordError(f"{where}: not well-formed XML: {error}") from None
    if root.getroottree().docinfo.internalDTD is not None:  # belt and braces
        raise HostileInputError(f"{where}: refused: the XML carries a DTD")
    return root


# ---------------------------------------------------------------------------------------
# One message -> affiliation rows
# ---------------------------------------------------------------------------------------

Row = tuple[Any, ...]


def _text(element: etree._Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    text = element.text.strip()
    return text or None


def _integer(text: str | None, where: str, field_name: str) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise MalformedRecordError(
            f"{where}: field {field_name}: {text!r} is not a whole number"
        ) from None


def _owner_in_path(path: Any) -> str | None:
    """``"/0000-0002-1825-0097/employment/12"`` -> ``"0000-0002-1825-0097"``."""
    if not isinstance(path, str):
        return None
    first = path.strip("/").split("/", 1)[0]
    return first if ORCID_ID.match(first) else None


_C_ORGANIZATION = _COMMON + "organization"
_C_NAME = _COMMON + "name"
_C_ADDRESS = _COMMON + "address"
_C_COUNTRY = _COMMON + "country"
_C_CITY = _COMMON + "city"
_C_ROLE = _COMMON + "role-title"
_C_DEPARTMENT = _COMMON + "department-name"
_C_START = _COMMON + "start-date"
_C_END = _COMMON + "end-date"
_C_YEAR = _COMMON + "year"
_C_MONTH = _COMMON + "month"
_C_SOURCE = _COMMON + "source"
_S_PUT_CODE = _SUMMARY + "put-code"
_S_TYPE = _SUMMARY + "type"
_S_ORGANIZATION = _SUMMARY + "organization-name"
_S_ROLE = _SUMMARY + "role"


def _xml_date(date: etree._Element, where: str, name: str) -> tuple[int | None, int | None]:
    year = month = None
    for part in date:
        if part.tag == _C_YEAR:
            year = _integer(_text(part), where, f"{name}/year")
        elif part.tag == _C_MONTH:
            month = _integer(_text(part), where, f"{name}/month")
    return year, month


def _xml_row(
    element: etree._Element, record_orcid: str | None, message_owner: str | None, where: str
) -> Row:
    """One affiliation element (``*-summary``, a single ``employment``, or a
    ``record-summary`` item). One pass over the children: this runs 50 million times on
    the public data file."""
    kind = _AFFILIATION_TAGS[element.tag]
    put_code = element.get("put-code")
    organization = role_title = department = country = city = source = None
    start: tuple[int | None, int | None] = (None, None)
    end: tuple[int | None, int | None] = (None, None)
    for child in element:
        tag = child.tag
        if tag == _C_ORGANIZATION:
            for part in child:
                if part.tag == _C_NAME:
                    organization = _text(part)
                elif part.tag == _C_ADDRESS:
                    for line in part:
                        if line.tag == _C_COUNTRY:
                            country = _text(line)
                        elif line.tag == _C_CITY:
                            city = _text(line)
        elif tag == _C_START:
            start = _xml_date(child, where, "start-date")
        elif tag == _C_END:
            end = _xml_date(child, where, "end-date")
        elif tag in (_C_ROLE, _S_ROLE):
            role_title = _text(child)
        elif tag == _C_DEPARTMENT:
            department = _text(child)
        elif tag == _C_SOURCE:
            source = child
        elif tag == _S_ORGANIZATION:  # the compact record-summary message from here on
            organization = _text(child)
        elif tag == _S_PUT_CODE:
            put_code = _text(child)
        elif tag == _S_TYPE and not kind:
            kind = _text(child) or ""
    orcid = record_orcid or _owner_in_path(element.get("path")) or message_owner
    if orcid is None and source is not None:
        orcid = _text(source.find(f"{_COMMON}source-orcid/{_COMMON}path"))
    return (
        orcid,
        _TYPE_SPELLINGS.get(kind, kind),
        _integer(put_code, where, "put-code"),
        organization,
        role_title,
        department,
        country,
        city,
        *start,
        *end,
    )


def _xml_rows(root: etree._Element, where: str) -> list[Row]:
    """Affiliation rows of any ORCID v3.0 XML message, in document order."""
    record_orcid = _text(root.find(f"{_COMMON}orcid-identifier/{_COMMON}path"))
    message_owner = _owner_in_path(root.get("path"))
    return [
        _xml_row(element, record_orcid, message_owner, where)
        for element in root.iter(*_AFFILIATION_TAGS)
    ]


def _json_value(node: Any) -> str | None:
    """ORCID JSON writes a text either bare or as ``{"value": ...}``."""
    if isinstance(node, dict):
        node = node.get("value")
    if node is None:
        return None
    text = str(node).strip()
    return text or None


def _json_date(node: Any, where: str, name: str) -> tuple[int | None, int | None]:
    if not isinstance(node, dict):
        return None, None
    return (
        _integer(_json_value(node.get("year")), where, f"{name}/year"),
        _integer(_json_value(node.get("month")), where, f"{name}/month"),
    )


def _json_row(item: dict, kind: str, owner: str | None, where: str) -> Row:
    organization = item.get("organization") or {}
    address = organization.get("address") or {}
    source_orcid = ((item.get("source") or {}).get("source-orcid") or {}).get("path")
    return (
        owner or _owner_in_path(item.get("path")) or source_orcid,
        kind,
        _integer(_json_value(item.get("put-code")), where, "put-code"),
        _json_value(organization.get("name")),
        _json_value(item.get("role-title")),
        _json_value(item.get("department-name")),
        _json_value(address.get("country")),
        _json_value(address.get("city")),
        *_json_date(item.get("start-date"), where, "start-date"),
        *_json_date(item.get("end-date"), where, "end-date"),
    )


def _json_rows(document: Any, where: str) -> list[Row]:
    """Affiliation rows of an ORCID v3.0 JSON message (record, activities, list, single)."""
    if not isinstance(document, dict):
        raise MalformedRecordError(f"{where}: the JSON is not an object: not an ORCID message")
    record_orcid = _json_value((document.get("orcid-identifier") or {}).get("path"))
    message_owner = _owner_in_path(document.get("path"))
    if "organization" in document and "put-code" in document:  # /employment/{put-code}
        parts = str(document.get("path") or "").strip("/").split("/")
        kind = parts[1] if len(parts) > 1 else ""
        if kind not in AFFILIATION_TYPES:
            raise MalformedRecordError(
                f"{where}: a single affiliation whose path {document.get('path')!r} does "
                "not name its type (/<orcid>/<type>/<put-code>)"
            )
        return [_json_row(document, kind, record_orcid or message_owner, where)]
    rows: list[Row] = []

    def visit(node: Any) -> None:  # depth is bounded by json.loads's own nesting limit
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _JSON_SUMMARY_KEYS and isinstance(value, dict):
                    owner = record_orcid or _owner_in_path(value.get("path")) or message_owner
                    rows.append(_json_row(value, _JSON_SUMMARY_KEYS[key], owner, where))
                elif isinstance(value, dict | list):
                    visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(document)
    return rows


def _frame(rows: list[Row]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=AFFILIATION_SCHEMA, orient="row")


def empty_affiliations() -> pl.DataFrame:
    """A frame with no rows and the affiliation schema."""
    return pl.DataFrame(schema=AFFILIATION_SCHEMA)


# ---------------------------------------------------------------------------------------
# records: one API v3.0 message
# ---------------------------------------------------------------------------------------


def parse_records(path: Path) -> pl.DataFrame:
    """Affiliations in one ORCID API v3.0 message, XML or JSON (told apart by content).

    Returns
    -------
    :data:`AFFILIATION_SCHEMA`, one row per affiliation in document order; an empty frame
    with the same schema for a message without affiliations (``person``). Country and
    city are as given in ``common:organization/common:address``; ``record-summary``
    messages have neither (nulls).
    """
    name, data = open_payload(path, "*")
    where = f"{path}" if name == path.name else f"{path} ({name})"
    return parse_message(data, where)


def parse_message(data: bytes, where: str) -> pl.DataFrame:
    """Affiliations in one ORCID API v3.0 message held in memory (a file's bytes, or a
    response of the public API): :func:`parse_records` without the file; ``where`` names
    it in errors."""
    body = data.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not body:
        raise ReaderError(f"{where}: the file is empty")
    if body[:1] in (b"{", b"["):
        try:
            document = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise ReaderError(f"{where}: not valid UTF-8 JSON: {error}") from None
        return _frame(_json_rows(document, where))
    if body[:1] != b"<":
        raise ReaderError(f"{where}: neither XML nor JSON (starts with {body[:20]!r})")
    if re.match(rb"<!doctype\s+html|<html", body, re.IGNORECASE):
        raise ReaderError(
            f"{where}: holds an HTML page, not an ORCID message (an error page saved under "
            "the data file's name?). Pull the source again."
        )
    root = _parse_xml(body, where, hardened_xml_parser())
    if not root.tag.startswith("{" + _NS):
        raise ReaderError(f"{where}: root element {root.tag!r} is not an ORCID v3.0 message")
    return _frame(_xml_rows(root, where))


def tidy_records(raw: pl.DataFrame) -> pl.DataFrame:
    """``orcid, affiliation_type, organization, country_iso3, geo_kind, start_year,
    end_year, role_title, department, put_code``.

    Every row is kept; an affiliation without a country (``record-summary`` messages) or
    with a code ORCID uses but ISO does not carries ``geo_kind == "unknown"``."""
    require_columns(raw, AFFILIATION_COLUMNS, "ORCID affiliations", "orcid_affiliations")
    return harmonise(raw, "country_iso2", scheme="iso2", source="ORCID").select(
        "orcid",
        "affiliation_type",
        "organization",
        "country_iso3",
        "geo_kind",
        "start_year",
        "end_year",
        "role_title",
        "department",
        "put_code",
    )


records = Format("orcid.records", parse_records, tidy_records)


# ---------------------------------------------------------------------------------------
# The public data file, streamed
# ---------------------------------------------------------------------------------------


@dataclass
class ExtractionSummary:
    """What one pass over a public data file met. Filled in while the pass runs, so a
    caller that stops early still sees how far it got."""

    path: Path
    records_read: int = 0
    records_with_affiliations: int = 0
    affiliations: int = 0
    malformed: int = 0
    malformed_examples: list[str] = field(default_factory=list)
    other_files: int = 0
    other_file_examples: list[str] = field(default_factory=list)
    last_member: str | None = None
    complete: bool = False

    def describe(self) -> str:
        text = (
            f"{self.path}: {self.records_read:,} record(s) read, "
            f"{self.records_with_affiliations:,} with affiliations, "
            f"{self.affiliations:,} affiliation(s); {self.malformed:,} malformed record(s) "
            f"skipped; {self.other_files:,} other file(s) skipped"
        )
        if self.malformed_examples:
            text += "; first malformed: " + "; ".join(self.malformed_examples)
        return text


def _is_summaries_directory(name: str) -> bool:
    return name == "summaries" or name.endswith("_summaries")


def _checked_member(member: tarfile.TarInfo, path: Path) -> bool:
    """True for a record to read, False for a member to skip; ReaderError for a member
    that no honest data file holds.

    Nothing is ever extracted, so tarfile's extraction filters (``filter="data"``, the
    default only from Python 3.14) do not apply; the same rules are enforced here so
    that a hostile archive is refused, not quietly half-read."""
    name = member.name
    where = f"{path}: member {name!r}"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise HostileInputError(f"{where}: refused: absolute member name")
    if ".." in re.split(r"[/\\]", name):
        raise HostileInputError(f"{where}: refused: the name climbs out of the archive ('..')")
    if member.issym() or member.islnk():
        raise HostileInputError(
            f"{where}: refused: a {'symbolic' if member.issym() else 'hard'} link "
            f"(to {member.linkname!r}); the data file holds regular files only"
        )
    if member.isdev():
        raise HostileInputError(f"{where}: refused: a device or FIFO member")
    if member.isdir():
        return False
    if not member.isreg():
        raise HostileInputError(f"{where}: refused: unsupported member type {member.type!r}")
    # Plain string splitting: pathlib interns every part (sys.intern), which over 22
    # million unique file names is a leak.
    parts = [part for part in name.split("/") if part not in ("", ".")]
    return len(parts) >= 2 and _is_summaries_directory(parts[0]) and name.endswith(".xml")


def _record_rows(data: bytes, where: str, member_orcid: str, parser: etree.XMLParser) -> list[Row]:
    root = _parse_xml(data, where, parser)
    if root.tag not in _RECORD_ROOTS:
        raise MalformedRecordError(f"{where}: root element {root.tag!r} is not an ORCID record")
    rows = _xml_rows(root, where)
    record_orcid = _text(root.find(f"{_COMMON}orcid-identifier/{_COMMON}path"))
    if record_orcid is None:
        raise MalformedRecordError(f"{where}: no common:orcid-identifier/common:path")
    if ORCID_ID.match(member_orcid) and record_orcid != member_orcid:
        raise MalformedRecordError(
            f"{where}: the record says {record_orcid!r} but is filed as {member_orcid!r}"
        )
    return rows


#: Records a worker parses per task when extraction runs in parallel: large enough that
#: sending them costs little beside parsing, small enough that memory stays flat.
CHUNK_RECORDS = 1_000
_WORKER_PARSER: etree.XMLParser | None = None


def _parse_members(
    path: str, members: list[tuple[str, bytes]]
) -> tuple[pl.DataFrame, list[tuple[int, str | None]]]:
    """In a worker process: parse each ``(member name, bytes)`` of one chunk. Returns the
    chunk's affiliations as one frame, in member order, and for each member in order how
    many rows it gave or its malformed-record fault. A frame, not rows, crosses back: it
    travels as Arrow buffers, where a list of row tuples cost the parent process as much
    to unpickle and turn into a frame as a worker spent parsing (bench/README.md).
    A hostile record raises :class:`HostileInputError` in the caller."""
    global _WORKER_PARSER
    if _WORKER_PARSER is None:
        _WORKER_PARSER = hardened_xml_parser()
    rows: list[Row] = []
    outcomes: list[tuple[int, str | None]] = []
    for name, data in members:
        where = f"{path}: member {name!r}"
        filed_as = name.rsplit("/", 1)[-1].removesuffix(".xml")
        try:
            found = _record_rows(data, where, filed_as, _WORKER_PARSER)
        except MalformedRecordError as error:
            outcomes.append((0, str(error).removeprefix(f"{path}: member ")))
            continue
        rows.extend(found)
        outcomes.append((len(found), None))
    return _frame(rows), outcomes


def iter_affiliations_from_tarball(
    path: Path,
    batch_size: int = 10_000,
    *,
    summary: ExtractionSummary | None = None,
    max_malformed_share: float = 0.01,
    workers: int = 1,
) -> Iterator[pl.DataFrame]:
    """Stream the affiliations of an ORCID public data file (summaries ``tar.gz``).

    Yields frames of :data:`AFFILIATION_SCHEMA` (apply :func:`tidy_records` to each) of at
    least ``batch_size`` rows, except the last; a record's affiliations are never split
    across frames. Memory holds one batch and one record, whatever the file's size.

    Parameters
    ----------
    path: the ``ORCID_<year>_10_summaries.tar.gz`` file, read in place.
    batch_size: affiliation rows per yielded frame (default 10,000).
    summary: an :class:`ExtractionSummary` to fill in (records read, malformed records
        skipped with the first few member names, other files skipped); pass one to read
        it after the pass, or while it runs.
    max_malformed_share: once 1,000 members were met, more malformed records than this
        share stops the pass with :class:`ReaderError` (the format has probably changed).
    workers: processes parsing records (default 1: in this process). With more, this
        process decompresses the file once and checks every member's name and type, and
        ``workers`` processes (spawned, not forked) parse chunks of
        :data:`CHUNK_RECORDS` records; at most two chunks per worker are in flight, so
        memory stays flat, and the frames come out in file order, the same as with one.

    Notes
    -----
    Only regular files ``<summaries dir>/.../*.xml`` are read; directories and other
    regular files (a README) are skipped. Hostile members and hostile XML raise
    :class:`HostileInputError` (a :class:`ReaderError`) naming the member; a truncated or
    corrupt archive raises :class:`ReaderError` naming the file and how far it got.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if not Path(path).is_file():
        raise ReaderError(f"{path}: no such file")
    summary = summary if summary is not None else ExtractionSummary(Path(path))
    parser = hardened_xml_parser()
    rows: list[Row] = []

    def skip_malformed(fault: str) -> None:
        summary.malformed += 1
        if len(summary.malformed_examples) < EXAMPLES_KEPT:
            summary.malformed_examples.append(fault)
        seen = summary.records_read + summary.malformed
        if seen >= 1000 and summary.malformed > max_malformed_share * seen:
            raise ReaderError(
                f"{path}: {summary.malformed:,} of the first {seen:,} records are malformed "
                f"(over {max_malformed_share:.1%}); has the format changed? "
                f"First faults: {'; '.join(summary.malformed_examples)}"
            )

    def counted(found: int, fault: str | None) -> bool:
        """Count one record (``found`` affiliations, or its fault) in the summary; False
        when it was malformed and is skipped."""
        if fault is not None:
            skip_malformed(fault)
            return False
        summary.records_read += 1
        if found:
            summary.records_with_affiliations += 1
            summary.affiliations += found
        return True

    def take(found: list[Row], fault: str | None) -> Iterator[pl.DataFrame]:
        nonlocal rows
        if not counted(len(found), fault):
            return
        rows.extend(found)
        if len(rows) >= batch_size:
            yield _frame(rows)
            rows = []

    pool = None
    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    in_flight: deque = deque()
    chunk: list[tuple[str, bytes]] = []
    pending: list[pl.DataFrame] = []  # slices of parsed chunks, not yet a whole batch
    pending_rows = 0

    def take_chunk(frame: pl.DataFrame, outcomes: list) -> Iterator[pl.DataFrame]:
        """A worker's chunk, record by record as :func:`take` would: the same counts and
        faults, and frames cut after the same records."""
        nonlocal pending_rows
        start = end = 0
        for count, fault in outcomes:
            if not counted(count, fault):
                continue
            end += count
            pending_rows += count
            if pending_rows >= batch_size:
                pending.append(frame.slice(start, end - start))
                start = end
                yield pl.concat(pending)
                pending.clear()
                pending_rows = 0
        if end > start:
            pending.append(frame.slice(start, end - start))

    def drain(keep: int) -> Iterator[pl.DataFrame]:
        while len(in_flight) > keep:
            yield from take_chunk(*in_flight.popleft().result())

    try:
        # Not tarfile.open(path, "r|gz"): its stream mode ignores a missing gzip trailer
        # and stops quietly at a truncated download. GzipFile checks CRC and length.
        with (
            Path(path).open("rb") as compressed,
            gzip.GzipFile(fileobj=compressed, mode="rb") as uncompressed,
        ):
            # tasks.sources.ustar, not tarfile's stream mode: its header walk was 80 % of
            # this process's time, and it keeps every TarInfo it met.
            members = MemberStream(uncompressed)
            for member in members:
                summary.last_member = member.name
                if not _checked_member(member, path):
                    if member.isreg():
                        summary.other_files += 1
                        if len(summary.other_file_examples) < EXAMPLES_KEPT:
                            summary.other_file_examples.append(member.name)
                    continue
                where = f"{path}: member {member.name!r}"
                if member.size > MAX_RECORD_BYTES:
                    skip_malformed(f"{member.name!r}: {member.size:,} bytes, over the limit")
                    continue
                data = members.read(member)
                if pool is not None:
                    chunk.append((member.name, data))
                    if len(chunk) >= CHUNK_RECORDS:
                        in_flight.append(pool.submit(_parse_members, str(path), chunk))
                        chunk = []
                        yield from drain(keep=2 * workers)
                    continue
                try:
                    filed_as = member.name.rsplit("/", 1)[-1].removesuffix(".xml")
                    found, fault = _record_rows(data, where, filed_as, parser), None
                except MalformedRecordError as error:
                    found, fault = [], str(error).removeprefix(f"{path}: member ")
                yield from take(found, fault)
            if chunk:
                in_flight.append(pool.submit(_parse_members, str(path), chunk))
            yield from drain(keep=0)
            if not members.ended:
                raise ReaderError(
                    f"{path}: the archive ends without its end-of-archive marker after "
                    f"{summary.records_read:,} record(s) (last member "
                    f"{summary.last_member!r}): truncated. Download the file again."
                )
            while uncompressed.read(1 << 20):  # the gzip trailer is checked at its end
                pass
    except (EOFError, OSError, tarfile.TarError, zlib.error) as error:
        raise ReaderError(
            f"{path}: truncated or corrupt tar.gz after {summary.records_read:,} record(s) "
            f"(last member {summary.last_member!r}): {error}. Download the file again."
        ) from None
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if summary.malformed and not summary.records_read:
        raise ReaderError(f"{path}: no record could be read. {summary.describe()}")
    if rows:
        yield _frame(rows)
    if pending:
        yield pl.concat(pending)
    summary.complete = True
    if summary.malformed:
        logger.warning("%s", summary.describe())
    else:
        logger.info("%s", summary.describe())


def affiliations_from_tarball(
    path: Path, *, summary: ExtractionSummary | None = None
) -> pl.DataFrame:
    """All affiliations of a public data file in one frame (for small files and tests;
    the real file has tens of millions: iterate :func:`iter_affiliations_from_tarball`)."""
    frames = list(iter_affiliations_from_tarball(path, summary=summary))
    return pl.concat(frames) if frames else empty_affiliations()


# ---------------------------------------------------------------------------------------
# alumni_current_country: vfonov/sci_migration, 2016
# ---------------------------------------------------------------------------------------

ALUMNI_COLUMNS = ("orcid_id", "code", "country")


def parse_alumni_current_country(path: Path) -> pl.DataFrame:
    """``orcid_id, code, country`` (+ ``graduated`` in the ``_with_grad_year`` file).

    All text as published (``country`` ``"NA"`` is Namibia: no NA-to-null conversion);
    ``graduated`` as Int32. iDs repeat (8,711 rows, 7,205 distinct iDs; 642 rows are
    exact duplicates of another): kept as published, deduplicate where people are
    counted."""
    frame = read_text_csv(path, required=ALUMNI_COLUMNS)
    if "graduated" in frame.columns:
        frame = parse_whole_numbers(frame, ["graduated"], path, first_line=2, dtype=pl.Int32)
    return frame


def tidy_alumni_current_country(raw: pl.DataFrame) -> pl.DataFrame:
    """``orcid, university_code, country_iso3, geo_kind, graduated_year`` (null when the
    file has no graduation year). Every row is kept."""
    require_columns(raw, ALUMNI_COLUMNS, "ORCID alumni table", "orcid_alumni")
    graduated = (
        pl.col("graduated").cast(pl.Int32)
        if "graduated" in raw.columns
        else pl.lit(None, dtype=pl.Int32)
    )
    return harmonise(raw, "country", scheme="iso2", source="ORCID alumni 2016").select(
        pl.col("orcid_id").alias("orcid"),
        pl.col("code").alias("university_code"),
        "country_iso3",
        "geo_kind",
        graduated.alias("graduated_year"),
    )


alumni_current_country = Format(
    "orcid.alumni_current_country", parse_alumni_current_country, tidy_alumni_current_country
)
