"""China's intake of foreign talent: students, researchers, AI researchers, returnees.

Pure Polars functions over the tidy, validated tables of tasks.sources; each is named after
the table it returns. docs/metrics.md#chinas-intake-of-foreign-talent defines every column
for readers.

What this module must never do:

- Add or mix series that count different things. UIS counts *degree-mobile* tertiary
  students (UIS 26637); China's Ministry of Education (MoE) counts a *headcount of foreign
  students of all kinds*, short-term and non-degree included. They stay two series.
- Guess a value a source lacks. Where the data cannot give a share, the row says so with a
  null value and a note.
- Read files, or know about Prefect.

Places follow docs/countries.md: China is mainland China (``CHN``); Hong Kong, Macao and
Taiwan are separate places wherever a source reports them separately (so a move from Hong
Kong to the mainland is a move into China here), except NCSES's stay-rate table, whose
"China (including Hong Kong)" the alias table maps to ``CHN``.
"""

from __future__ import annotations

import re

import polars as pl

from talentflow.core.facts import MPIDR_RELIABLE_YEARS

CHINA = "CHN"
#: UIS indicator: total inbound internationally mobile tertiary students, both sexes.
UIS_INBOUND = "26637"
UIS_SERIES = "uis_degree_mobile"
MOE_SERIES = "moe_all_kinds_headcount"
UIS_SOURCE = "UIS Data API, indicator 26637"
MOE_TOTAL_METRIC = "international_students_total"

#: The MoE's ``metric`` prefixes that count inbound students by one dimension, and the
#: dimension each one is. Rank lists, counts of countries or institutions, year-on-year
#: increases and Chinese students going abroad are not inbound counts and are left out.
MOE_DIMENSIONS: dict[str, str] = {
    "international_students_by_level": "level",
    "international_students_by_continent": "origin_continent",
    "international_students_by_origin_country": "origin_country",
    "international_students_by_origin_group": "origin_group",
    "international_students_by_host_province": "host_province",
    "international_students_by_host_region": "host_region",
    "international_students_by_funding": "funding",
}
MOE_BREAKDOWN = r"^international_students_by_"

#: Labels for origins the World Bank list cannot classify, so that shares still add to 1.
NOT_IN_WORLD_BANK_LIST = "Not in World Bank list"
UNKNOWN_ORIGIN = "Unknown origin"
HIGH_INCOME = "High income"
#: The World Bank's four income groups, as ``world_bank.country_list`` spells them.
INCOME_GROUP_LABELS = (HIGH_INCOME, "Upper middle income", "Lower middle income", "Low income")

#: The rungs of the talent ladder, in rising order of expertise.
LADDER_LEVELS = {"students": 1, "doctoral": 2, "researchers": 3, "top_ai_researchers": 4}
MACROPOLO_COHORT = "top-tier"
MACROPOLO_WORK_SHARE = "share_by_current_work_country"
MOE_DOCTORAL_CATEGORY = "doctoral students"
#: How many of the largest UIS hosts the students rung names when they did not report.
LARGEST_HOSTS_NAMED = 10

#: ORCID affiliation sections that place a person in a country for the prior-ties table.
CAREER_AFFILIATIONS = ("education", "employment")
RETURNEE = "returnee"
NO_PRIOR_TIE = "no_prior_tie"

#: NCSES measures as published, and the names this module gives them.
NCSES_MEASURES = {
    "doctorate_recipients": "doctorate_recipients",
    "staying_percent": "intend_to_stay_percent",
    "stay_rate_5_year_percent": "stay_rate_5_year_percent",
    "stay_rate_10_year_percent": "stay_rate_10_year_percent",
}
#: Which NCSES table gives which measure (a table repeating another's counts is not used
#: for them: SED 2-8 repeats SED 7-7's yearly recipients, SED 7-8 its 2023 count).
NCSES_TABLE_MEASURES = {
    "11695": ("doctorate_recipients",),
    "11762": ("staying_percent", "doctorate_recipients"),
    "10996": ("doctorate_recipients", "stay_rate_5_year_percent", "stay_rate_10_year_percent"),
}


# -- a. inbound students -----------------------------------------------------------------


