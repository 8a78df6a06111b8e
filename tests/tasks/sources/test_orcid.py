"""ORCID readers on the real mirror files (counts and values read by hand from the files
with grep), the streaming extractor on synthetic public data files, and hostile input.

Counts by hand (``grep -cE '<(distinction|education|employment|invited-position|membership|
qualification|service):[a-z-]+-summary' <file>``, plus the two ``-full`` single messages
and the ``summary:employment`` / ``summary:professional-activity`` items):
record-3.0.xml 7 (one per affiliation type), activities-3.0.xml 7, employments-3.0.xml 2,
educations-3.0.xml 2, employment-full-3.0.xml 1, education-full-3.0.xml 1,
person-3.0.xml 0, summary-3.0.xml 4 (3 employments, 1 distinction). record-full-3.0.json
has 10 ``*-summary`` objects (3 educations, 2 services, one of each other type).
"""

from __future__ import annotations

import gzip
import io
import tarfile
import tracemalloc
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from lxml import etree

from talentflow.tasks.sources import orcid
from talentflow.tasks.sources.catalog import CATALOG
from talentflow.tasks.sources.formats import ReaderError, resolve_format
from talentflow.tasks.sources.orcid import (
    AFFILIATION_SCHEMA,
    ExtractionSummary,
    HostileInputError,
    affiliations_from_tarball,
    alumni_current_country,
    hardened_xml_parser,
    iter_affiliations_from_tarball,
    parse_alumni_current_country,
    parse_records,
    records,
    tidy_records,
)
from tests.synthetic_orcid import (
    iter_synthetic_records,
    orcid_check_digit,
    render_synthetic_record,
    synthetic_affiliations,
    synthetic_record_of_affiliations,
    write_synthetic_data_file,
)

SAMPLES = "orcid/samples"
ALUMNI = "orcid/migration/vfonov_orcid2016_alumni_current_country.csv"
ALUMNI_GRAD = "orcid/migration/vfonov_orcid2016_alumni_current_country_with_grad_year.csv"
SAMPLE_ORCID = "8888-8888-8888-8880"
JSON_ORCID = "0000-0002-7319-2192"
ALL_TYPES = {
    "distinction",
    "education",
    "employment",
    "invited-position",
    "membership",
    "qualification",
    "service",
}

# file -> (affiliations, the orcid they belong to), counted by hand (module docstring).
SAMPLE_COUNTS = {
    "record-3.0.xml": (7, SAMPLE_ORCID),
    "record-full-3.0.json": (10, JSON_ORCID),
    "activities-3.0.xml": (7, SAMPLE_ORCID),
    # The list's items carry their own path /8888-8888-8888-8888/employment/1, which wins
    # over the list's /8888-8888-8888-8880/employments (placeholder values disagree).
    "employments-3.0.xml": (2, "8888-8888-8888-8888"),
    "educations-3.0.xml": (2, "8888-8888-8888-8888"),
    "employment-full-3.0.xml": (1, SAMPLE_ORCID),  # from source/source-orcid/path
    "education-full-3.0.xml": (1, SAMPLE_ORCID),
    "person-3.0.xml": (0, None),
    "summary-3.0.xml": (4, SAMPLE_ORCID),
}


# ---------------------------------------------------------------------------------------
# records: the API v3.0 samples
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), SAMPLE_COUNTS.items())
def test_every_sample_gives_the_affiliations_counted_by_hand(mirror, name, expected):
    count, orcid = expected
    frame = parse_records(mirror / SAMPLES / name)
    assert frame.schema == pl.Schema(AFFILIATION_SCHEMA)
    assert frame.height == count
    if count:
        assert frame["orcid"].unique().to_list() == [orcid]


