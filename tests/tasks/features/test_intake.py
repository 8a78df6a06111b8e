"""China's intake tables, checked on the real mirror files and on synthetic ORCID careers
whose classification is known by construction."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import polars as pl
import pytest

from talentflow.tasks.features.intake import (
    china_arrivals,
    chinese_us_doctorates,
    inbound_students_china,
    inflow_shares_by_income_group,
    moe_students_by_category,
    prior_ties_by_year,
    prior_ties_china,
    researcher_inflows_china,
    talent_ladder_china,
)
from talentflow.tasks.sources import china_moe, macropolo, mpidr, ncses, orcid, uis, world_bank
from talentflow.tasks.sources.orcid import (
    AFFILIATION_SCHEMA,
    affiliations_from_tarball,
    iter_affiliations_from_tarball,
)
from talentflow.tasks.validate import validate_frame
from tests.synthetic_orcid import (
    SyntheticRecord,
    render_synthetic_record,
    synthetic_affiliations,
    synthetic_orcid,
    write_synthetic_data_file,
)

UIS_FILE = "uis/uis_api_inbound_26637_and_netflow_MENF5T8.csv"
MOE_FILE = "china_moe/china_international_students_moe.csv"
SCOPUS_FLOWS = "scholarly_migration/scopus_2024_V1_scholarlymigration_countryflows.csv"
OPENALEX_FLOWS = "scholarly_migration/openalex_2023_V1_scholarlymigration_countryflows.csv"


@pytest.fixture(scope="module")
def real(mirror):
    def read(fmt, relative):
        return fmt.tidy(fmt.parse(mirror / relative))

    return {
        "uis": read(uis.api_records, UIS_FILE),
        "moe": read(china_moe.international_students, MOE_FILE),
        "flows": pl.concat([read(mpidr.flows, SCOPUS_FLOWS), read(mpidr.flows, OPENALEX_FLOWS)]),
        "countries": read(world_bank.country_list, "wdi/wb_api_countries.csv"),
        "macropolo": read(
            macropolo.figures, "macropolo/macropolo_global_ai_talent_tracker_figures.csv"
        ),
        "ncses": [
            read(ncses.table, f"ncses_sei/ncses_table_{table}.csv")
            for table in ("11695", "11696", "11762", "10996")
        ],
    }


@pytest.fixture(scope="module")
def students(real):
    return inbound_students_china(real["uis"], real["moe"])


@pytest.fixture(scope="module")
def inflows(real):
    return researcher_inflows_china(real["flows"], real["countries"])


@pytest.fixture(scope="module")
def ladder(real):
    return talent_ladder_china(real["uis"], real["moe"], real["flows"], real["macropolo"])


def one(frame: pl.DataFrame, column: str, **keys) -> object:
    rows = frame.filter(*(pl.col(k) == v for k, v in keys.items()))
    assert rows.height == 1, f"expected one row for {keys}, found {rows.height}"
    return rows[column].item()


# -- a. inbound students -------------------------------------------------------------------


def test_moe_and_uis_student_counts_stay_two_series_never_summed(students):
    assert set(students["series"]) == {"uis_degree_mobile", "moe_all_kinds_headcount"}
    moe, degree_mobile = "moe_all_kinds_headcount", "uis_degree_mobile"
    assert one(students, "students", series=moe, year=2018) == 492_185
    assert one(students, "students", series=degree_mobile, year=2023) == 200_892
    assert one(students, "students", series=degree_mobile, year=2018) == 178_271
    assert 492_185 not in students.filter(pl.col("series") == degree_mobile)["students"].to_list()
    both = (
        students.pivot(on="series", index="year", values="students")
        .drop_nulls()
        .with_columns((pl.col(moe) + pl.col(degree_mobile)).alias("sum"))
    )
    assert both.height == 8  # MoE totals 2010-2018 but 2013, all inside UIS's 2006-2023
    assert not set(both["sum"]) & set(students["students"])
    assert 492_185 + 178_271 not in students["students"].to_list()
    assert students.select(pl.struct("series", "year").is_duplicated().any()).item() is False


def test_moe_breakdowns_are_kept_as_published_with_origin_countries_placed(real):
    breakdowns = moe_students_by_category(real["moe"])
    level_2018 = breakdowns.filter((pl.col("year") == 2018) & (pl.col("dimension") == "level"))
    assert one(level_2018, "students", category="doctoral students") == 25_618
    assert one(level_2018, "students", category="non-degree students") == 234_063
    origins = breakdowns.filter(pl.col("dimension") == "origin_country")
    assert one(origins, "students", year=2018, origin_iso3="KOR") == 50_600
    assert origins["origin_iso3"].null_count() == 0
    continents = breakdowns.filter(pl.col("dimension") == "origin_continent")
    assert continents["origin_iso3"].null_count() == continents.height
    assert set(breakdowns["dimension"]) == {
        "level",
        "origin_continent",
        "origin_country",
        "origin_group",
        "host_province",
        "host_region",
        "funding",
    }
    # Outbound students, rank lists and totals are not breakdowns of inbound students.
    assert not breakdowns.filter(
        pl.col("metric").str.contains("going_abroad|rank_order|_total$")
    ).height


def test_an_unknown_moe_breakdown_is_refused_not_dropped(real):
    changed = real["moe"].with_columns(
        pl.when(pl.col("metric") == "international_students_by_funding")
        .then(pl.lit("international_students_by_discipline"))
        .otherwise(pl.col("metric"))
        .alias("metric")
    )
    with pytest.raises(ValueError, match="international_students_by_discipline"):
        moe_students_by_category(changed)


# -- b. researcher inflows -----------------------------------------------------------------


def test_inflows_hold_usa_to_china_per_database_and_only_moves_between_places(real, inflows):
    assert one(inflows, "migrations", database="scopus", year=2018, origin_iso3="USA") == 3_825
    assert one(inflows, "migrations", database="openalex", year=2018, origin_iso3="USA") == 6_489
    usa = one(inflows, "origin_income_group", database="scopus", year=2018, origin_iso3="USA")
    assert usa == "High income"
    assert one(inflows, "origin_region", database="scopus", year=2018, origin_iso3="USA") == (
        "North America"
    )
    # Entries (empty origin: first seen in China) are not moves; every raw move is kept.
    flows = real["flows"]
    into_china = flows.filter(pl.col("destination_iso3") == "CHN")
    scopus_2018 = into_china.filter((pl.col("database") == "scopus") & (pl.col("year") == 2018))
    moved = scopus_2018.filter(pl.col("flow_kind") == "migration")["migrations"].sum()
    got = inflows.filter((pl.col("database") == "scopus") & (pl.col("year") == 2018))
    assert got["migrations"].sum() == moved == 10_831
    assert scopus_2018.filter(pl.col("flow_kind") == "entry").height == 1
    assert "CHN" not in set(inflows["origin_iso3"].drop_nulls())


def test_inflows_label_origins_the_world_bank_cannot_classify(inflows):
    taiwan = inflows.filter(pl.col("origin_iso3") == "TWN")
    assert taiwan.height and set(taiwan["origin_income_group"]) == {"Not in World Bank list"}
    unplaced = inflows.filter(pl.col("origin_iso3").is_null())
    assert set(unplaced["origin_code"]) <= {"EUE", "nan"} and unplaced.height
    assert set(unplaced["origin_income_group"]) == {"Unknown origin"}
    assert inflows.filter(pl.col("year") >= 2022)["is_censored"].all()
    assert not inflows.filter(pl.col("year") < 2022)["is_censored"].any()


def test_income_group_shares_add_to_one_per_year_and_database(inflows):
    shares = inflow_shares_by_income_group(inflows)
    totals = shares.group_by("database", "year").agg(pl.col("share").sum())
    assert totals["share"].to_list() == pytest.approx([1.0] * totals.height)
    high = shares.filter(pl.col("origin_income_group") == "High income")
    years = shares.select("database", "year").unique()
    assert high.height == years.height  # an unbroken high-income series
    assert one(high, "share", database="scopus", year=2018) == pytest.approx(9_441 / 10_831)
    assert one(high, "migrations", database="openalex", year=2018) == 11_653


# -- c. talent ladder ------------------------------------------------------------------------


def test_ladder_has_every_rung_with_the_shares_the_sources_give(real, ladder):
    assert set(ladder["level"]) == {"students", "doctoral", "researchers", "top_ai_researchers"}
    assert dict(ladder.select("level", "order").unique().iter_rows()) == {
        "students": 1,
        "doctoral": 2,
        "researchers": 3,
        "top_ai_researchers": 4,
    }
    reporting_2023 = real["uis"].filter(
        (pl.col("indicator_id") == "26637")
        & (pl.col("geo_kind") == "country")
        & (pl.col("year") == 2023)
    )
    students_2023 = ladder.filter((pl.col("level") == "students") & (pl.col("year") == 2023))
    assert students_2023["china_count"].item() == 200_892
    assert students_2023["china_share"].item() == pytest.approx(
        200_892 / reporting_2023["value"].sum()
    )
    assert f"{reporting_2023.height} countries reporting" in students_2023["note"].item()

    doctoral = ladder.filter(pl.col("level") == "doctoral")
    assert doctoral.height and doctoral["china_share"].null_count() == doctoral.height
    assert doctoral["note"].str.contains("not computable").all()
    assert one(doctoral, "china_count", year=2018) == 25_618

    researchers = ladder.filter(pl.col("level") == "researchers")
    assert set(researchers["source"].str.extract(r"(scopus|openalex)$")) == {"scopus", "openalex"}
    scopus_2018 = researchers.filter(
        (pl.col("year") == 2018) & pl.col("source").str.ends_with("scopus")
    )
    assert scopus_2018["china_count"].item() == 10_831
    assert scopus_2018["china_share"].item() == pytest.approx(10_831 / 139_922)
    assert researchers["year"].min() >= 1998 and researchers["year"].max() <= 2020

    work = real["macropolo"].filter(
        (pl.col("metric") == "share_by_current_work_country")
        & pl.col("cohort").str.starts_with("top-tier")
        & (pl.col("country_iso3") == "CHN")
    )
    years = work["conference_sample"].str.extract(r"(\d{4})").cast(pl.Int32)
    from_file = dict(zip(years, work["value"], strict=True))
    assert from_file == {2019: 11.0, 2022: 28.0}
    top_ai = ladder.filter(pl.col("level") == "top_ai_researchers")
    assert dict(top_ai.select("year", "china_share").iter_rows()) == pytest.approx(
        {2019: 0.11, 2022: 0.28}
    )


# -- d. prior ties (ORCID) -------------------------------------------------------------------


def career(orcid_id: str, *spells: tuple) -> list[dict]:
    """Affiliation rows of one synthetic person; a spell is (type, ISO2, start, end)."""
    return [
        {
            "orcid": orcid_id,
            "affiliation_type": kind,
            "put_code": number,
            "organization": f"Synthetic org {number}",
            "role_title": None,
            "department": None,
            "country_iso2": country,
            "city": None,
            "start_year": start,
            "start_month": None,
            "end_year": end,
            "end_month": None,
        }
        for number, (kind, country, start, end) in enumerate(spells, start=1)
    ]


#: iD -> (expected arrival year, origin, tie), or None for people who never arrived.
SYNTHETIC_PEOPLE = {
    # educated in China, worked in the US, back to China
    synthetic_orcid(900_000_000_000_001): (
        [("education", "CN", 2000, 2004), ("employment", "US", 2005, 2010)]
        + [("employment", "CN", 2011, None)],
        (2011, "USA", "returnee"),
    ),
    # Germany and Britain only, then China: no tie
    synthetic_orcid(900_000_000_000_002): (
        [("education", "DE", 1995, 1999), ("employment", "GB", 2000, 2005)]
        + [("employment", "CN", 2011, None)],
        (2011, "GBR", "no_prior_tie"),
    ),
    # only China: a stayer, not an arrival
    synthetic_orcid(900_000_000_000_003): (
        [("education", "CN", 1990, 1994), ("employment", "CN", 1995, None)],
        None,
    ),
    # China then abroad, never back: an emigrant
    synthetic_orcid(900_000_000_000_004): (
        [("education", "CN", 2000, 2004), ("employment", "US", 2005, None)],
        None,
    ),
    # abroad and China starting the same year: no order, no arrival
    synthetic_orcid(900_000_000_000_005): (
        [("employment", "US", 2010, None), ("employment", "CN", 2010, None)],
        None,
    ),
    # Hong Kong is outside China (docs/countries.md)
    synthetic_orcid(900_000_000_000_006): (
        [("education", "HK", 2001, 2005), ("employment", "CN", 2006, None)],
        (2006, "HKG", "no_prior_tie"),
    ),
    # a Chinese degree recorded with its end year only still makes a tie
    synthetic_orcid(900_000_000_000_007): (
        [("education", "CN", None, 1998), ("employment", "JP", 2000, 2007)]
        + [("employment", "CN", 2008, None)],
        (2008, "JPN", "returnee"),
    ),
    # a distinction in China is not a career affiliation; nor is an undated spell
    synthetic_orcid(900_000_000_000_008): (
        [("education", "US", 2000, 2004), ("distinction", "CN", 2006, 2006)]
        + [("employment", "CN", None, None)],
        None,
    ),
    # two spells abroad start in the year before arrival: the ongoing one is the origin
    synthetic_orcid(900_000_000_000_009): (
        [("education", "US", 2000, 2004), ("employment", "DE", 2005, 2007)]
        + [("employment", "GB", 2005, None), ("employment", "CN", 2009, None)],
        (2009, "GBR", "no_prior_tie"),
    ),
    # China, US, China, US, China: one arrival, the first return
    synthetic_orcid(900_000_000_000_010): (
        [("education", "CN", 1990, 1994), ("education", "US", 1995, 1999)]
        + [("employment", "CN", 2000, 2004), ("employment", "US", 2005, 2009)]
        + [("employment", "CN", 2010, None)],
        (2000, "USA", "returnee"),
    ),
}


@pytest.fixture(scope="module")
def synthetic_people_frame() -> pl.DataFrame:
    rows = [
        row
        for orcid_id, (spells, _) in SYNTHETIC_PEOPLE.items()
        for row in career(orcid_id, *spells)
    ]
    return pl.DataFrame(rows, schema=AFFILIATION_SCHEMA, orient="row")


def expected_arrivals() -> dict[str, tuple]:
    return {orcid_id: answer for orcid_id, (_, answer) in SYNTHETIC_PEOPLE.items() if answer}


def arrivals_as_dict(arrivals: pl.DataFrame) -> dict[str, tuple]:
    return {
        row["orcid"]: (row["year"], row["origin_iso3"], row["tie"])
        for row in arrivals.iter_rows(named=True)
    }


def test_hand_built_careers_are_classified_as_defined(synthetic_people_frame):
    arrivals = china_arrivals(orcid.tidy_records(synthetic_people_frame))
    assert arrivals_as_dict(arrivals) == expected_arrivals()
    returnee = arrivals.filter(pl.col("orcid") == synthetic_orcid(900_000_000_000_007))
    assert returnee["first_china_year"].item() == 1998
    assert returnee["first_abroad_year"].item() == 2000


def test_prior_ties_count_people_and_shares_per_arrival_year(synthetic_people_frame):
    ties = prior_ties_china(orcid.tidy_records(synthetic_people_frame))
    assert ties.columns == ["year", "origin_iso3", "tie", "people", "share"]
    in_2011 = ties.filter(pl.col("year") == 2011)
    assert dict(in_2011.select("origin_iso3", "tie").iter_rows()) == {
        "USA": "returnee",
        "GBR": "no_prior_tie",
    }
    assert in_2011["share"].to_list() == [0.5, 0.5]
    assert ties["people"].sum() == len(expected_arrivals())
    totals = ties.group_by("year").agg(pl.col("share").sum())["share"].to_list()
    assert totals == pytest.approx([1.0] * len(totals))
    # features never read sources: the extractor's raw rows are refused, naming the fix
    with pytest.raises(ValueError, match="tidy_records"):
        prior_ties_china(synthetic_people_frame)


def write_tarball(path: Path, people: pl.DataFrame) -> Path:
    """A public-data-file layout tarball of exactly these synthetic people."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for orcid_id, rows in people.group_by("orcid", maintain_order=True):
            record = SyntheticRecord(
                orcid=orcid_id[0], affiliations=tuple(rows.iter_rows(named=True))
            )
            data = render_synthetic_record(record)
            member = tarfile.TarInfo(f"summaries/{orcid_id[0][-3:]}/{orcid_id[0]}.xml")
            member.size = len(data)
            tar.addfile(member, fileobj=io.BytesIO(data))
    return path


