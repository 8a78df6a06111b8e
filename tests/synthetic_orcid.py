"""Synthetic ORCID public data files: invented people, real layout, for tests and benches.

It lives under ``tests/`` and is not part of the installed package: only the tests and
``bench/orcid_extract.py`` (which puts the repository root on ``sys.path``) import it.

What it is for: the real public data file (``ORCID_<year>_10_summaries.tar.gz``, yearly
in October, ~22 million records, 37 GiB) is too big for a test and must never be copied
into the repository. :func:`write_synthetic_data_file` writes a small ``tar.gz`` in the
same layout (``summaries/<xyz>/<orcid>.xml``, ``<xyz>`` the last three characters of the
iD) whose members follow the element structure and namespaces of the orcid-model
``record-3.0.xml`` sample (``record:record`` with ``person`` and
``activities:activities-summary``), so :mod:`tasks.sources.orcid` reads them with the same
code as real files. :func:`synthetic_affiliations` returns what a file written with the
same arguments holds, so a test can compare.

Everything here is synthetic and says so: organisations are called "Synthetic …", people
"synthetic-…", the file's README says so. The iDs carry a valid ISO 7064 11,2 check digit
but come from a block ORCID has not issued (``0000-1500-…`` upwards; ORCID issues
``0000-0001-5000-0007`` to ``0000-0003-5000-0001`` and ``0009-…``), so they name nobody.

What it must never do: read or copy real records, or hold a whole file in memory (members
are generated and written one at a time, so 100,000 records cost no more memory than 10).
"""

from __future__ import annotations

import io
import random
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import polars as pl

from talentflow.tasks.sources.orcid import (
    AFFILIATION_COLUMNS,
    AFFILIATION_SCHEMA,
    AFFILIATION_TYPES,
)

#: ISO 3166-1 alpha-2 codes drawn for affiliations, with weights: China and the US
#: dominate (as in ORCID), a long tail follows; NA (Namibia) and XK (Kosovo) test codes
#: that careless readers break.
SYNTHETIC_COUNTRY_WEIGHTS: dict[str, int] = {
    "CN": 20,
    "US": 20,
    "GB": 6,
    "DE": 6,
    "IN": 5,
    "JP": 4,
    "FR": 4,
    "CA": 4,
    "AU": 3,
    "KR": 3,
    "BR": 3,
    "IT": 3,
    "ES": 3,
    "NL": 2,
    "RU": 2,
    "HK": 2,
    "TW": 2,
    "SG": 2,
    "NA": 1,
    "XK": 1,
}
SYNTHETIC_CITIES: dict[str, tuple[str, ...]] = {
    "CN": ("Beijing", "Shanghai", "Wuhan", "Hangzhou", "Nanjing"),
    "US": ("Boston", "Palo Alto", "Ann Arbor", "Pittsburgh", "Austin"),
    "GB": ("London", "Oxford", "Manchester"),
    "DE": ("Berlin", "Munich", "Heidelberg"),
    "IN": ("Bengaluru", "Delhi", "Chennai"),
    "JP": ("Tokyo", "Kyoto"),
    "FR": ("Paris", "Lyon"),
    "CA": ("Toronto", "Montréal"),
    "AU": ("Sydney", "Melbourne"),
    "KR": ("Seoul", "Daejeon"),
    "BR": ("São Paulo", "Campinas"),
    "IT": ("Milan", "Rome"),
    "ES": ("Madrid", "Barcelona"),
    "NL": ("Delft", "Amsterdam"),
    "RU": ("Moscow", "Novosibirsk"),
    "HK": ("Hong Kong",),
    "TW": ("Taipei", "Hsinchu"),
    "SG": ("Singapore",),
    "NA": ("Windhoek",),
    "XK": ("Pristina",),
}
_KINDS = ("University", "Institute of Technology", "Academy of Sciences", "Research Centre")
# Organisation and department names that exercise escaping and non-ASCII text.
_AWKWARD_DEPARTMENTS = (
    'Synthetic R&D <Physics> "Lab"',
    "合成化学系 (synthetic)",
    "Département synthétique d'informatique",
)
_ROLES = ("PhD student", "Postdoctoral researcher", "Professor", "Engineer", "MSc", "BSc")