def test_full_xml_record_reads_each_affiliation_as_written(mirror):
    frame = parse_records(mirror / SAMPLES / "record-3.0.xml")
    assert Counter(frame["affiliation_type"]) == dict.fromkeys(ALL_TYPES, 1)
    education = frame.filter(pl.col("affiliation_type") == "education").row(0, named=True)
    assert education == {
        "orcid": SAMPLE_ORCID,
        "affiliation_type": "education",
        "put_code": 0,
        "organization": "education-org",
        "role_title": "education:role-title",
        "department": "education:department-name",
        "country_iso2": "AF",
        "city": "common:city",
        "start_year": 1948,
        "start_month": 2,
        "end_year": 2019,
        "end_month": 1,
    }
    by_type = {row["affiliation_type"]: row for row in frame.iter_rows(named=True)}
    assert (by_type["employment"]["end_year"], by_type["employment"]["end_month"]) == (2025, None)
    assert by_type["membership"]["end_year"] is None  # no end-date: ongoing
    assert by_type["invited-position"]["start_year"] == 2019
    # Fundings, peer reviews and research resources name organisations too (the XSEDE
    # host is in the US); they are not affiliations. Nor is the person's address (US).
    assert set(frame["country_iso2"]) == {"AF"}
    assert "XSEDE" not in frame["organization"].to_list()


def test_json_record_reads_each_affiliation_as_written(mirror):
    frame = parse_records(mirror / SAMPLES / "record-full-3.0.json")
    assert Counter(frame["affiliation_type"]) == {
        "distinction": 1,
        "education": 3,
        "employment": 1,
        "invited-position": 1,
        "membership": 1,
        "qualification": 1,
        "service": 2,
    }
    service = frame.filter(pl.col("put_code") == 7093).row(0, named=True)
    assert (service["start_year"], service["end_year"], service["country_iso2"]) == (
        1949,
        1951,
        "AF",
    )
    assert frame.filter(pl.col("put_code") == 9265)["department"].item() == "!GAllows!"


def test_xml_and_json_serialisations_of_the_same_affiliations_read_the_same(mirror, tmp_path):
    """orcid-model's record-3.0.xml and record-full-3.0.json are NOT the same record (other
    iD, put-codes, names and counts), so they cannot be compared row for row. What must
    hold: the same schema and affiliation types from both, and the JSON sample's own
    affiliations, written out as record XML, read back identical."""
    xml = parse_records(mirror / SAMPLES / "record-3.0.xml")
    json_frame = parse_records(mirror / SAMPLES / "record-full-3.0.json")
    assert xml["orcid"].unique().to_list() != json_frame["orcid"].unique().to_list()
    assert xml.schema == json_frame.schema
    assert set(xml["affiliation_type"]) == set(json_frame["affiliation_type"]) == ALL_TYPES

    as_xml = tmp_path / "record-full-3.0-as-synthetic-record.xml"
    as_xml.write_bytes(synthetic_record_of_affiliations(JSON_ORCID, json_frame))
    assert parse_records(as_xml).equals(json_frame)


def test_record_summary_message_has_no_country_and_keeps_its_items_as_written(mirror):
    frame = parse_records(mirror / SAMPLES / "summary-3.0.xml")
    assert frame["affiliation_type"].to_list() == ["employment"] * 3 + ["distinction"]
    assert frame["put_code"].to_list() == [1, 2, 3, 1]
    # As in the sample (which swaps name and role): organization-name "Fake role title 1".
    assert frame["organization"][0] == "Fake role title 1"
    assert frame["role_title"][0] == "Org # 1"
    assert frame["country_iso2"].null_count() == 4
    assert frame.select("start_year", "end_year", "end_month").row(0) == (2020, 2024, 12)


def test_tidy_records_adds_iso3_and_keeps_every_row(mirror):
    raw = parse_records(mirror / SAMPLES / "employments-3.0.xml")
    tidy = records.tidy(raw)
    assert tidy.columns == [
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
    ]
    assert tidy["country_iso3"].to_list() == ["ASM", "ASM"]  # AS: American Samoa
    no_country = tidy_records(parse_records(mirror / SAMPLES / "summary-3.0.xml"))
    assert no_country.height == 4 and set(no_country["geo_kind"]) == {"unknown"}
    assert tidy_records(parse_records(mirror / SAMPLES / "person-3.0.xml")).height == 0


