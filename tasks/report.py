"""What a run tells the people watching it in the Prefect UI: validation summaries and a
link to Great Expectations' Data Docs.

Artifact keys are lowercase letters, digits and dashes: Prefect lists table artifacts on
its Artifacts page only when they have a key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from core.settings import get_settings
from core.storage import atomic_write_bytes
from tasks.validate import build_data_docs

VALIDATION_SUMMARY_KEY = "validation-summary"
DATA_DOCS_KEY = "data-docs"
FINDINGS_KEY = "findings"
#: MPIDR's own advice: recent years are right-censored; use 1998-2020.
MPIDR_RELIABLE_YEARS = (1998, 2020)


@task(name="validation-summary", cache_policy=NO_CACHE)
def publish_validation_summary(rows: list[dict[str, Any]], flow: str) -> None:
    """A table artifact with one row per dataset or table validated in this run."""
    failed = sum(1 for row in rows if row["status"] != "accepted")
    create_table_artifact(
        key=VALIDATION_SUMMARY_KEY,
        table=rows,
        description=f"{flow}: {len(rows)} validated, {failed} failed",
    )


@task(name="data-docs", cache_policy=NO_CACHE)
def publish_data_docs() -> Path:
    """Build GX Data Docs under the data directory and link them from the run."""
    index = build_data_docs(get_settings().data_dir)
    create_link_artifact(
        key=DATA_DOCS_KEY,
        link=index.as_uri(),
        link_text="Great Expectations Data Docs",
        description="Every validation result kept under the data directory (static HTML).",
    )
    return index


def findings_markdown(tables: dict[str, pl.DataFrame]) -> str:
    """The findings report: the seed questions and what the data says, with sources.

    ``tables`` holds the pipeline's feature tables by name: ``talent_findings``,
    ``demographic_drivers``, ``china_inbound_students``, ``china_talent_ladder``,
    ``china_researcher_inflows``."""
    findings, drivers = tables["talent_findings"], tables["demographic_drivers"]
    lines = [
        "# talentflow findings",
        "",
        "## Is China the world's second-largest STEM talent pool?",
        "",
        "China's rank among the countries reporting each measure, in the latest year in which "
        "at least 40 countries, China and the United States report it (shares are of the "
        "reporting countries' total). Definitions: docs/metrics.md.",
        "",
        "| measure | year | countries | China's rank | China | share | leader | second |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in findings.sort("metric").iter_rows(named=True):
        if row["china_rank"] is None:
            lines.append(f"| {row['metric']} | no well-covered year | | | | | | |")
            continue
        approx = " (approx.)" if row["is_approximation"] else ""
        lines.append(
            f"| {row['metric']}{approx} | {row['year']} | {row['reporting_countries']} | "
            f"{row['china_rank']} | {row['china_value']:,.0f} {row['unit']} | "
            f"{row['china_share']:.1%} | {row['leader_iso3']} ({row['leader_value']:,.0f}) | "
            f"{row['second_iso3']} ({row['second_value']:,.0f}) |"
        )
    ranks = findings.drop_nulls("china_rank")["china_rank"]
    lines += [
        "",
        f"China ranks first on {int((ranks == 1).sum())} of {ranks.len()} measures and second "
        f"on {int((ranks == 2).sum())}.",
        "",
        "## How fast is China's population ageing?",
        "",
        "UN WPP 2024, annualised from its 5-year points; the variants differ in fertility.",
        "",
        "| variant | old-age dependency 2025 | 2050 | population 20-24, 2025 | 2050 | change |",
        "|---|---|---|---|---|---|",
    ]
    china = drivers.filter(pl.col("country_iso3") == "CHN")
    for variant in ("Medium", "Low", "High"):
        rows = {
            r["year"]: r
            for r in china.filter(
                (pl.col("variant") == variant) & pl.col("year").is_in([2025, 2050])
            ).iter_rows(named=True)
        }
        if len(rows) < 2:
            continue
        start, end = rows[2025], rows[2050]
        change = end["population_20_24"] / start["population_20_24"] - 1
        lines.append(
            f"| {variant} | {start['old_age_dependency_ratio']:.2f} | "
            f"{end['old_age_dependency_ratio']:.2f} | {start['population_20_24']:,.0f} | "
            f"{end['population_20_24']:,.0f} | {change:+.1%} |"
        )
    lines += _intake_section(tables)
    lines += [
        "",
        "Sources: World Bank WDI (researchers, population, country groups), UNESCO UIS "
        "(enrolment, attainment, inbound students), NCSES Science & Engineering Indicators "
        "(S&E degrees), MPIDR Scholarly Migration Database (Scopus, OpenAlex), UN WPP 2024, "
        "China's Ministry of Education, MacroPolo Global AI Talent Tracker, ORCID. See the "
        "README's source list and docs/metrics.md.",
        "",
    ]
    return "\n".join(lines)


def _intake_section(tables: dict[str, pl.DataFrame]) -> list[str]:
    students, ladder = tables["china_inbound_students"], tables["china_talent_ladder"]
    inflows = tables["china_researcher_inflows"]
    lines = [
        "",
        "## How much foreign talent does China attract, and does its pull weaken as "
        "expertise rises?",
        "",
        "Inbound students: two series that are never added together (UIS counts "
        "degree-mobile students; the Ministry of Education counts every foreign student, "
        "short-term and non-degree included).",
        "",
        "| series | latest year | students |",
        "|---|---|---|",
    ]
    for series in students.get_column("series").unique().sort().to_list():
        latest = students.filter(pl.col("series") == series).sort("year").row(-1, named=True)
        lines.append(f"| {series} | {latest['year']} | {latest['students']:,.0f} |")
    lines += [
        "",
        "The talent ladder: China's share at each level, latest year with a value "
        "(rising order of expertise). Caveat: only the student level counts foreigners "
        "alone; researcher moves include returning Chinese researchers.",
        "",
        "| level | year | China's share | source |",
        "|---|---|---|---|",
    ]
    for level in ladder.sort("order").get_column("level").unique(maintain_order=True).to_list():
        rows = ladder.filter((pl.col("level") == level) & pl.col("china_share").is_not_null())
        if rows.is_empty():
            lines.append(f"| {level} | – | no data in the sources | |")
            continue
        for source in rows.get_column("source").unique().sort().to_list():
            latest = rows.filter(pl.col("source") == source).sort("year").row(-1, named=True)
            lines.append(f"| {level} | {latest['year']} | {latest['china_share']:.1%} | {source} |")
    top = (
        inflows.filter(pl.col("year").is_between(2016, 2020))
        .group_by("database", "origin_iso3")
        .agg(pl.col("migrations").sum())
        .sort("migrations", descending=True)
        .group_by("database", maintain_order=True)
        .head(5)
    )
    lines += ["", "Largest origins of researchers moving to China, 2016-2020:", ""]
    for database in top.get_column("database").unique().sort().to_list():
        names = top.filter(pl.col("database") == database)
        listed = ", ".join(
            f"{row['origin_iso3']} ({row['migrations']:,})" for row in names.iter_rows(named=True)
        )
        lines.append(f"- {database}: {listed}")
    shares = tables["china_inflow_shares_by_income"].filter(
        (pl.col("origin_income_group") == "High income")
        & pl.col("year").is_between(*MPIDR_RELIABLE_YEARS)
    )
    lines += [
        "",
        "Share of researcher moves into China from high-income origins (MPIDR's reliable "
        f"years {MPIDR_RELIABLE_YEARS[0]}-{MPIDR_RELIABLE_YEARS[1]}):",
        "",
    ]
    for database in shares.get_column("database").unique().sort().to_list():
        series = shares.filter(pl.col("database") == database).sort("year")
        first, last = series.row(0, named=True), series.row(-1, named=True)
        lines.append(
            f"- {database}: {first['share']:.0%} in {first['year']}, "
            f"{last['share']:.0%} in {last['year']}"
        )
    doctorates = tables["chinese_us_doctorates"]
    lines += ["", "Outbound context, Chinese recipients of US research doctorates (NCSES):", ""]
    for measure in doctorates.get_column("measure").unique().sort().to_list():
        rows = doctorates.filter(
            (pl.col("measure") == measure) & (pl.col("field") == "All fields")
        ).sort("year", nulls_last=False)
        if rows.is_empty():
            continue
        latest = rows.row(-1, named=True)
        when = latest["year"] if latest["year"] is not None else latest["period"]
        lines.append(f"- {measure}: {latest['value']:,.1f} ({when})")
    return lines


@task(name="findings-report", cache_policy=NO_CACHE)
def publish_findings_report(tables: dict[str, pl.DataFrame]) -> Path:
    """Write the findings report under the data directory and show it in the Prefect UI."""
    report = findings_markdown(tables)
    destination = get_settings().data_dir / "reports" / "findings.md"
    atomic_write_bytes(destination, report.encode("utf-8"))
    create_markdown_artifact(key=FINDINGS_KEY, markdown=report, description="talentflow findings")
    return destination