_NAMESPACES = (
    'xmlns:activities="http://www.orcid.org/ns/activities" '
    'xmlns:personal-details="http://www.orcid.org/ns/personal-details" '
    'xmlns:other-name="http://www.orcid.org/ns/other-name" '
    'xmlns:researcher-url="http://www.orcid.org/ns/researcher-url" '
    'xmlns:email="http://www.orcid.org/ns/email" xmlns:address="http://www.orcid.org/ns/address" '
    'xmlns:keyword="http://www.orcid.org/ns/keyword" '
    'xmlns:external-identifier="http://www.orcid.org/ns/external-identifier" '
    'xmlns:employment="http://www.orcid.org/ns/employment" '
    'xmlns:common="http://www.orcid.org/ns/common" '
    'xmlns:education="http://www.orcid.org/ns/education" '
    'xmlns:funding="http://www.orcid.org/ns/funding" '
    'xmlns:history="http://www.orcid.org/ns/history" xmlns:person="http://www.orcid.org/ns/person" '
    'xmlns:preferences="http://www.orcid.org/ns/preferences" '
    'xmlns:record="http://www.orcid.org/ns/record" '
    'xmlns:peer-review="http://www.orcid.org/ns/peer-review" '
    'xmlns:work="http://www.orcid.org/ns/work" '
    'xmlns:distinction="http://www.orcid.org/ns/distinction" '
    'xmlns:invited-position="http://www.orcid.org/ns/invited-position" '
    'xmlns:membership="http://www.orcid.org/ns/membership" '
    'xmlns:qualification="http://www.orcid.org/ns/qualification" '
    'xmlns:service="http://www.orcid.org/ns/service" '
    'xmlns:research-resource="http://www.orcid.org/ns/research-resource"'
)
_DATE = "2024-10-01T12:00:00.000Z"


def orcid_check_digit(base_digits: str) -> str:
    """The ISO 7064 11,2 check character of the first 15 digits of an ORCID iD."""
    total = 0
    for digit in base_digits:
        total = (total + int(digit)) * 2
    result = (12 - total % 11) % 11
    return "X" if result == 10 else str(result)


def synthetic_orcid(number: int) -> str:
    """The ORCID iD (with check digit) of a 15-digit number, ``0000-000d-dddd-dddc``."""
    digits = f"{number:015d}"
    full = digits + orcid_check_digit(digits)
    return "-".join(full[i : i + 4] for i in range(0, 16, 4))


@dataclass(frozen=True)
class SyntheticRecord:
    """One invented ORCID record: its iD, its affiliations (dicts keyed by
    :data:`~tasks.sources.orcid.AFFILIATION_COLUMNS`, in document order), and the parts
    that are not affiliations but sit in the same XML (a person address, a funding's
    organisation, works) so that a reader that picks them up by mistake is caught."""

    orcid: str
    affiliations: tuple[dict, ...]
    address_country: str | None = None
    funding_country: str | None = None
    works: int = 0


def _date(tag: str, year: int | None, month: int | None) -> str:
    if year is None:
        return ""
    month_xml = f"<common:month>{month:02d}</common:month>" if month is not None else ""
    return f"<common:{tag}><common:year>{year}</common:year>{month_xml}</common:{tag}>"


def _source(orcid: str) -> str:
    return (
        "<common:source><common:source-orcid>"
        f"<common:uri>https://orcid.org/{orcid}</common:uri>"
        f"<common:path>{orcid}</common:path><common:host>orcid.org</common:host>"
        "</common:source-orcid><common:source-name>synthetic-person</common:source-name>"
        "</common:source>"
    )