def test_hand_built_careers_read_back_from_a_tarball_classify_the_same(
    synthetic_people_frame, tmp_path
):
    tarball = write_tarball(tmp_path / "orcid_synthetic_people.tar.gz", synthetic_people_frame)
    arrivals = china_arrivals(orcid.tidy_records(affiliations_from_tarball(tarball)))
    assert arrivals_as_dict(arrivals) == expected_arrivals()


def classify_by_hand(affiliations: pl.DataFrame) -> dict[str, tuple]:
    """The definition of docs/metrics.md#china_prior_ties-prior_ties_china-from-china_arrivals
    in plain Python, to check the Polars code. ``affiliations``: tidy ORCID rows
    (``country_iso3``)."""
    people: dict[str, list[tuple[int, int | None, str]]] = {}
    for row in affiliations.iter_rows(named=True):
        year = row["start_year"] if row["start_year"] is not None else row["end_year"]
        career_spell = row["affiliation_type"] in ("education", "employment")
        if career_spell and row["country_iso3"] and year is not None:
            people.setdefault(row["orcid"], []).append((year, row["end_year"], row["country_iso3"]))
    answers = {}
    for person, spells in people.items():
        abroad = [spell for spell in spells if spell[2] != "CHN"]
        if not abroad:
            continue
        first_abroad = min(spell[0] for spell in abroad)
        later_china = [s[0] for s in spells if s[2] == "CHN" and s[0] > first_abroad]
        if not later_china:
            continue
        arrival = min(later_china)
        before = [spell for spell in abroad if spell[0] < arrival]
        # latest start, then the later end (ongoing latest), then the last code
        last = max(before, key=lambda s: (s[0], s[1] is None, s[1] or 0, s[2]))
        returnee = any(s[2] == "CHN" and s[0] < first_abroad for s in spells)
        answers[person] = (arrival, last[2], "returnee" if returnee else "no_prior_tie")
    return answers