def inbound_students_china(uis_inbound: pl.DataFrame, moe_students: pl.DataFrame) -> pl.DataFrame:
    """Two separate series of foreign students in China: ``year, series, students, source,
    note``, one row per series and year.

    - ``uis_degree_mobile``: UIS 26637 for ``CHN`` (tidy ``uis.api_records``): students who
      crossed a border to enrol in a tertiary programme in China.
    - ``moe_all_kinds_headcount``: the MoE's total of foreign students of all kinds
      (tidy ``china_moe.international_students``, metric ``international_students_total``),
      short-term and non-degree included; Hong Kong, Macao and Taiwan excluded.

    The two count different people and are never added, averaged or used to fill each
    other's gaps: select one ``series``."""
    uis = uis_inbound.filter(
        (pl.col("indicator_id") == UIS_INBOUND)
        & (pl.col("country_iso3") == CHINA)
        & pl.col("value").is_not_null()
    ).select(
        pl.col("year").cast(pl.Int32),
        pl.lit(UIS_SERIES).alias("series"),
        pl.col("value").cast(pl.Float64).alias("students"),
        pl.lit(UIS_SOURCE).alias("source"),
        pl.concat_str(
            pl.lit("internationally mobile tertiary students enrolled in China (ISCED 5-8)"),
            pl.when(pl.col("qualifier").is_not_null()).then(
                pl.lit("; UIS qualifier ") + pl.col("qualifier")
            ),
            ignore_nulls=True,
        ).alias("note"),
    )
    moe = moe_students.filter(
        (pl.col("metric") == MOE_TOTAL_METRIC) & pl.col("value").is_not_null()
    ).select(
        pl.col("year").cast(pl.Int32),
        pl.lit(MOE_SERIES).alias("series"),
        pl.col("value").cast(pl.Float64).alias("students"),
        pl.concat_str(pl.lit("China MoE, as reprinted at "), pl.col("source_url")).alias("source"),
        pl.concat_str(
            pl.lit("foreign students of all kinds, non-degree and short-term included"),
            pl.when(pl.col("note").is_not_null()).then(pl.lit("; ") + pl.col("note")),
            ignore_nulls=True,
        ).alias("note"),
    )
    return pl.concat([uis, moe]).sort("series", "year")


def moe_students_by_category(moe_students: pl.DataFrame) -> pl.DataFrame:
    """The MoE's breakdowns of foreign students in China, as published: ``year, dimension,
    category, origin_iso3, students, metric, note``.

    ``dimension`` is one of :data:`MOE_DIMENSIONS`' values (level, origin_continent,
    origin_country, origin_group, host_province, host_region, funding); ``origin_iso3`` is
    set for origin countries only. Categories of one dimension may nest ("degree students
    (all levels)" holds "master and doctoral students", which holds "doctoral students")
    and origin-country lists are top-N lists: never sum a dimension to a total.

    A new ``international_students_by_*`` metric not in :data:`MOE_DIMENSIONS` raises
    ValueError rather than vanish."""
    breakdowns = moe_students.filter(pl.col("metric").str.contains(MOE_BREAKDOWN))
    prefixes = "|".join(re.escape(prefix) for prefix in MOE_DIMENSIONS)
    unknown = breakdowns.filter(~pl.col("metric").str.contains(f"^(?:{prefixes})"))
    if unknown.height:
        raise ValueError(
            "China MoE international students: no dimension for metric(s) "
            f"{sorted(set(unknown['metric']))}; add them to "
            "tasks.features.intake.MOE_DIMENSIONS"
        )
    dimension = pl.lit(None, dtype=pl.String)
    for prefix, name in reversed(MOE_DIMENSIONS.items()):
        dimension = (
            pl.when(pl.col("metric").str.starts_with(prefix))
            .then(pl.lit(name))
            .otherwise(dimension)
        )
    return (
        breakdowns.filter(pl.col("value").is_not_null())
        .select(
            pl.col("year").cast(pl.Int32),
            dimension.alias("dimension"),
            "category",
            pl.when(pl.col("geo_kind") == "country")
            .then(pl.col("origin_iso3"))
            .alias("origin_iso3"),
            pl.col("value").cast(pl.Float64).alias("students"),
            "metric",
            "note",
        )
        .sort("year", "dimension", pl.col("students"), descending=[False, False, True])
    )