def _organization(name: str | None, city: str | None, country: str | None) -> str:
    city_xml = f"<common:city>{escape(city)}</common:city>" if city else ""
    country_xml = f"<common:country>{country}</common:country>" if country else ""
    return (
        f"<common:organization><common:name>{escape(name or '')}</common:name>"
        f"<common:address>{city_xml}{country_xml}</common:address>"
        "<common:disambiguated-organization>"
        "<common:disambiguated-organization-identifier>synthetic-org"
        "</common:disambiguated-organization-identifier>"
        "<common:disambiguation-source>RINGGOLD</common:disambiguation-source>"
        "</common:disambiguated-organization></common:organization>"
    )


def _affiliation_xml(orcid: str, item: dict) -> str:
    kind = item["affiliation_type"]
    put_code = item["put_code"]
    department = item["department"]
    role = item["role_title"]
    return (
        f'<{kind}:{kind}-summary put-code="{put_code}" path="/{orcid}/{kind}/{put_code}" '
        'visibility="public" display-index="1">'
        f"<common:created-date>{_DATE}</common:created-date>"
        f"<common:last-modified-date>{_DATE}</common:last-modified-date>"
        f"{_source(orcid)}"
        + (
            f"<common:department-name>{escape(department)}</common:department-name>"
            if department
            else ""
        )
        + (f"<common:role-title>{escape(role)}</common:role-title>" if role else "")
        + _date("start-date", item["start_year"], item["start_month"])
        + _date("end-date", item["end_year"], item["end_month"])
        + _organization(item["organization"], item["city"], item["country_iso2"])
        + f"</{kind}:{kind}-summary>"
    )


def _section(orcid: str, kind: str, items: Sequence[dict]) -> str:
    groups = "".join(
        "<activities:affiliation-group>"
        f"<common:last-modified-date>{_DATE}</common:last-modified-date>"
        f"{_affiliation_xml(orcid, item)}</activities:affiliation-group>"
        for item in items
    )
    return (
        f'<activities:{kind}s path="/{orcid}/{kind}s">'
        f"<common:last-modified-date>{_DATE}</common:last-modified-date>{groups}"
        f"</activities:{kind}s>"
    )


def _funding(orcid: str, country: str) -> str:
    return (
        f'<activities:fundings path="/{orcid}/fundings"><activities:group>'
        f"<common:last-modified-date>{_DATE}</common:last-modified-date>"
        "<common:external-ids><common:external-id>"
        "<common:external-id-type>grant_number</common:external-id-type>"
        "<common:external-id-value>synthetic-grant</common:external-id-value>"
        "</common:external-id></common:external-ids>"
        f'<funding:funding-summary put-code="1" path="/{orcid}/funding/1" visibility="public">'
        f"<common:created-date>{_DATE}</common:created-date>"
        f"<common:last-modified-date>{_DATE}</common:last-modified-date>{_source(orcid)}"
        "<funding:title><common:title>Synthetic grant</common:title></funding:title>"
        "<funding:type>grant</funding:type>"
        + _date("start-date", 2015, 1)
        + _organization("Synthetic Science Foundation (funder, not an affiliation)", None, country)
        + "</funding:funding-summary></activities:group></activities:fundings>"
    )