def test_synthetic_data_file_classifies_as_the_definition_says(tmp_path):
    tarball = write_synthetic_data_file(
        tmp_path / "orcid_synthetic.tar.gz", records=400, seed=11, compresslevel=1
    )
    written = synthetic_affiliations(400, seed=11)
    read = orcid.tidy_records(affiliations_from_tarball(tarball))
    arrivals = china_arrivals(read)
    assert arrivals_as_dict(arrivals) == classify_by_hand(orcid.tidy_records(written))
    assert arrivals.height > 20 and set(arrivals["tie"]) == {"returnee", "no_prior_tie"}
    # batch by batch (records never split), then summarised: the same table
    batched = pl.concat(
        china_arrivals(orcid.tidy_records(batch))
        for batch in iter_affiliations_from_tarball(tarball, batch_size=50)
    )
    ties = prior_ties_china(read)
    assert prior_ties_by_year(batched).equals(ties)
    assert validate_frame(ties, "china_prior_ties", "synthetic data file").failures == []


def test_real_orcid_samples_hold_no_arrival_in_china(mirror):
    samples = sorted((mirror / "orcid" / "samples").iterdir())
    records = pl.concat(orcid.records.tidy(orcid.records.parse(path)) for path in samples)
    assert records.height > 0
    ties = prior_ties_china(records)
    assert ties.height == 0  # placeholder people, none affiliated in China
    assert ties.columns == ["year", "origin_iso3", "tie", "people", "share"]