def test_catalog_orcid_datasets_resolve_to_these_readers(mirror):
    orcid_datasets = [d for d in CATALOG.values() if d.reader.startswith("orcid.")]
    assert len(orcid_datasets) == 11  # 9 samples + 2 alumni tables
    for dataset in orcid_datasets:
        [path] = list(mirror.glob(dataset.mirror_glob))
        reader = resolve_format(dataset.reader)
        assert reader in (records, alumni_current_country)
        assert dataset.suite == ("orcid_affiliations" if reader is records else "orcid_alumni")
        reader.tidy(reader.parse(path))


def test_raw_frames_pass_their_suites(mirror):
    """All nine samples (validated together, one GX run), the empty person frame on its
    own, and both alumni tables."""
    from talentflow.tasks.validate import validate_frame

    samples = pl.concat([parse_records(mirror / SAMPLES / name) for name in SAMPLE_COUNTS])
    person = parse_records(mirror / SAMPLES / "person-3.0.xml")
    checks = [
        (samples, "orcid_affiliations", "the nine API v3.0 samples"),
        (person, "orcid_affiliations", "person-3.0.xml (no affiliations)"),
        (parse_alumni_current_country(mirror / ALUMNI), "orcid_alumni", ALUMNI),
        (parse_alumni_current_country(mirror / ALUMNI_GRAD), "orcid_alumni", ALUMNI_GRAD),
    ]
    assert samples.height == sum(count for count, _ in SAMPLE_COUNTS.values()) == 34
    for frame, suite, label in checks:
        report = validate_frame(frame, suite, label)
        assert report.failures == [], report.message()


@pytest.mark.parametrize(
    ("content", "fault"),
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html><body>Too Many Requests</body></html>", "HTML"),
        (b"<rss><channel/></rss>", "not an ORCID"),
        (b"hello", "neither XML nor JSON"),
        (b'{"orcid-identifier": ', "JSON"),
    ],
)
def test_records_refuses_what_is_not_an_orcid_message(tmp_path, content, fault):
    path = tmp_path / "synthetic-message.xml"
    path.write_bytes(content)
    with pytest.raises(ReaderError, match=fault):
        parse_records(path)


def test_records_names_the_file_and_field_of_a_bad_year(mirror, tmp_path):
    text = (mirror / SAMPLES / "education-full-3.0.xml").read_text(encoding="utf-8")
    path = tmp_path / "synthetic-education-bad-year.xml"
    path.write_text(
        text.replace("<common:year>1948</common:year>", "<common:year>19x8</common:year>", 1)
    )
    with pytest.raises(
        ReaderError, match=r"synthetic-education-bad-year\.xml.*start-date/year.*19x8"
    ):
        parse_records(path)


# ---------------------------------------------------------------------------------------
# alumni_current_country
# ---------------------------------------------------------------------------------------


def test_alumni_tables_read_every_row_as_published(mirror):
    plain = parse_alumni_current_country(mirror / ALUMNI)
    graduated = parse_alumni_current_country(mirror / ALUMNI_GRAD)
    assert plain.height == graduated.height == 8711  # MANIFEST 4b
    assert plain.columns == ["orcid_id", "code", "country"]
    assert graduated.columns == ["orcid_id", "code", "country", "graduated"]
    assert graduated.row(0) == ("0000-0001-5003-5509", "MSU", "RU", 1976)  # line 2
    assert graduated.row(98) == ("0000-0001-5237-5080", "MSU", "RU", 2009)  # line 100
    assert graduated.row(-1) == ("0000-0003-4997-0828", "MSU", "CU", 1983)  # last line
    assert dict(Counter(plain["code"])) == {"MIT": 3619, "MSU": 2841, "SPbSU": 1466, "MIPT": 785}
    countries = Counter(plain["country"])
    assert (countries["RU"], countries["US"], countries["CN"]) == (4080, 3211, 28)
    assert graduated.drop("graduated").equals(plain)
    # Kept as published: 7,205 distinct iDs (cut -f1 | sort -u), 8,069 distinct lines.
    assert plain["orcid_id"].n_unique() == 7205 and graduated.unique().height == 8069
    assert graduated["graduated"].min() == 1947 and graduated["graduated"].max() == 2017