def _works(orcid: str, count: int) -> str:
    groups = "".join(
        "<activities:group>"
        f"<common:last-modified-date>{_DATE}</common:last-modified-date>"
        "<common:external-ids><common:external-id>"
        "<common:external-id-type>doi</common:external-id-type>"
        f"<common:external-id-value>10.5555/synthetic.{orcid}.{n}</common:external-id-value>"
        f"<common:external-id-url>https://doi.org/10.5555/synthetic.{orcid}.{n}"
        "</common:external-id-url>"
        "<common:external-id-relationship>self</common:external-id-relationship>"
        "</common:external-id></common:external-ids>"
        f'<work:work-summary put-code="{1000 + n}" path="/{orcid}/work/{1000 + n}" '
        'visibility="public" display-index="0">'
        f"<common:created-date>{_DATE}</common:created-date>"
        f"<common:last-modified-date>{_DATE}</common:last-modified-date>"
        "<common:source><common:source-client-id>"
        "<common:uri>https://orcid.org/client/APP-SYNTHETIC0000001</common:uri>"
        "<common:path>APP-SYNTHETIC0000001</common:path><common:host>orcid.org</common:host>"
        "</common:source-client-id><common:source-name>Synthetic Crossref</common:source-name>"
        "</common:source>"
        f"<work:title><common:title>Synthetic paper {n}</common:title></work:title>"
        "<work:type>journal-article</work:type>"
        f"<common:publication-date><common:year>{2000 + n % 25}</common:year>"
        "</common:publication-date>"
        "<work:journal-title>Journal of Synthetic Results</work:journal-title>"
        "</work:work-summary></activities:group>"
        for n in range(count)
    )
    return f'<activities:works path="/{orcid}/works">{groups}</activities:works>'


def render_synthetic_record(record: SyntheticRecord) -> bytes:
    """The record as ``record:record`` XML, structured like orcid-model's record-3.0.xml.

    Affiliations are written in the sections ORCID uses, in its section order; within a
    section, in the order given."""
    orcid = record.orcid
    address = ""
    if record.address_country:
        address = (
            '<address:address visibility="public" put-code="1" display-index="1">'
            f"<common:created-date>{_DATE}</common:created-date>"
            f"<common:last-modified-date>{_DATE}</common:last-modified-date>{_source(orcid)}"
            f"<address:country>{record.address_country}</address:country></address:address>"
        )
    sections = []
    for kind in AFFILIATION_TYPES:
        items = [a for a in record.affiliations if a["affiliation_type"] == kind]
        if items:
            sections.append(_section(orcid, kind, items))
        if kind == "employment" and record.funding_country:  # fundings follow employments
            sections.append(_funding(orcid, record.funding_country))
    if record.works:
        sections.append(_works(orcid, record.works))
    text = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<record:record {_NAMESPACES} path="/{orcid}">'
        "<common:orcid-identifier>"
        f"<common:uri>https://orcid.org/{orcid}</common:uri>"
        f"<common:path>{orcid}</common:path><common:host>orcid.org</common:host>"
        "</common:orcid-identifier>"
        "<preferences:preferences><preferences:locale>en</preferences:locale>"
        "</preferences:preferences>"
        '<history:history visibility="public">'
        "<history:creation-method>Member-referred</history:creation-method>"
        f"<history:submission-date>{_DATE}</history:submission-date>"
        f"<common:last-modified-date>{_DATE}</common:last-modified-date>"
        "<history:claimed>true</history:claimed>"
        "<history:verified-email>true</history:verified-email>"
        "<history:verified-primary-email>true</history:verified-primary-email>"
        "</history:history>"
        f'<person:person path="/{orcid}/person">'
        f"<common:last-modified-date>{_DATE}</common:last-modified-date>"
        f'<person:name visibility="public" path="/{orcid}/personal-details">'
        f"<common:last-modified-date>{_DATE}</common:last-modified-date>"
        "<personal-details:given-names>synthetic-given</personal-details:given-names>"
        f"<personal-details:family-name>synthetic-{orcid[-4:]}</personal-details:family-name>"
        "</person:name>"
        f'<other-name:other-names path="/{orcid}/other-names"/>'
        f'<researcher-url:researcher-urls path="/{orcid}/researcher-urls"/>'
        f'<email:emails path="/{orcid}/email"/>'
        f'<address:addresses path="/{orcid}/address">{address}</address:addresses>'
        f'<keyword:keywords path="/{orcid}/keywords"/>'
        f'<external-identifier:external-identifiers path="/{orcid}/external-identifiers"/>'
        "</person:person>"
        f'<activities:activities-summary path="/{orcid}/activities">'
        f"<common:last-modified-date>{_DATE}</common:last-modified-date>"
        + "".join(sections)
        + "</activities:activities-summary></record:record>\n"
    )
    return text.encode("utf-8")