# -- b. researcher inflows -----------------------------------------------------------------


def researcher_inflows_china(mpidr_flows: pl.DataFrame, country_list: pl.DataFrame) -> pl.DataFrame:
    """Researchers moving into China by origin: ``year, database, origin_iso3, origin_code,
    origin_region, origin_income_group, migrations, is_censored``.

    ``mpidr_flows``: tidy ``mpidr.flows`` of one or both databases (concatenated); Scopus
    and OpenAlex stay separate rows (``database``), never added. Only moves between two
    places (``flow_kind == "migration"``) count; entries (first seen in China) are not
    moves. ``origin_region`` and ``origin_income_group`` are the World Bank's current
    classification (tidy ``world_bank.country_list``), applied to every year; origins the
    list does not hold (Taiwan) are "Not in World Bank list", unplaced origins (Scopus
    ``EUE``, OpenAlex ``nan``) "Unknown origin". ``is_censored`` marks years from 2022
    (the MPIDR's own flag); analyses should keep to 1998-2020."""
    classes = country_list.filter(pl.col("country_iso3").is_not_null()).select(
        pl.col("country_iso3").alias("origin_iso3"),
        pl.col("region").alias("_region"),
        pl.col("income_level").alias("_income"),
    )
    inflows = mpidr_flows.filter(
        (pl.col("flow_kind") == "migration") & (pl.col("destination_iso3") == CHINA)
    ).join(classes, on="origin_iso3", how="left")

    def labelled(column: str) -> pl.Expr:
        return (
            pl.when(pl.col("origin_iso3").is_null())
            .then(pl.lit(UNKNOWN_ORIGIN))
            .when(pl.col(column).is_null())
            .then(pl.lit(NOT_IN_WORLD_BANK_LIST))
            .otherwise(pl.col(column))
        )

    return inflows.select(
        pl.col("year").cast(pl.Int32),
        "database",
        "origin_iso3",
        "origin_code",
        labelled("_region").alias("origin_region"),
        labelled("_income").alias("origin_income_group"),
        "migrations",
        "is_censored",
    ).sort("database", "year", "origin_code")


def inflow_shares_by_income_group(inflows: pl.DataFrame) -> pl.DataFrame:
    """Share of researcher moves into China by the origin's World Bank income group:
    ``year, database, origin_income_group, migrations, share, is_censored``.

    ``inflows`` is :func:`researcher_inflows_china`'s table. Every group seen in a database
    gets a row in each of its years (0 where no one came), so the ``High income`` rows form
    an unbroken series; shares add to 1 per year and database."""
    totals = inflows.group_by("database", "year", "origin_income_group").agg(
        pl.col("migrations").sum(), pl.col("is_censored").first()
    )
    grid = (
        totals.select("database", "year", "is_censored")
        .unique()
        .join(totals.select("database", "origin_income_group").unique(), on="database")
    )
    return (
        grid.join(
            totals.drop("is_censored"),
            on=["database", "year", "origin_income_group"],
            how="left",
        )
        .with_columns(pl.col("migrations").fill_null(0))
        .with_columns(
            (pl.col("migrations") / pl.col("migrations").sum().over("database", "year")).alias(
                "share"
            )
        )
        .select("year", "database", "origin_income_group", "migrations", "share", "is_censored")
        .sort("database", "year", "origin_income_group")
    )


# -- c. the talent ladder ------------------------------------------------------------------

LADDER_SCHEMA: dict[str, pl.DataType] = {
    "level": pl.String(),
    "order": pl.Int32(),
    "year": pl.Int32(),
    "china_share": pl.Float64(),
    "source": pl.String(),
    "note": pl.String(),
    "china_count": pl.Float64(),
    "total_count": pl.Float64(),
}


def _ladder_rows(frame: pl.DataFrame, level: str) -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(level).alias("level"), pl.lit(LADDER_LEVELS[level]).alias("order")
    ).select(
        [pl.col(name).cast(dtype) for name, dtype in LADDER_SCHEMA.items()],
    )


