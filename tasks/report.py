"""What a run tells the people watching it in the Prefect UI: validation summaries and a
link to Great Expectations' Data Docs.

Artifact keys are lowercase letters, digits and dashes: Prefect lists table artifacts on
its Artifacts page only when they have a key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import Any

import polars as pl
from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from talentflow.core.facts import (
    COVERAGE_GOAL,
    HANDOVER_YEARS,
    HEADLINE_TARGETS,
    HEADLINE_YEARS,
    LONG_COVERAGE_GOAL,
    LONG_HORIZONS,
    MASE_GOAL,
    MPIDR_RELIABLE_YEARS,
    PUBLISHED_PROJECTIONS,
    SHORT_HORIZONS,
    compact_number,
)
from talentflow.core.settings import get_settings
from talentflow.core.storage import (
    atomic_write_bytes,
    backtest_report_path,
    data_docs_in_reports,
    findings_report_path,
    report_url,
    run_report_path,
)
from talentflow.tasks.features.demography import VARIANTS
from talentflow.tasks.validate import build_data_docs

VALIDATION_SUMMARY_KEY = "validation-summary"
DATA_DOCS_KEY = "data-docs"
FINDINGS_KEY = "findings"


@task(name="validation-summary", cache_policy=NO_CACHE)
def publish_validation_summary(rows: list[dict[str, Any]], flow: str) -> None:
    """A table artifact with one row per dataset or table validated in this run. Rows are
    written whole (``flows.ingest``): a failure's cause is never cut short, and warnings
    are counted per kind with the file that lists them."""
    failed = sum(1 for row in rows if row["status"] != "accepted")
    create_table_artifact(
        key=VALIDATION_SUMMARY_KEY,
        table=rows,
        description=f"{flow}: {len(rows)} validated, {failed} failed",
    )


@task(name="data-docs", cache_policy=NO_CACHE)
def publish_data_docs() -> Path:
    """Build GX Data Docs under the data directory and link them from the run: at
    ``<report_base_url>/data-docs/index.html`` when a report site is set (the site is
    linked into the reports folder), else as the file, whose path the description gives."""
    settings = get_settings()
    index = build_data_docs(settings.data_dir)
    what = "Every validation result kept under the data directory (static HTML)."
    if settings.report_base_url is not None:
        link = report_url(settings, data_docs_in_reports(settings, index))
        description = what
    else:
        link = index.as_uri()
        description = f"{what} {_where_the_file_is(index)}"
    create_link_artifact(
        key=DATA_DOCS_KEY,
        link=link,
        link_text="Great Expectations Data Docs",
        description=description,
    )
    return index


def _where_the_file_is(path: Path) -> str:
    """Where a report is, for an artifact whose link a browser will not follow from the
    Prefect UI (a ``file://`` link from an http page)."""
    return (
        f"The file is {path} on the machine that ran the flow; set "
        "TALENTFLOW_REPORT_BASE_URL to a web server over the reports folder to link it."
    )


def _report_description(title: str, destination: Path) -> str:
    """A markdown artifact's description: what it is, and where its file is (a link when
    a report site serves the reports folder)."""
    settings = get_settings()
    if settings.report_base_url is not None:
        return f"{title}; also at {report_url(settings, destination)}"
    return f"{title}; also in {destination}"


def variant_spread(forecasts: pl.DataFrame, year: int = HEADLINE_YEARS[-1]) -> pl.DataFrame:
    """Per headline series (``core.facts.HEADLINE_TARGETS``; every origin group): the
    selected forecast in ``year`` under Low, Medium and High, and the first year the
    variants differ by more than 0.5 % of Medium (null when they never do up to
    ``year``): before it, everyone in the target's cohort is already born."""
    wanted = pl.any_horizontal(
        *[
            (pl.col("target") == target) & pl.col("country_iso3").is_in(places)
            for target, places in HEADLINE_TARGETS.items()
        ]
    )
    keys = ["target", "country_iso3", "origin_group"]
    wide = (
        forecasts.filter(wanted & pl.col("is_selected") & pl.col("scenario").is_in(VARIANTS))
        .pivot(on="scenario", index=[*keys, "year"], values="yhat")
        .with_columns(
            ((pl.col("High") - pl.col("Low")).abs() > 0.005 * pl.col("Medium")).alias("_differ")
        )
    )
    return (
        wide.group_by(keys)
        .agg(
            pl.col("year").filter(pl.col("_differ")).min().alias("first_year_apart"),
            *[pl.col(v).filter(pl.col("year") == year).first().alias(v.lower()) for v in VARIANTS],
        )
        .sort(keys, nulls_last=True)
    )


def findings_markdown(
    tables: dict[str, pl.DataFrame], forecasts: pl.DataFrame | None = None
) -> str:
    """The findings report: the seed questions and what the data says, with sources.

    ``tables`` holds the pipeline's feature tables by name: ``talent_findings``,
    ``demographic_drivers``, ``china_inbound_students``, ``china_talent_ladder``,
    ``china_researcher_inflows``, and ``seed_claims`` when the run has it (the report then
    opens with the claims' verdicts); ``forecasts`` (the run's), when given, adds what the
    WPP variants change in the headline forecasts."""
    findings, drivers = tables["talent_findings"], tables["demographic_drivers"]
    lines = ["# talentflow findings", ""]
    if "seed_claims" in tables:
        lines += claims_markdown(tables["seed_claims"])
    lines += [
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
    if forecasts is not None:
        lines += _ageing_section(forecasts)
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


def _cell(text: str) -> str:
    """Text safe in a markdown table cell."""
    return text.replace("|", "/").replace("\n", " ")


def claims_markdown(claims: pl.DataFrame) -> list[str]:
    """The seed's claims (``seed_claims``): a summary table of verdicts, then each claim's
    numbers, rule, sources and caveats."""
    lines = [
        "## The seed's claims, tested on this run's data",
        "",
        "Each verdict is computed from the data by the rule given, so a refresh can change it "
        "(docs/metrics.md, *The seed's claims*; table `seed_claims`).",
        "",
        "| claim | verdict |",
        "|---|---|",
    ]
    rows = list(claims.sort("claim").iter_rows(named=True))
    lines += [
        f"| ({row['claim']}) {_cell(row['statement'])} | **{row['verdict']}** |" for row in rows
    ]
    for row in rows:
        lines += [
            "",
            f"### ({row['claim']}) {row['verdict']}",
            "",
            row["statement"],
            "",
            f"- Numbers: {row['evidence']}",
            f"- Rule: {row['rule']}",
            f"- Sources: {row['sources']}; tables: {row['tables']}.",
            f"- Caveats: {row['caveats']}",
        ]
    return [*lines, ""]


def _ageing_section(forecasts: pl.DataFrame) -> list[str]:
    """What the WPP variants change in each headline forecast, and from when they can."""
    spread = variant_spread(forecasts)
    year = HEADLINE_YEARS[-1]
    lines = [
        "",
        f"## What ageing changes in the forecasts to {year}",
        "",
        "The selected forecast under WPP 2024's Low, Medium and High variants. The variants "
        "differ only by fertility from 2024, so a pool whose cohort is already born cannot "
        "differ between them (docs/metrics.md, *How the age structure enters*).",
        "",
        f"| target | place | origin group | Low {year} | Medium {year} | High {year} | "
        "variants apart from |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for row in spread.iter_rows(named=True):
        apart = (
            str(row["first_year_apart"])
            if row["first_year_apart"] is not None
            else f"not before {year}: everyone in the cohort is already born"
        )
        lines.append(
            f"| {row['target']} | {row['country_iso3']} | {row['origin_group'] or '–'} | "
            f"{compact_number(row['low'])} | {compact_number(row['medium'])} | "
            f"{compact_number(row['high'])} | {apart} |"
        )
    return lines


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
def publish_findings_report(
    tables: dict[str, pl.DataFrame], forecasts: pl.DataFrame | None = None
) -> Path:
    """Write the findings report under the data directory and show it in the Prefect UI."""
    report = findings_markdown(tables, forecasts)
    destination = findings_report_path(get_settings())
    atomic_write_bytes(destination, report.encode("utf-8"))
    create_markdown_artifact(
        key=FINDINGS_KEY,
        markdown=report,
        description=_report_description("talentflow findings", destination),
    )
    return destination


BACKTEST_KEY = "backtest-report"


def backtest_markdown(
    selection: pl.DataFrame,
    metrics: pl.DataFrame,
    *,
    vintage: int,
    failures: Sequence[str] = (),
    skipped: Sequence[str] = (),
    rejected: Sequence[str] = (),
    bounds: pl.DataFrame | None = None,
    replays: pl.DataFrame | None = None,
    forecasts: pl.DataFrame | None = None,
    breaks: pl.DataFrame | None = None,
) -> str:
    """The backtest report: for every target, the published model's MASE against naive
    at 1-5 years (goal: at least 20 % better) and against naive and drift at 6-12 years
    (goal: better than both), the coverage of its 80 % intervals in each band, saying
    where a goal is missed and why; the forecasts the plausibility rules kept out; the
    bounds; the stored replays' scores; then every model's scores.

    ``selection``, ``metrics``, ``bounds`` and ``replays`` have the ``model_selection``,
    ``backtest_metrics``, ``forecast_bounds`` and ``replay_scores`` tables' columns
    (``talentflow.core.tables``)."""
    origins = metrics["origins"].min() if metrics.height else 0
    short, long = (
        f"{SHORT_HORIZONS[0]}-{SHORT_HORIZONS[1]}",
        f"{LONG_HORIZONS[0]}-{LONG_HORIZONS[1]}",
    )
    lines = [
        f"# Backtest report (data to {vintage})",
        "",
        f"Rolling origins, expanding window: {origins}+ origins per horizon, horizons "
        f"{short} and {long} years. MASE scales each error by the series' own mean one-year "
        "change before the origin (1 = as good as a random walk in-sample, one year ahead; "
        "errors grow with the horizon, so long-horizon MASE is larger); sMAPE in percent; "
        "coverage = share of outcomes inside the interval. Scores are of the published "
        "quantity (rate forecast × the denominator of the year); the model is chosen once "
        f"per target family from the pooled scores: the best at {short} years, the best "
        f"at {long} years, and where they differ a handover from the first to the second "
        f"(linear between years {HANDOVER_YEARS[0]} and {HANDOVER_YEARS[1]}). *Published "
        "coverage*: the published intervals are the model's, scaled per horizon by how "
        "much they would have needed to cover their share at the backtest's origins; to "
        "measure them honestly the factors are estimated on the earlier half of the "
        "origins and coverage is counted on the later half.",
        "",
        "Every forecast published as selected has also passed the plausibility rules "
        "(rate within its evidence-based bound, yearly growth within the panel's, China's "
        "intake below the world total, High ≥ Medium ≥ Low) and stops where its interval "
        "becomes uninformative (docs/metrics.md, *Plausibility*). Beyond 12 years nothing "
        "here scores the forecasts: read 2040-2050 with the scenario spread and the "
        "bounds, not as a prediction.",
        "",
        "## Every target",
        "",
        f"| target | family | published | MASE {short} | vs naive | goal ≥ {MASE_GOAL:.0%} "
        f"| published 80 % coverage {short} "
        f"| goal {COVERAGE_GOAL[0]:.0%}-{COVERAGE_GOAL[1]:.0%} "
        f"| MASE {long} | naive | drift | beats both | published 80 % coverage {long} "
        f"| goal {LONG_COVERAGE_GOAL[0]:.0%}-{LONG_COVERAGE_GOAL[1]:.0%} |",
        "|---|---|---|---:|---:|---|---:|---|---:|---:|---:|---|---:|---|",
    ]
    for row in selection.sort("family", "target").iter_rows(named=True):
        lines.append(
            f"| {row['target']} | {row['family']} | {_model(row)} | {_number(row['mase'])} | "
            f"{_signed(row['mase_improvement'])} | {_met(row['meets_mase_goal'])} | "
            f"{_share(row['calibrated_coverage80'])} | {_met(row['meets_coverage_goal'])} | "
            f"{_number(row['long_mase'])} | {_number(row['long_naive_mase'])} | "
            f"{_number(row['long_drift_mase'])} | {_met(row['beats_naive_and_drift_long'])} | "
            f"{_share(row['long_calibrated_coverage80'])} | "
            f"{_met(row['meets_long_coverage_goal'])} |"
        )
    lines += ["", "### Why, and where a goal is missed", ""]
    lines += [f"- **{row['target']}**: {row['reason']}" for row in selection.iter_rows(named=True)]
    if skipped:
        lines += ["", "## Not forecast at this vintage", ""]
        lines += [f"- {reason}" for reason in skipped]
    if rejected:
        lines += [
            "",
            "## Kept out by the plausibility rules",
            "",
            "Each line is a model's forecast of a series that broke a rule; the series is "
            "published as selected with the next model in the order of preference that "
            "passes, or not at all.",
            "",
        ]
        lines += [f"- {line}" for line in rejected[:60]]
        if len(rejected) > 60:
            lines.append(f"- … and {len(rejected) - 60} more (the run's log lists them all)")
    if bounds is not None and bounds.height:
        lines += [
            "",
            "## Bounds from the evidence",
            "",
            "| target | frontier (rate) | set by | year | China's cap | USA's cap |",
            "|---|---:|---|---:|---:|---:|",
        ]
        for target, group in bounds.group_by("target", maintain_order=True):
            first = group.row(0, named=True)
            caps = dict(group.select("series_id", "cap").iter_rows())
            lines.append(
                f"| {target[0]} | {first['frontier']:.4g} | {first['frontier_series']} | "
                f"{first['frontier_year'] or '–'} | {_number(caps.get('CHN'), 4)} | "
                f"{_number(caps.get('USA'), 4)} |"
            )
    if breaks is not None and breaks.height:
        lines += _break_lines(breaks)
    if forecasts is not None and forecasts.height:
        lines += _published_comparison(forecasts)
    if replays is not None and replays.height:
        lines += [
            "",
            "## Replays: stored `--as-of` runs scored on the years that followed",
            "",
            "| vintage | target | band | series | forecasts | MASE | naive | drift | "
            "MAE / naive | MAE / drift | 80 % coverage | 95 % coverage |",
            "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in replays.sort("vintage", "target", "band").iter_rows(named=True):
            lines.append(
                f"| {row['vintage']} | {row['target']} | {row['band']} | {row['series']} | "
                f"{row['forecasts']} | {_number(row['mase'])} | {_number(row['mase_naive'])} | "
                f"{_number(row['mase_drift'])} | {_number(row['mae_ratio_naive'])} | "
                f"{_number(row['mae_ratio_drift'])} | {_share(row['coverage80'])} | "
                f"{_share(row['coverage95'])} |"
            )
    lines += [
        "",
        f"## Every model, mean over horizons {short} and {long}",
        "",
        f"| target | model | MASE {short} | MASE {long} | 80 % coverage {short} | "
        f"80 % coverage {long} | forecasts |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in _by_band(metrics).iter_rows(named=True):
        lines.append(
            f"| {row['target']} | {row['model']} | {_number(row['mase_short'])} | "
            f"{_number(row['mase_long'])} | {_share(row['coverage80_short'])} | "
            f"{_share(row['coverage80_long'])} | {row['forecasts']:,} |"
        )
    if failures:
        lines += ["", "## Models that failed at some origin", ""]
        lines += [f"- {failure}" for failure in failures[:40]]
        if len(failures) > 40:
            lines.append(f"- … and {len(failures) - 40} more")
    return "\n".join(lines) + "\n"


def _break_lines(breaks: pl.DataFrame) -> list[str]:
    """Series breaks found (``tasks.features.breaks``): how many per target, and every
    one of the headline places."""
    counts = breaks.group_by("target", maintain_order=True).agg(
        pl.len().alias("breaks"), pl.col("series_id").n_unique().alias("series")
    )
    lines = [
        "",
        "## Series breaks",
        "",
        "A one-year jump far outside a series' own changes (a definition change, more "
        "often than a real one) is a break: a series is modelled after its latest break "
        "when 8 or more years follow it, and kept whole otherwise.",
        "",
        "| target | breaks | series |",
        "|---|---:|---:|",
        *[
            f"| {r['target']} | {r['breaks']} | {r['series']} |"
            for r in counts.iter_rows(named=True)
        ],
        "",
        "| target | series | year | yearly log change | beyond its neighbours | what was done |",
        "|---|---|---:|---:|---:|---|",
    ]
    headline = breaks.filter(
        pl.col("series_id").str.split("|").list.first().is_in(["CHN", "USA", "WLD"])
    )
    for row in headline.sort("target", "series_id", "year").iter_rows(named=True):
        lines.append(
            f"| {row['target']} | {row['series_id']} | {row['year']} | {row['change']:+.3f} | "
            f"{row['residual']:+.3f} | {row['action']} |"
        )
    return lines


def _published_comparison(forecasts: pl.DataFrame) -> list[str]:
    """The selected Medium forecast beside every projection others have published
    (``core.facts.PUBLISHED_PROJECTIONS``)."""
    lines = [
        "",
        "## Beside published projections",
        "",
        "| source | target | country | year | theirs | ours (Medium, selected) | "
        "our 80 % interval | how theirs differs |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    for source, target, country, year, value, note in PUBLISHED_PROJECTIONS:
        ours = forecasts.filter(
            (pl.col("target") == target)
            & (pl.col("country_iso3") == country)
            & (pl.col("year") == year)
            & (pl.col("scenario") == "Medium")
            & pl.col("is_selected")
        )
        if ours.is_empty():
            point, band = "not forecast", "–"
        else:
            row = ours.row(0, named=True)
            point = compact_number(row["yhat"])
            band = f"{compact_number(row['lo80'])}–{compact_number(row['hi80'])}"
        lines.append(
            f"| {source} | {target} | {country} | {year} | {compact_number(value)} | "
            f"{point} | {band} | {note} |"
        )
    return lines


def _by_band(metrics: pl.DataFrame) -> pl.DataFrame:
    """Per target and model: MASE and 80 % coverage pooled over each horizon band."""
    band = (
        pl.when(pl.col("horizon") <= SHORT_HORIZONS[1])
        .then(pl.lit("short"))
        .otherwise(pl.lit("long"))
    )
    weighted = (
        metrics.with_columns(band.alias("band"))
        .group_by("target", "model", "band")
        .agg(
            *[
                ((pl.col(c) * pl.col("forecasts")).sum() / pl.col("forecasts").sum()).alias(c)
                for c in ("mase", "coverage80")
            ],
            pl.col("forecasts").sum(),
        )
    )
    wide = weighted.pivot(on="band", index=["target", "model"], values=["mase", "coverage80"])
    for column in ("mase_short", "mase_long", "coverage80_short", "coverage80_long"):
        if column not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(column))
    counts = weighted.group_by("target", "model").agg(pl.col("forecasts").sum())
    return wide.join(counts, on=["target", "model"]).sort("target", "mase_long", nulls_last=True)


def _model(row: dict) -> str:
    if row["selected_model"] == row["short_model"]:
        return row["selected_model"]
    return f"{row['selected_model']} ({row['short_model']} → {row['long_model']})"


def _number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}g}" if digits > 2 else f"{value:.2f}"


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.0%}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _met(flag: bool) -> str:
    return "met" if flag else "**missed**"


@task(name="backtest-report", cache_policy=NO_CACHE)
def publish_backtest_report(tables: Any, vintage: int, replays: pl.DataFrame | None = None) -> Path:
    """Write the backtest report of a forecasts flow's tables (``flows.forecasting.
    ForecastTables``) under the data directory and show it in the Prefect UI."""
    report = backtest_markdown(
        tables.model_selection,
        tables.backtest_metrics,
        vintage=vintage,
        failures=tables.failures,
        skipped=tables.skipped,
        rejected=tables.rejected,
        bounds=tables.forecast_bounds,
        replays=replays,
        forecasts=tables.forecasts,
        breaks=tables.breaks,
    )
    destination = backtest_report_path(get_settings(), vintage)
    atomic_write_bytes(destination, report.encode("utf-8"))
    create_markdown_artifact(
        key=BACKTEST_KEY,
        markdown=report,
        description=_report_description(f"talentflow backtest, data to {vintage}", destination),
    )
    return destination


HEADLINE_KEY = "headline-forecasts"


def headline_forecasts(forecasts: pl.DataFrame) -> pl.DataFrame:
    """The selected forecast of each headline target in :data:`HEADLINE_YEARS`, one row per
    target, place, origin group, scenario and year (WPP variants only, no levers)."""
    wanted = pl.any_horizontal(
        *[
            (pl.col("target") == target) & pl.col("country_iso3").is_in(places)
            for target, places in HEADLINE_TARGETS.items()
        ]
    )
    return (
        forecasts.filter(
            wanted
            & pl.col("is_selected")
            & pl.col("year").is_in(HEADLINE_YEARS)
            & ~pl.col("scenario").str.contains("+", literal=True)
        )
        .select(
            "target",
            "country_iso3",
            "origin_group",
            "scenario",
            "year",
            "model",
            "yhat",
            "lo80",
            "hi80",
            "lo95",
            "hi95",
        )
        .sort("target", "country_iso3", "origin_group", "scenario", "year", nulls_last=True)
    )


@task(name="headline-forecasts", cache_policy=NO_CACHE)
def publish_headline_table(forecasts: pl.DataFrame) -> pl.DataFrame:
    """A table artifact of the headline forecasts, rounded for reading."""
    headline = headline_forecasts(forecasts)
    rows = headline.with_columns(
        pl.col(c).round(0) for c in ("yhat", "lo80", "hi80", "lo95", "hi95")
    )
    create_table_artifact(
        key=HEADLINE_KEY,
        table=rows.to_dicts(),
        description="Selected forecasts of the headline targets (80 % and 95 % intervals)",
    )
    return headline


RUN_REPORT_KEY = "run-report"


def run_report_markdown(
    *,
    run_id: str,
    vintage: int,
    as_of: int | None,
    sources: list[dict[str, Any]],
    validated_tables: list[str],
    selection: pl.DataFrame,
    headline: pl.DataFrame,
    findings: str | None,
) -> str:
    """One page per run for the Prefect UI: what was pulled, what was validated, how the
    models backtested, the headline forecasts and the findings."""
    lines = [
        f"# talentflow run {run_id}",
        "",
        f"Data to {vintage}" + (f" (replayed as of {as_of})" if as_of is not None else "") + ".",
        "",
        f"## Sources pulled ({len(sources)})",
        "",
        "| dataset | rows | new snapshot | sha256 | warnings |",
        "|---|---:|---|---|---:|",
    ]
    for source in sorted(sources, key=lambda s: s["dataset_id"]):
        lines.append(
            f"| {source['dataset_id']} | {source['rows']:,} | "
            f"{'yes' if source['is_new'] else 'no'} | `{source['sha256'][:12]}` | "
            f"{len(source['warnings'])} |"
        )
    lines += [
        "",
        "## Validation",
        "",
        f"Every source above passed its suite; {len(validated_tables)} derived tables "
        f"passed theirs: {', '.join(validated_tables)}. Details: the `validation-summary` "
        "and `data-docs` artifacts.",
        "",
        "## Backtest",
        "",
        "| target | selected | MASE vs naive | published 80 % coverage |",
        "|---|---|---:|---:|",
    ]
    for row in selection.sort("family", "target").iter_rows(named=True):
        lines.append(
            f"| {row['target']} | {row['selected_model']} | {row['mase_improvement']:+.0%} "
            f"({_met(row['meets_mase_goal'])}) | {_share(row['calibrated_coverage80'])} "
            f"({_met(row['meets_coverage_goal'])}) |"
        )
    lines += [
        "",
        "## Headline forecasts (Medium variant, selected model, 80 % interval)",
        "",
        "| target | place | year | forecast | 80 % interval |",
        "|---|---|---:|---:|---|",
    ]
    for row in headline.filter(pl.col("scenario") == "Medium").iter_rows(named=True):
        place = row["origin_group"] or row["country_iso3"]
        lines.append(
            f"| {row['target']} | {place} | {row['year']} | {row['yhat']:,.0f} | "
            f"{row['lo80']:,.0f} – {row['hi80']:,.0f} |"
        )
    if findings:
        lines += ["", "## Findings", "", findings.split("\n", 1)[-1].strip()]
    return "\n".join(lines) + "\n"


@task(name="run-report", cache_policy=NO_CACHE)
def publish_run_report(
    *,
    run_id: str,
    vintage: int,
    as_of: int | None,
    sources: list[dict[str, Any]],
    validated_tables: list[str],
    selection: pl.DataFrame,
    forecasts: pl.DataFrame,
    findings_path: Path | None,
) -> Path:
    """The run report as a markdown artifact and a file under the reports folder."""
    findings = findings_path.read_text(encoding="utf-8") if findings_path else None
    report = run_report_markdown(
        run_id=run_id,
        vintage=vintage,
        as_of=as_of,
        sources=sources,
        validated_tables=validated_tables,
        selection=selection,
        headline=headline_forecasts(forecasts),
        findings=findings,
    )
    destination = run_report_path(get_settings(), run_id)
    atomic_write_bytes(destination, report.encode("utf-8"))
    create_markdown_artifact(
        key=RUN_REPORT_KEY,
        markdown=report,
        description=_report_description("talentflow run", destination),
    )
    return destination


def unchanged_note(run: dict[str, Any]) -> str:
    """What a run that found nothing new to publish says, above the standing run's report."""
    when = run["published_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "# Nothing new to publish\n\n"
        f"This run read the same snapshots, with the same code and options, as run "
        f"`{run['run_id']}` (published {when}; fingerprint `{run['fingerprint'][:12]}`). "
        "Its tables and reports stand unchanged. `talentflow run --refresh` recomputes "
        "and republishes.\n\n---\n\n"
    )


@task(name="unchanged-note", cache_policy=NO_CACHE)
def publish_unchanged_note(run: dict[str, Any], run_report: Path) -> None:
    """The run report artifact of a run that published nothing: the note, then the report
    of the run whose tables stand (its file is left as it is)."""
    create_markdown_artifact(
        key=RUN_REPORT_KEY,
        markdown=unchanged_note(run) + run_report.read_text(encoding="utf-8"),
        description=_report_description("talentflow run (nothing new)", run_report),
    )