def test_alumni_tidy_names_countries_and_keeps_every_row(mirror):
    tidy = alumni_current_country.tidy(parse_alumni_current_country(mirror / ALUMNI_GRAD))
    assert tidy.columns == [
        "orcid",
        "university_code",
        "country_iso3",
        "geo_kind",
        "graduated_year",
    ]
    assert tidy.height == 8711 and set(tidy["geo_kind"]) == {"country"}
    assert tidy.row(0) == ("0000-0001-5003-5509", "MSU", "RUS", "country", 1976)
    plain = alumni_current_country.tidy(parse_alumni_current_country(mirror / ALUMNI))
    assert plain["graduated_year"].null_count() == 8711


def test_alumni_reads_namibia_as_a_country_not_as_missing(tmp_path):
    path = tmp_path / "synthetic_alumni.csv"
    path.write_text("orcid_id,code,country,graduated\n0000-0001-5000-0007,MIT,NA,2001\n")
    raw = parse_alumni_current_country(path)
    assert raw["country"].to_list() == ["NA"]
    assert alumni_current_country.tidy(raw)["country_iso3"].to_list() == ["NAM"]


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("orcid,university\n0000-0001-5000-0007,MIT\n", "no column"),
        (
            "orcid_id,code,country,graduated\n0000-0001-5000-0007,MIT,US,20o1\n",
            r"line 2, column 'graduated': '20o1'",
        ),
    ],
)
def test_alumni_refuses_a_different_layout(tmp_path, text, fault):
    path = tmp_path / "synthetic_alumni.csv"
    path.write_text(text)
    with pytest.raises(ReaderError, match=fault):
        parse_alumni_current_country(path)


# ---------------------------------------------------------------------------------------
# Synthetic public data files
# ---------------------------------------------------------------------------------------


def _structure(element: etree._Element, prefix: str = "") -> set[str]:
    """Every element path in a document, with the seven affiliation kinds folded into one
    (they share one schema; the sample does not give every kind every optional part)."""
    tag = etree.QName(element).localname
    for kind in sorted(ALL_TYPES, key=len, reverse=True):
        tag = tag.replace(kind, "AFFILIATION")
    path = f"{prefix}/{tag}"
    found = {path}
    for child in element:
        if isinstance(child.tag, str):
            found |= _structure(child, path)
    return found


def test_synthetic_records_follow_the_structure_of_the_real_sample(mirror):
    real = _structure(etree.parse(str(mirror / SAMPLES / "record-3.0.xml")).getroot())
    synthetic: set[str] = set()
    for record in iter_synthetic_records(300, seed=5):
        synthetic |= _structure(etree.fromstring(render_synthetic_record(record)))
    assert synthetic - real == set()
    assert any(p.endswith("AFFILIATIONs/affiliation-group/AFFILIATION-summary") for p in synthetic)


def test_orcid_check_digit_matches_known_ids():
    assert orcid_check_digit("000000021825009") == "7"  # 0000-0002-1825-0097
    assert orcid_check_digit("000000015109370") == "0"  # 0000-0001-5109-3700
    assert orcid_check_digit("000000021694233") == "X"  # 0000-0002-1694-233X


@pytest.fixture(scope="module")
def synthetic_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("orcid") / "ORCID_synthetic_summaries.tar.gz"
    return write_synthetic_data_file(path, 3000, seed=7, malformed_records=3, compresslevel=1)