def china_share_of_inbound_students(uis_inbound: pl.DataFrame) -> pl.DataFrame:
    """Ladder rung 1: China's UIS 26637 over the sum of 26637 for the countries reporting
    it that year (not a world total: who reports changes from year to year). The note
    names the largest hosts (:data:`LARGEST_HOSTS_NAMED`, by their highest count in any
    year) that did not report that year, whose absence raises China's share."""
    reporting = uis_inbound.filter(
        (pl.col("indicator_id") == UIS_INBOUND)
        & (pl.col("geo_kind") == "country")
        & pl.col("value").is_not_null()
    )
    largest = (
        reporting.group_by("country_iso3")
        .agg(pl.col("value").max())
        .sort("value", "country_iso3", descending=[True, False])
        .head(LARGEST_HOSTS_NAMED)["country_iso3"]
        .to_list()
    )
    by_year = reporting.group_by("year").agg(
        pl.col("value").filter(pl.col("country_iso3") == CHINA).sum().alias("china_count"),
        (pl.col("country_iso3") == CHINA).any().alias("_china_reported"),
        pl.col("value").sum().alias("total_count"),
        pl.len().alias("_countries"),
        pl.lit(largest, dtype=pl.List(pl.String))
        .list.set_difference(pl.col("country_iso3").implode())
        .list.sort()
        .list.join(", ")
        .alias("_missing"),
    )
    return _ladder_rows(
        by_year.filter(pl.col("_china_reported")).with_columns(
            (pl.col("china_count") / pl.col("total_count")).alias("china_share"),
            pl.lit(UIS_SOURCE).alias("source"),
            pl.concat_str(
                pl.lit("share of inbound internationally mobile tertiary students in the "),
                pl.col("_countries").cast(pl.String),
                pl.lit(" countries reporting to UIS that year (not a world total)"),
                pl.when(pl.col("_missing") != "").then(
                    pl.lit(f"; not reporting, among the {LARGEST_HOSTS_NAMED} largest hosts: ")
                    + pl.col("_missing")
                ),
                ignore_nulls=True,
            ).alias("note"),
        ),
        "students",
    )


def china_share_of_international_doctoral_students(moe_students: pl.DataFrame) -> pl.DataFrame:
    """Ladder rung 2: null shares, one row per year the MoE counted foreign doctoral
    students in China. No source in the mirror counts the world's internationally mobile
    doctoral students (UIS 26637 covers all tertiary levels), so no share can be made."""
    doctoral = moe_students.filter(
        pl.col("metric").str.starts_with("international_students_by_level")
        & (pl.col("category") == MOE_DOCTORAL_CATEGORY)
        & pl.col("value").is_not_null()
    )
    return _ladder_rows(
        doctoral.select(
            "year",
            pl.lit(None, dtype=pl.Float64).alias("china_share"),
            pl.lit("China MoE (numerator only)").alias("source"),
            pl.lit(
                "not computable: the MoE counts foreign doctoral students in China "
                "(china_count), but no source here counts internationally mobile doctoral "
                "students worldwide (UIS 26637 is all tertiary levels; NCSES counts doctorates "
                "earned in the US, China as origin)"
            ).alias("note"),
            pl.col("value").alias("china_count"),
            pl.lit(None, dtype=pl.Float64).alias("total_count"),
        ),
        "doctoral",
    )


def china_share_of_researcher_destinations(mpidr_flows: pl.DataFrame) -> pl.DataFrame:
    """Ladder rung 3: per database and year (1998-2020 only), moves into China over all
    moves between two places (``flow_kind == "migration"``) in the database."""
    first, last = MPIDR_RELIABLE_YEARS
    moves = mpidr_flows.filter(
        (pl.col("flow_kind") == "migration") & pl.col("year").is_between(first, last)
    )
    by_year = moves.group_by("database", "year").agg(
        pl.col("migrations").filter(pl.col("destination_iso3") == CHINA).sum().alias("china_count"),
        pl.col("migrations").sum().alias("total_count"),
    )
    return _ladder_rows(
        by_year.with_columns(
            (pl.col("china_count") / pl.col("total_count")).alias("china_share"),
            pl.concat_str(pl.lit("MPIDR Scholarly Migration Database, "), pl.col("database")).alias(
                "source"
            ),
            pl.lit(
                "share of all researcher moves between countries that end in China; includes "
                "Chinese researchers returning (nationality unknown) and moves from Hong Kong, "
                f"Macao and Taiwan; years {first}-{last} only (later years censored)"
            ).alias("note"),
        ),
        "researchers",
    )