# -- e. NCSES ------------------------------------------------------------------------------


def test_chinese_us_doctorates_with_intentions_and_stay_rates(real):
    doctorates = chinese_us_doctorates(*real["ncses"])
    assert set(doctorates["measure"]) == {
        "doctorate_recipients",
        "intend_to_stay_percent",
        "stay_rate_5_year_percent",
        "stay_rate_10_year_percent",
    }
    yearly = doctorates.filter(pl.col("year").is_not_null())
    assert one(yearly, "value", measure="doctorate_recipients", field="All fields", year=2023) == (
        6_652
    )
    assert (
        one(yearly, "source_table", measure="doctorate_recipients", field="All fields", year=2023)
        == "11695"
    )
    assert one(yearly, "value", measure="intend_to_stay_percent", year=2023) == 77.5
    five = doctorates.filter(pl.col("measure") == "stay_rate_5_year_percent")
    ten = doctorates.filter(pl.col("measure") == "stay_rate_10_year_percent")
    assert (five["value"].item(), five["period"].item()) == (88.0, "2015-17")
    assert (ten["value"].item(), ten["period"].item()) == (81.0, "2010-12")
    assert five["note"].item().endswith("(including Hong Kong)'")
    keys = ["measure", "field", "year", "period"]
    assert doctorates.select(pl.struct(keys).is_duplicated().any()).item() is False


# -- suites ----------------------------------------------------------------------------------


def test_main_tables_pass_their_suites(real, students, inflows, ladder):
    assert validate_frame(students, "china_inbound_students", "real mirror").failures == []
    assert validate_frame(inflows, "china_researcher_inflows", "real mirror").failures == []
    assert validate_frame(ladder, "china_talent_ladder", "real mirror").failures == []


def test_suites_catch_a_percent_share_and_a_blended_student_series(ladder):
    as_percent = ladder.with_columns(pl.col("china_share") * 100)
    report = validate_frame(as_percent, "china_talent_ladder", "percent by mistake")
    assert any(f.kwargs.get("column") == "china_share" for f in report.failures)
    blended = pl.DataFrame(
        {"year": [2018], "series": ["uis_plus_moe"], "students": [670_456.0]}
    ).with_columns(pl.col("year").cast(pl.Int32), source=pl.lit("x"), note=pl.lit("x"))
    report = validate_frame(blended, "china_inbound_students", "blended")
    assert any(f.kwargs.get("column") == "series" for f in report.failures)