def test_synthetic_file_round_trips_exactly(synthetic_file):
    summary = ExtractionSummary(synthetic_file)
    found = affiliations_from_tarball(synthetic_file, summary=summary)
    expected = synthetic_affiliations(3000, seed=7)
    assert found.equals(expected)
    assert summary.complete
    assert summary.records_read == 3000
    assert summary.affiliations == expected.height
    assert summary.records_with_affiliations == expected["orcid"].n_unique() < 3000
    assert summary.malformed == 3 and len(summary.malformed_examples) == 3
    assert all("summaries/" in example for example in summary.malformed_examples)
    assert summary.other_file_examples == ["README_synthetic.txt"]


def test_synthetic_file_holds_china_to_china_careers_and_awkward_codes(synthetic_file):
    found = affiliations_from_tarball(synthetic_file)
    china = found.filter(pl.col("country_iso2") == "CN")
    educated = set(china.filter(pl.col("affiliation_type") == "education")["orcid"])
    employed = set(china.filter(pl.col("affiliation_type") == "employment")["orcid"])
    assert len(educated & employed) > 100
    tidy = tidy_records(found)
    assert set(tidy["geo_kind"]) == {"country"}
    codes = dict(zip(found["country_iso2"], tidy["country_iso3"], strict=True))
    assert codes["NA"] == "NAM" and codes["XK"] == "XKX" and codes["CN"] == "CHN"
    assert found["department"].str.contains("<Physics>").any()  # escaped and read back


def test_streamed_batches_keep_records_whole(synthetic_file):
    frames = list(iter_affiliations_from_tarball(synthetic_file, batch_size=500))
    assert all(frame.height >= 500 for frame in frames[:-1])
    owners = [set(frame["orcid"]) for frame in frames]
    assert sum(len(o) for o in owners) == len(set().union(*owners))  # no record split


def test_parallel_extraction_gives_the_same_frames_and_counts_in_file_order(tmp_path, monkeypatch):
    """Two worker processes, chunks of 37 records (so many chunks and a partial last one):
    the same rows in the same order, and the same summary, malformed records included."""
    path = write_synthetic_data_file(
        tmp_path / "synthetic_parallel.tar.gz", 600, seed=5, malformed_records=4
    )
    monkeypatch.setattr(orcid, "CHUNK_RECORDS", 37)
    serial, parallel = ExtractionSummary(path), ExtractionSummary(path)
    one = list(iter_affiliations_from_tarball(path, batch_size=250, summary=serial))
    two = list(iter_affiliations_from_tarball(path, batch_size=250, summary=parallel, workers=2))
    assert pl.concat(two).equals(pl.concat(one))
    assert [f.height for f in two] == [f.height for f in one]
    assert (parallel.records_read, parallel.malformed, parallel.affiliations) == (
        serial.records_read,
        serial.malformed,
        serial.affiliations,
    )
    assert parallel.malformed == 4 and parallel.complete


def test_parallel_extraction_refuses_hostile_xml_naming_the_member(tmp_path):
    member = ("summaries/007/0000-0001-5000-0007.xml", BILLION_LAUGHS)
    path = _hostile_tarball(tmp_path / "synthetic_hostile_parallel.tar.gz", [member])
    with pytest.raises(HostileInputError, match="entities") as caught:
        list(iter_affiliations_from_tarball(path, workers=2))
    assert repr(member[0]) in str(caught.value)


def test_data_file_with_the_real_top_directory_name_reads_the_same(tmp_path):
    path = write_synthetic_data_file(
        tmp_path / "ORCID_2024_10_summaries_synthetic.tar.gz",
        200,
        seed=3,
        top_directory="ORCID_2024_10_summaries",
        compresslevel=1,
    )
    assert affiliations_from_tarball(path).equals(synthetic_affiliations(200, seed=3))