def china_share_of_top_ai_workplaces(macropolo_figures: pl.DataFrame) -> pl.DataFrame:
    """Ladder rung 4: MacroPolo's share of top-tier AI researchers (NeurIPS accepted-paper
    authors) whose current employer is in China, per edition; ``year`` is the NeurIPS
    sample's year (2019 for edition 1.0, 2022 for 2.0)."""
    china = macropolo_figures.filter(
        (pl.col("metric") == MACROPOLO_WORK_SHARE)
        & pl.col("cohort").str.starts_with(MACROPOLO_COHORT)
        & (pl.col("country_iso3") == CHINA)
        & (pl.col("unit") == "percent")
    )
    return _ladder_rows(
        china.select(
            pl.col("conference_sample").str.extract(r"(\d{4})").cast(pl.Int32).alias("year"),
            (pl.col("value") / 100).alias("china_share"),
            pl.concat_str(pl.lit("MacroPolo Global AI Talent Tracker "), pl.col("edition")).alias(
                "source"
            ),
            pl.concat_str(
                pl.lit("share of top-tier AI researchers (any nationality, Chinese included) "),
                pl.lit("whose current employer is in China; "),
                pl.col("conference_sample"),
                pl.lit(" sample, published rounded to whole percent"),
            ).alias("note"),
            pl.lit(None, dtype=pl.Float64).alias("china_count"),
            pl.lit(None, dtype=pl.Float64).alias("total_count"),
        ),
        "top_ai_researchers",
    )


def talent_ladder_china(
    uis_inbound: pl.DataFrame,
    moe_students: pl.DataFrame,
    mpidr_flows: pl.DataFrame,
    macropolo_figures: pl.DataFrame,
) -> pl.DataFrame:
    """China's share of each rung of the international talent ladder: ``level, order, year,
    china_share, source, note, china_count, total_count``.

    ``order`` rises with expertise: 1 students (UIS 26637, share of reporting countries),
    2 doctoral (null: not computable from the data, see the note), 3 researchers (MPIDR
    moves ending in China, per database), 4 top_ai_researchers (MacroPolo workplace share).
    ``china_share`` is a fraction (0-1); ``china_count``/``total_count`` are its numerator
    and denominator where the share was computed here (persons or moves). The rungs measure
    different things (see docs/metrics.md#china_talent_ladder-talent_ladder_china) — compare
    their trends, not their levels alone. Inputs: tidy ``uis.api_records``,
    ``china_moe.international_students``, ``mpidr.flows`` (both databases concatenated) and
    ``macropolo.figures``."""
    return pl.concat(
        [
            china_share_of_inbound_students(uis_inbound),
            china_share_of_international_doctoral_students(moe_students),
            china_share_of_researcher_destinations(mpidr_flows),
            china_share_of_top_ai_workplaces(macropolo_figures),
        ]
    ).sort("order", "year", "source")


# -- d. prior ties of people arriving in China (ORCID) ---------------------------------------

ARRIVAL_SCHEMA: dict[str, pl.DataType] = {
    "orcid": pl.String(),
    "year": pl.Int32(),
    "origin_iso3": pl.String(),
    "tie": pl.String(),
    "first_abroad_year": pl.Int32(),
    "first_china_year": pl.Int32(),
}


def _dated_career(affiliations: pl.DataFrame, kinds: tuple[str, ...]) -> pl.DataFrame:
    """Education and employment affiliations placed in a country and a year: ``orcid,
    dated_year, end_year, country_iso3, in_china``. An affiliation's year is its start year,
    or its end year when ORCID holds no start (graduations often have only an end)."""
    if "country_iso3" not in affiliations.columns:  # the raw extractor's output
        raise ValueError(
            "ORCID affiliations without country_iso3: tidy the extractor's rows first "
            "(talentflow.tasks.sources.orcid.tidy_records); features never read sources"
        )
    return affiliations.filter(
        pl.col("affiliation_type").is_in(kinds)
        & pl.col("country_iso3").is_not_null()
        & pl.col("orcid").is_not_null()
        & pl.coalesce("start_year", "end_year").is_not_null()
    ).select(
        "orcid",
        pl.coalesce("start_year", "end_year").cast(pl.Int32).alias("dated_year"),
        pl.col("end_year").cast(pl.Int32),
        "country_iso3",
        (pl.col("country_iso3") == CHINA).alias("in_china"),
    )