class _SyntheticPeople:
    """Draws synthetic records from one seeded random stream, in a fixed order."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.countries = list(SYNTHETIC_COUNTRY_WEIGHTS)
        self.weights = list(SYNTHETIC_COUNTRY_WEIGHTS.values())

    def country(self) -> str:
        return self.random.choices(self.countries, self.weights)[0]

    def affiliation(
        self,
        kind: str,
        put_code: int,
        country: str | None = None,
        start_year: int | None = None,
        end_year: int | None = None,
        ongoing: bool | None = None,
    ) -> dict:
        draw = self.random
        country = country or self.country()
        city = draw.choice(SYNTHETIC_CITIES[country])
        if start_year is None and draw.random() < 0.04:  # no dates at all
            start = end = None
        else:
            start = start_year if start_year is not None else draw.randint(1965, 2024)
            if ongoing is None:
                ongoing = draw.random() < 0.3
            end = None if ongoing else (end_year or min(start + draw.randint(0, 8), 2025))
        awkward = draw.random() < 0.05
        return {
            "affiliation_type": kind,
            "put_code": put_code,
            "organization": f"Synthetic {draw.choice(_KINDS)} of {city}",
            "role_title": None if draw.random() < 0.1 else draw.choice(_ROLES),
            "department": (
                draw.choice(_AWKWARD_DEPARTMENTS)
                if awkward
                else (None if draw.random() < 0.3 else f"Synthetic Department {put_code}")
            ),
            "country_iso2": country,
            "city": city,
            "start_year": start,
            "start_month": None if start is None or draw.random() < 0.2 else draw.randint(1, 12),
            "end_year": end,
            "end_month": None if end is None or draw.random() < 0.2 else draw.randint(1, 12),
        }

    def record(self, index: int) -> SyntheticRecord:
        draw = self.random
        # Disjoint ranges per index keep the iDs unique without remembering them.
        orcid = synthetic_orcid(15_000_000_000 + index * 99_991 + draw.randrange(99_991))
        shape = draw.random()
        put_codes = iter(range(draw.randint(1, 900) * 100, 10**9))
        items: list[dict] = []
        if shape < 0.15:
            pass  # a record with no affiliation at all, like most real ORCID records
        elif shape < 0.27:  # educated in China, then employed in China
            graduated = draw.randint(1990, 2020)
            items.append(
                self.affiliation(
                    "education", next(put_codes), "CN", graduated - 4, graduated, ongoing=False
                )
            )
            items.append(
                self.affiliation(
                    "employment",
                    next(put_codes),
                    "CN",
                    graduated + draw.randint(0, 1),
                    ongoing=draw.random() < 0.6,
                )
            )
        else:
            for kind, counts in (("education", (0, 1, 1, 2, 3)), ("employment", (0, 1, 1, 2, 3))):
                for _ in range(draw.choice(counts)):
                    items.append(self.affiliation(kind, next(put_codes)))
            for kind in (
                "distinction",
                "invited-position",
                "membership",
                "qualification",
                "service",
            ):
                if draw.random() < 0.05:
                    items.append(self.affiliation(kind, next(put_codes)))
        order = {kind: n for n, kind in enumerate(AFFILIATION_TYPES)}
        items.sort(key=lambda item: order[item["affiliation_type"]])  # stable within a kind
        affiliations = tuple({"orcid": orcid, **item} for item in items)
        return SyntheticRecord(
            orcid=orcid,
            affiliations=affiliations,
            address_country=self.country() if draw.random() < 0.5 else None,
            funding_country=self.country() if draw.random() < 0.1 else None,
            works=draw.choice((0, 0, 0, 1, 2, 5, 12)),
        )


def iter_synthetic_records(records: int, seed: int = 0) -> Iterator[SyntheticRecord]:
    """``records`` synthetic records, the same ones for the same ``seed``."""
    people = _SyntheticPeople(seed)
    for index in range(records):
        yield people.record(index)


def _member(name: str, data: bytes) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1_727_740_800  # 2024-10-01, fixed so that files are reproducible
    info.mode = 0o644
    return info, io.BytesIO(data)


def _malformed_synthetic_record(record: SyntheticRecord) -> bytes:
    """A record cut off mid-element, as a broken write would leave it."""
    data = render_synthetic_record(record)
    return data[: len(data) // 2]


def write_synthetic_data_file(
    path: Path,
    records: int,
    seed: int = 0,
    *,
    top_directory: str = "summaries",
    malformed_records: int = 0,
    readme: bool = True,
    compresslevel: int = 6,
) -> Path:
    """Write a synthetic ORCID public data file (summaries ``tar.gz``) at ``path``.

    Parameters
    ----------
    path: the file to write (name it ``*synthetic*``).
    records: how many well-formed records (``<top_directory>/<xyz>/<orcid>.xml``).
    seed: the random seed; the same arguments write the same records.
    top_directory: ``summaries`` (default), or ``ORCID_2024_10_summaries`` as the 2023 and
        2024 files name it.
    malformed_records: extra members that are cut-off XML, spread evenly among the
        records; a reader should skip and count them. They are not in
        :func:`synthetic_affiliations`.
    readme: add a top-level ``README_synthetic.txt``, a regular file that is not a record.
    compresslevel: gzip level (1 is fastest; tests use it).

    Members are generated and written one at a time; memory does not grow with
    ``records``. Returns ``path``.
    """
    every = records // malformed_records if malformed_records else 0
    broken = _SyntheticPeople(seed + 1_000_003) if malformed_records else None
    written_malformed = 0
    with tarfile.open(path, "w:gz", compresslevel=compresslevel, format=tarfile.PAX_FORMAT) as tar:
        if readme:
            tar.addfile(
                *_member(
                    "README_synthetic.txt",
                    b"Synthetic ORCID public data file for talentflow tests: invented people "
                    b"and organisations in the layout of ORCID_<year>_10_summaries.tar.gz.\n",
                )
            )
        directory = tarfile.TarInfo(top_directory)
        directory.type = tarfile.DIRTYPE
        directory.mode = 0o755
        tar.addfile(directory)
        for index, record in enumerate(iter_synthetic_records(records, seed)):
            name = f"{top_directory}/{record.orcid[-3:]}/{record.orcid}.xml"
            tar.addfile(*_member(name, render_synthetic_record(record)))
            if broken and written_malformed < malformed_records and (index + 1) % every == 0:
                bad = broken.record(records + written_malformed)
                bad_name = f"{top_directory}/{bad.orcid[-3:]}/{bad.orcid}.xml"
                tar.addfile(*_member(bad_name, _malformed_synthetic_record(bad)))
                written_malformed += 1
            # TarFile keeps every TarInfo it wrote in tar.members; nothing reads them here.
            tar.members.clear()
    return path


def synthetic_affiliations(records: int, seed: int = 0) -> pl.DataFrame:
    """The affiliations that :func:`write_synthetic_data_file` writes for these arguments,
    in file order, as :data:`~tasks.sources.orcid.AFFILIATION_SCHEMA`."""
    rows = [
        tuple(item[column] for column in AFFILIATION_COLUMNS)
        for record in iter_synthetic_records(records, seed)
        for item in record.affiliations
    ]
    return pl.DataFrame(rows, schema=AFFILIATION_SCHEMA, orient="row")


def synthetic_record_of_affiliations(orcid: str, affiliations: pl.DataFrame) -> bytes:
    """One synthetic ``record:record`` XML holding the given affiliation rows (columns of
    :data:`~tasks.sources.orcid.AFFILIATION_SCHEMA`): to check that another serialisation
    of the same affiliations (JSON) reads the same."""
    items = tuple(row for row in affiliations.iter_rows(named=True))
    return render_synthetic_record(SyntheticRecord(orcid=orcid, affiliations=items))