def test_streaming_memory_does_not_grow_with_the_number_of_records(tmp_path):
    """Peak traced memory for 10,000 records stays close to that for 1,000 (same batch
    size): the extractor keeps one batch and one record. Not a timing test. It caught two
    leaks that grow with the number of members: tarfile's member list, and pathlib
    interning every member name (sys.intern). 1,000 vs 10,000 rather than 2,000 vs 20,000
    keeps it near 15 s: tracemalloc slows the reader about 2.5 times."""
    small = write_synthetic_data_file(tmp_path / "synthetic_1k.tar.gz", 1000, 1, compresslevel=1)
    large = write_synthetic_data_file(tmp_path / "synthetic_10k.tar.gz", 10000, 1, compresslevel=1)

    def peak(path: Path) -> tuple[int, int]:
        summary = ExtractionSummary(path)
        tracemalloc.start()
        try:
            for _frame in iter_affiliations_from_tarball(path, batch_size=200, summary=summary):
                pass
            return tracemalloc.get_traced_memory()[1], summary.records_read
        finally:
            tracemalloc.stop()

    small_peak, small_read = peak(small)
    large_peak, large_read = peak(large)
    assert (small_read, large_read) == (1000, 10000)
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)


# ---------------------------------------------------------------------------------------
# Hostile and broken input
# ---------------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<record:record xmlns:record="http://www.orcid.org/ns/record">&lol9;</record:record>
"""
XXE = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE record [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<record:record xmlns:record="http://www.orcid.org/ns/record"
  xmlns:common="http://www.orcid.org/ns/common"
  xmlns:activities="http://www.orcid.org/ns/activities"
  xmlns:employment="http://www.orcid.org/ns/employment">
 <common:orcid-identifier><common:path>0000-0001-5000-0007</common:path></common:orcid-identifier>
 <activities:activities-summary><activities:employments><activities:affiliation-group>
  <employment:employment-summary put-code="1">
   <common:organization><common:name>&secret;</common:name>
    <common:address><common:country>US</common:country></common:address>
   </common:organization>
  </employment:employment-summary>
 </activities:affiliation-group></activities:employments></activities:activities-summary>
</record:record>
"""