def china_arrivals(
    affiliations: pl.DataFrame, kinds: tuple[str, ...] = CAREER_AFFILIATIONS
) -> pl.DataFrame:
    """One row per person whose ORCID career brings them into China from abroad: ``orcid,
    year, origin_iso3, tie, first_abroad_year, first_china_year``.

    ``affiliations``: tidy ``orcid.records`` frames or the raw rows of
    ``iter_affiliations_from_tarball`` (tidied here). Only ``kinds`` (education and
    employment) with a country and a year count (:func:`_dated_career`).

    Definitions, on each person's affiliation years:

    - *first abroad* = the earliest year of an affiliation outside China (``CHN``; Hong
      Kong, Macao and Taiwan are outside).
    - *arrival* (``year``) = the earliest China affiliation whose year is strictly after the
      first abroad year. A person with no such affiliation (only China, only abroad, or
      China then abroad) did not arrive and has no row.
    - ``tie = "returnee"`` when a China affiliation's year is strictly before the first
      abroad year (education or work in China, then abroad, then China again);
      ``"no_prior_tie"`` when every China affiliation is after the first abroad one.
      Affiliations starting in the same year as the first abroad one are neither before
      nor after it: they make no tie and no arrival.
    - ``origin_iso3`` = the country of the last affiliation abroad dated before the
      arrival (latest year; ties go to the later end, ongoing counting as latest, then to
      the alphabetically last code, so the answer is deterministic).

    A person's records are never split across the tarball extractor's batches, so the
    function can run batch by batch and the results be concatenated."""
    career = _dated_career(affiliations, kinds)
    first_abroad = career.group_by("orcid").agg(
        pl.col("dated_year").filter(~pl.col("in_china")).min().alias("first_abroad_year")
    )
    career = career.join(first_abroad.drop_nulls(), on="orcid", how="inner")
    china = career.filter(pl.col("in_china"))
    arrivals = (
        china.filter(pl.col("dated_year") > pl.col("first_abroad_year"))
        .group_by("orcid")
        .agg(pl.col("dated_year").min().alias("year"), pl.col("first_abroad_year").first())
    )
    prior = (
        china.filter(pl.col("dated_year") < pl.col("first_abroad_year"))
        .group_by("orcid")
        .agg(pl.col("dated_year").min().alias("first_china_year"))
    )
    origins = (
        career.join(arrivals.select("orcid", "year"), on="orcid", how="inner")
        .filter(~pl.col("in_china") & (pl.col("dated_year") < pl.col("year")))
        .sort("orcid", "dated_year", "end_year", "country_iso3", nulls_last=True)
        .group_by("orcid", maintain_order=True)
        .agg(pl.col("country_iso3").last().alias("origin_iso3"))
    )
    return (
        arrivals.join(origins, on="orcid", how="left")
        .join(prior, on="orcid", how="left")
        .with_columns(
            pl.when(pl.col("first_china_year").is_not_null())
            .then(pl.lit(RETURNEE))
            .otherwise(pl.lit(NO_PRIOR_TIE))
            .alias("tie")
        )
        .select([pl.col(name).cast(dtype) for name, dtype in ARRIVAL_SCHEMA.items()])
        .sort("year", "orcid")
    )


def prior_ties_by_year(arrivals: pl.DataFrame) -> pl.DataFrame:
    """``year, origin_iso3, tie, people, share`` from :func:`china_arrivals` rows (of one or
    many batches): people arriving in China that year from that origin with that tie;
    ``share`` = people / all arrivals of the year (adds to 1 per year)."""
    return (
        arrivals.group_by("year", "origin_iso3", "tie")
        .agg(pl.len().cast(pl.Int64).alias("people"))
        .with_columns((pl.col("people") / pl.col("people").sum().over("year")).alias("share"))
        .select("year", "origin_iso3", "tie", "people", "share")
        .sort("year", "tie", "origin_iso3")
    )