XXE_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE record:record SYSTEM "file:///etc/passwd">
<record:record xmlns:record="http://www.orcid.org/ns/record"/>
"""


def _passwd_markers() -> list[str]:
    text = Path("/etc/passwd").read_text(encoding="utf-8", errors="replace")
    return [line for line in text.splitlines() if line.strip()][:3]


def _hostile_tarball(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    """A small synthetic tar.gz: one good synthetic record first, then ``members``."""
    good = next(r for r in iter_synthetic_records(50, seed=11) if r.affiliations)
    with tarfile.open(path, "w:gz") as tar:
        data = render_synthetic_record(good)
        info = tarfile.TarInfo(f"summaries/{good.orcid[-3:]}/{good.orcid}.xml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                name, content = member
                info = tarfile.TarInfo(name)
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return path


def _link(name: str, kind: bytes, target: str = "/etc/passwd") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize(
    ("member", "fault"),
    [
        (("summaries/007/0000-0001-5000-0007.xml", BILLION_LAUGHS), "entities"),
        (("summaries/007/0000-0001-5000-0007.xml", XXE), "entities"),
        (("summaries/007/0000-0001-5000-0007.xml", XXE_DTD), "external DTD"),
        (("summaries/../evil.xml", b"<x/>"), r"climbs out"),
        (("summaries/000/../../evil.xml", b"<x/>"), r"climbs out"),
        (("/etc/evil.xml", b"<x/>"), "absolute"),
        (_link("summaries/000/0000-0001-5000-0007.xml", tarfile.SYMTYPE), "symbolic link"),
        (_link("summaries/000/0000-0001-5000-0007.xml", tarfile.LNKTYPE), "hard link"),
        (_link("summaries/000/dev.xml", tarfile.CHRTYPE, ""), "device"),
    ],
)
def test_hostile_members_are_refused_naming_the_member(tmp_path, member, fault):
    path = _hostile_tarball(tmp_path / "synthetic_hostile.tar.gz", [member])
    name = member.name if isinstance(member, tarfile.TarInfo) else member[0]
    read: list[pl.DataFrame] = []
    with pytest.raises(HostileInputError, match=fault) as caught:
        for frame in iter_affiliations_from_tarball(path, batch_size=1):
            read.append(frame)
    message = str(caught.value)
    assert isinstance(caught.value, ReaderError)
    assert repr(name) in message
    assert str(path) in message
    assert sum(frame.height for frame in read) > 0  # the good record came out first
    text = message + "".join(str(frame.rows()) for frame in read)
    assert not any(marker in text for marker in _passwd_markers())


def test_hardened_parser_alone_expands_no_entity():
    """Defence in depth: even without the DOCTYPE refusal, the parser neither reads the
    external entity nor expands the laughs."""
    root = etree.fromstring(XXE, hardened_xml_parser())
    text = etree.tostring(root, encoding="unicode")
    assert not any(marker in text for marker in _passwd_markers())
    try:
        laughs = etree.tostring(etree.fromstring(BILLION_LAUGHS, hardened_xml_parser()))
    except etree.XMLSyntaxError:  # libxml2 >= 2.11 also stops the amplification itself
        laughs = b""
    assert len(laughs) < 10_000


def test_hostile_xml_in_a_single_message_is_refused(tmp_path):
    path = tmp_path / "synthetic_laughs.xml"
    path.write_bytes(BILLION_LAUGHS)
    with pytest.raises(HostileInputError, match="synthetic_laughs.xml"):
        parse_records(path)


def test_truncated_download_is_refused_with_how_far_it_got(synthetic_file, tmp_path):
    data = synthetic_file.read_bytes()
    cut = tmp_path / "synthetic_truncated.tar.gz"
    cut.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(
        ReaderError, match=r"synthetic_truncated\.tar\.gz: truncated.*after [\d,]+ record"
    ):
        for _frame in iter_affiliations_from_tarball(cut):
            pass


def test_archive_cut_at_a_member_boundary_is_refused(tmp_path):
    """A complete gzip whose tar stops between members, without the end-of-archive
    blocks: tarfile alone would end quietly."""
    whole = write_synthetic_data_file(tmp_path / "synthetic.tar.gz", 20, seed=2, readme=False)
    tar_bytes = gzip.decompress(whole.read_bytes())
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        offsets = [member.offset for member in tar.getmembers()]
    cut = tmp_path / "synthetic_cut_at_boundary.tar.gz"
    cut.write_bytes(gzip.compress(tar_bytes[: offsets[10]]))
    with pytest.raises(ReaderError, match=r"end-of-archive marker after 9 record"):
        for _frame in iter_affiliations_from_tarball(cut):
            pass


def test_missing_or_non_gzip_file_is_a_reader_error(tmp_path):
    with pytest.raises(ReaderError, match="no such file"):
        list(iter_affiliations_from_tarball(tmp_path / "synthetic_absent.tar.gz"))
    page = tmp_path / "synthetic_error_page.tar.gz"
    page.write_text("<!DOCTYPE html><html>Service unavailable</html>")
    with pytest.raises(ReaderError, match=r"synthetic_error_page\.tar\.gz: .*after 0 record"):
        list(iter_affiliations_from_tarball(page))


def test_mostly_malformed_file_stops_the_extraction(tmp_path):
    path = _hostile_tarball(
        tmp_path / "synthetic_garbage.tar.gz",
        [(f"summaries/{n:03d}/0000-0001-5000-{n:04d}.xml", b"<not-xml") for n in range(1000)],
    )
    with pytest.raises(ReaderError, match=r"malformed.*format changed"):
        for _frame in iter_affiliations_from_tarball(path):
            pass


def test_non_utf8_record_is_malformed_not_parsed(tmp_path):
    utf16 = '<?xml version="1.0" encoding="UTF-16"?><record/>'.encode("utf-16")
    path = _hostile_tarball(
        tmp_path / "synthetic_utf16.tar.gz",
        [("summaries/007/0000-0001-5000-0007.xml", utf16)],
    )
    summary = ExtractionSummary(path)
    frame = affiliations_from_tarball(path, summary=summary)
    assert summary.records_read == 1 and summary.malformed == 1
    assert "not UTF-8" in summary.malformed_examples[0]
    assert frame["orcid"].n_unique() <= 1