def prior_ties_china(
    affiliations: pl.DataFrame, kinds: tuple[str, ...] = CAREER_AFFILIATIONS
) -> pl.DataFrame:
    """Arrivals in China by year, origin and prior tie to China, from ORCID affiliations:
    ``year, origin_iso3, tie ("returnee" | "no_prior_tie"), people, share``. Definitions in
    :func:`china_arrivals`; for the full public data file, run :func:`china_arrivals` on each
    batch of ``iter_affiliations_from_tarball`` and pass the concatenation to
    :func:`prior_ties_by_year`."""
    return prior_ties_by_year(china_arrivals(affiliations, kinds))


# -- e. Chinese doctorate recipients in the US (NCSES) -------------------------------------


def chinese_us_doctorates(*ncses_tables: pl.DataFrame) -> pl.DataFrame:
    """Chinese temporary-visa holders earning US research doctorates, and how many stay:
    ``year, period, measure, field, value, source_table, note``.

    Inputs: tidy ``ncses.table`` frames of SED 7-7 (11695: ``doctorate_recipients`` by year
    and field), SED 2-8 (11762: ``intend_to_stay_percent`` by year and pooled over
    2017-23, with the pooled recipients it is a share of) and LBR-4 (10996:
    ``stay_rate_5_year_percent`` and ``stay_rate_10_year_percent`` with their graduation
    cohorts' ``doctorate_recipients``). Other tables (SED 7-8, 11696, repeats 11695's
    2023 count) are ignored. Multi-year figures have ``period`` (e.g. "2017-23") and a null
    ``year``; a stay rate takes the period of the cohort column published just before it
    (the LBR-4 layout pairs them: 5-year rate with 2015-17, 10-year with 2010-12).
    ``value`` is persons or percent, as ``measure`` says."""
    tables = [t for t in ncses_tables if t.height and t["table_id"][0] in NCSES_TABLE_MEASURES]
    if not tables:
        raise ValueError(
            "chinese_us_doctorates: none of the NCSES tables 11695, 11762 or 10996 was given"
        )
    frames = []
    for table in tables:
        table_id = table["table_id"][0]
        rows = table.filter(pl.col("country_iso3") == CHINA).with_columns(
            pl.col("period").forward_fill().over("row_id").alias("_period_before")
        )
        wanted = pl.col("measure").is_in(NCSES_TABLE_MEASURES[table_id])
        if table_id == "11762":  # its yearly recipients repeat SED 7-7's; keep the pooled one
            wanted &= (pl.col("measure") != "doctorate_recipients") | pl.col("period").is_not_null()
        is_rate = pl.col("measure").str.starts_with("stay_rate_")
        frames.append(
            rows.filter(wanted & pl.col("value").is_not_null()).select(
                pl.col("year").cast(pl.Int32),
                pl.when(is_rate)
                .then(pl.col("_period_before"))
                .otherwise(pl.col("period"))
                .alias("period"),
                pl.col("measure").replace_strict(NCSES_MEASURES),
                "field",
                "value",
                "table_id",
                pl.concat_str(
                    pl.lit("published as '"),
                    pl.col("country"),
                    pl.lit("'"),
                    pl.when(pl.col("country") == "China").then(
                        pl.lit(" (NCSES's footnote on its scope is not in the mirror)")
                    ),
                    ignore_nulls=True,
                ).alias("note"),
            )
        )
    result = pl.concat(frames).rename({"table_id": "source_table"})
    unpaired = result.filter(
        pl.col("measure").str.starts_with("stay_rate_") & pl.col("period").is_null()
    )
    if unpaired.height:
        raise ValueError(
            "chinese_us_doctorates: a stay rate in NCSES table "
            f"{unpaired['source_table'][0]} has no graduation cohort column before it; "
            "has the LBR-4 layout changed?"
        )
    return result.select(
        "year", "period", "measure", "field", "value", "source_table", "note"
    ).sort("measure", "field", "year", "period", nulls_last=True)


#: UIS's own world total of inbound internationally mobile tertiary students (26637); the
#: same number is published under four aggregate labels (MDG, SDG, UIS, WB).
UIS_WORLD_GEO_UNIT = "UIS: World"
#: The host code a world total carries in talentflow's tables (the World Bank's code).
WORLD = "WLD"


def inbound_student_shares(uis_inbound: pl.DataFrame) -> pl.DataFrame:
    """Each host's share of the world's internationally mobile tertiary students: ``host_iso3,
    year, students, world_students, share``, one row per host and year (UIS 26637).

    ``world_students`` is UIS's own world total (geo unit ``UIS: World``), not a sum of
    the hosts that reported: a sum would shrink in a year a large host did not report.
    A year without a world total has no rows. The world total itself is one more row per
    year with ``host_iso3 == "WLD"`` and share 1, so the table holds the denominator too.

    Caveat: China reports no origins of its inbound students, so its share counts every
    mobile student it hosts, as every host's does."""
    inbound = uis_inbound.filter(
        (pl.col("indicator_id") == UIS_INBOUND) & pl.col("value").is_not_null()
    )
    world = inbound.filter(pl.col("geo_unit") == UIS_WORLD_GEO_UNIT).select(
        pl.col("year").cast(pl.Int32), pl.col("value").cast(pl.Float64).alias("world_students")
    )
    hosts = inbound.filter(pl.col("country_iso3").is_not_null()).select(
        pl.col("country_iso3").alias("host_iso3"),
        pl.col("year").cast(pl.Int32),
        pl.col("value").cast(pl.Float64).alias("students"),
    )
    totals = world.select(
        pl.lit(WORLD).alias("host_iso3"), "year", pl.col("world_students").alias("students")
    )
    return (
        pl.concat([hosts, totals])
        .join(world, on="year", how="inner")
        .with_columns((pl.col("students") / pl.col("world_students")).alias("share"))
        .select("host_iso3", "year", "students", "world_students", "share")
        .sort("host_iso3", "year")
    )


def researcher_move_shares(
    mpidr_flows: pl.DataFrame,
    country_list: pl.DataFrame,
    database: str = "scopus",
    years: tuple[int, int] = MPIDR_RELIABLE_YEARS,
) -> pl.DataFrame:
    """Where researchers leaving each World Bank income group go: ``destination_iso3,
    origin_income_group, year, moves, moves_abroad, share``.

    ``moves`` are MPIDR moves (``flow_kind == "migration"``, one database, MPIDR's
    reliable years) from the group's countries to the destination; ``moves_abroad`` all
    moves from the group's countries to any other country (the sum over destinations,
    other members of the group included); ``share`` their ratio. Origins are classified
    with the World Bank's current list (tidy ``world_bank.country_list``), applied to every
    year; origins outside the four groups (Taiwan, Venezuela, unplaced codes) and
    destinations without a country code are left out of both. A row per destination that
    received at least one move from the group that year."""
    first, last = years
    classes = country_list.filter(
        pl.col("country_iso3").is_not_null() & pl.col("income_level").is_in(INCOME_GROUP_LABELS)
    ).select(
        pl.col("country_iso3").alias("origin_iso3"),
        pl.col("income_level").alias("origin_income_group"),
    )
    moves = (
        mpidr_flows.filter(
            (pl.col("flow_kind") == "migration")
            & (pl.col("database") == database)
            & pl.col("year").is_between(first, last)
            & pl.col("destination_iso3").is_not_null()
            & (pl.col("destination_iso3") != pl.col("origin_iso3"))
        )
        .join(classes, on="origin_iso3", how="inner")
        .group_by("destination_iso3", "origin_income_group", pl.col("year").cast(pl.Int32))
        .agg(pl.col("migrations").sum().cast(pl.Float64).alias("moves"))
        .filter(pl.col("moves") > 0)
    )
    return (
        moves.with_columns(
            pl.col("moves").sum().over("origin_income_group", "year").alias("moves_abroad")
        )
        .with_columns((pl.col("moves") / pl.col("moves_abroad")).alias("share"))
        .sort("origin_income_group", "destination_iso3", "year")
    )
