"""The seed question's five claims about China and foreign talent, each tested like with
like, and a verdict for each computed from the data by a documented rule.

The claims (:data:`STATEMENTS`) come from policy research on the US-China race for talent.
This module builds the evidence tables behind them and the ``seed_claims`` table:

- (a) :func:`china_usa_gap`: China against the USA on every talent measure both report,
  by year, observed and forecast; only STEM measures count towards the verdict.
- (b) prior ties of researchers moving into China (``china_prior_ties``, from ORCID) and,
  as proxy, the share of moves into China from Hong Kong, Macao and Taiwan.
- (c) :func:`pull_ladder_china`: at each level of expertise, the same quantity: China's
  share of the level's people by destination over its share by origin.
- (d) :func:`origin_shares_china`: where the people moving to China come from, by year,
  with a trend test (Kendall's tau).
- (e) :func:`returnee_signals_china`: USA-to-China researcher moves and Chinese US
  doctorates' intention to stay, before and after the US policy change of 2018.

Each ``verdict_*`` function returns a :class:`Verdict`; :func:`seed_claims` puts them in
one table. A verdict is never typed in: the thresholds below are the rules, and
docs/metrics.md (*The seed's claims*) explains them with the numbers of the latest run.
Pure Polars (and scipy's Kendall tau): no Prefect, no files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from talentflow.core.facts import MPIDR_RELIABLE_YEARS, VERDICTS
from talentflow.core.tables import (
    CHINA_ORIGIN_SHARES_SCHEMA,
    CHINA_PULL_LADDER_SCHEMA,
    CHINA_RETURNEE_SIGNALS_SCHEMA,
    CHINA_USA_GAP_SCHEMA,
    SEED_CLAIMS_SCHEMA,
)
from talentflow.tasks.features.intake import (
    HIGH_INCOME,
    INCOME_GROUP_LABELS,
    LADDER_LEVELS,
    MACROPOLO_COHORT,
    MACROPOLO_WORK_SHARE,
    MOE_DOCTORAL_CATEGORY,
    MOE_TOTAL_METRIC,
    RETURNEE,
    UIS_INBOUND,
)
from talentflow.tasks.features.scenarios import POOL_METRICS

SUPPORTED, PARTLY, NOT_SUPPORTED, UNTESTABLE = VERDICTS
CHINA, USA = "CHN", "USA"
#: Hong Kong, Macao and Taiwan: outside mainland China in every source here, counted apart.
GREATER_CHINA = ("HKG", "MAC", "TWN")

STATEMENTS: dict[str, str] = {
    "a": "China has become the world's second-largest STEM talent pool and is closing the "
    "gap with the United States.",
    "b": "China mainly draws ethnic Chinese or Chinese nationals returning from abroad, and "
    "struggles to attract people without prior ties to China.",
    "c": "China's pull declines as the level of expertise rises: students, then doctoral "
    "graduates, then researchers, then top AI researchers.",
    "d": "With Western tech-denial, other Asian economies and less developed countries are "
    "emerging as China's sources of talent.",
    "e": "Top researchers of Chinese descent in the West relocate to China when policies "
    "towards them worsen there.",
}


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict and everything a reader needs to check it."""

    verdict: str
    evidence: str
    rule: str
    sources: str
    tables: str
    caveats: str


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}%}"


# -- (a) the gap with the USA ------------------------------------------------------------------

#: Talent measures that count towards claim (a): S&E degrees, doctorates and researchers.
STEM_MEASURES: dict[str, str] = {
    "se_doctorates": "S&E doctorates awarded (NCSES)",
    "se_first_degrees": "S&E first university degrees (NCSES)",
    "researchers": "researchers in R&D (World Bank, UIS)",
    "active_researchers_scopus": "publishing researchers (MPIDR, Scopus)",
    "active_researchers_openalex": "publishing researchers (MPIDR, OpenAlex)",
}
#: Measures shown beside them as context (tertiary education of any field).
CONTEXT_MEASURES: dict[str, str] = {
    "tertiary_students_approx": "tertiary students, any field (UIS x WPP)",
    "adults_25plus_tertiary": "adults 25+ with tertiary education (UIS x WPP)",
    "adults_25plus_bachelors_plus": "adults 25+ with a bachelor's or more (UIS x WPP)",
}
#: "Closing the gap": China/USA now above its value this many years earlier (or at least 1).
CLOSING_WINDOW = 10
#: The earliest comparison allowed when a measure has less history than the window.
MIN_CLOSING_SPAN = 5
#: Share of the STEM measures on which both parts must hold for "supported".
SUPPORTED_SHARE = 0.75
#: The forecasts compared: the published model under WPP's Medium variant.
MEDIUM = "Medium"


def china_usa_gap(
    metrics: pl.DataFrame, rankings: pl.DataFrame, forecasts: pl.DataFrame | None = None
) -> pl.DataFrame:
    """China against the USA on every measure of :data:`STEM_MEASURES` and
    :data:`CONTEXT_MEASURES`, by year (columns: ``core.tables.CHINA_USA_GAP_SCHEMA``).

    Observed rows come from ``talent_rankings`` (China's rank among the countries
    reporting that year) and ``talent_pool_metrics`` (the source); forecast rows, where
    ``forecasts`` is given, from the selected forecast under WPP Medium for the years after
    the last observed one, with the ratio's 80 % range taken conservatively (China's lower
    bound over the USA's upper, and the reverse)."""
    measures = {**STEM_MEASURES, **CONTEXT_MEASURES}
    pair = rankings.filter(
        pl.col("metric").is_in(list(measures)) & pl.col("country_iso3").is_in([CHINA, USA])
    )
    china = pair.filter(pl.col("country_iso3") == CHINA).select(
        "metric", "year", pl.col("value").alias("china"), "rank", "reporting_countries"
    )
    usa = pair.filter(pl.col("country_iso3") == USA).select(
        "metric", "year", pl.col("value").alias("usa")
    )
    sources = (
        metrics.filter(pl.col("country_iso3") == CHINA)
        .group_by("metric", "year")
        .agg(pl.col("source").unique().sort().str.join("; "))
    )
    observed = (
        china.join(usa, on=["metric", "year"], how="inner")
        .join(sources, on=["metric", "year"], how="left")
        .select(
            pl.col("metric").alias("measure"),
            pl.col("metric").is_in(list(STEM_MEASURES)).alias("is_stem"),
            pl.lit("observed").alias("kind"),
            "year",
            "china",
            "usa",
            (pl.col("china") / pl.col("usa")).alias("ratio"),
            pl.lit(None, dtype=pl.Float64).alias("ratio_lo"),
            pl.lit(None, dtype=pl.Float64).alias("ratio_hi"),
            pl.col("rank").alias("china_rank"),
            "reporting_countries",
            "source",
        )
    )
    frames = [observed]
    if forecasts is not None and forecasts.height:
        frames.append(_forecast_gap(forecasts, observed))
    schema = CHINA_USA_GAP_SCHEMA
    return pl.concat(
        [f.select([pl.col(c).cast(t) for c, t in schema.items()]) for f in frames]
    ).sort("measure", "year")


def _forecast_gap(forecasts: pl.DataFrame, observed: pl.DataFrame) -> pl.DataFrame:
    measure_of = {target: metric for target, metric in POOL_METRICS.items()}
    selected = forecasts.filter(
        pl.col("is_selected")
        & (pl.col("scenario") == MEDIUM)
        & pl.col("target").is_in(list(measure_of))
        & pl.col("country_iso3").is_in([CHINA, USA])
        & pl.col("origin_group").is_null()
    ).with_columns(pl.col("target").replace_strict(measure_of).alias("measure"))
    china = selected.filter(pl.col("country_iso3") == CHINA).select(
        "measure",
        "year",
        "model",
        pl.col("yhat").alias("china"),
        pl.col("lo80").alias("c_lo"),
        pl.col("hi80").alias("c_hi"),
    )
    usa = selected.filter(pl.col("country_iso3") == USA).select(
        "measure",
        "year",
        pl.col("yhat").alias("usa"),
        pl.col("lo80").alias("u_lo"),
        pl.col("hi80").alias("u_hi"),
    )
    last_observed = observed.group_by("measure").agg(pl.col("year").max().alias("_last"))
    return (
        china.join(usa, on=["measure", "year"], how="inner")
        .join(last_observed, on="measure", how="left")
        .filter(pl.col("_last").is_null() | (pl.col("year") > pl.col("_last")))
        .select(
            "measure",
            pl.col("measure").is_in(list(STEM_MEASURES)).alias("is_stem"),
            pl.lit("forecast").alias("kind"),
            "year",
            "china",
            "usa",
            (pl.col("china") / pl.col("usa")).alias("ratio"),
            (pl.col("c_lo") / pl.col("u_hi")).alias("ratio_lo"),
            (pl.col("c_hi") / pl.col("u_lo")).alias("ratio_hi"),
            pl.lit(None, dtype=pl.Int32).alias("china_rank"),
            pl.lit(None, dtype=pl.Int32).alias("reporting_countries"),
            pl.concat_str(
                pl.lit("talentflow forecast, selected model "),
                pl.col("model"),
                pl.lit(", WPP 2024 Medium"),
            ).alias("source"),
        )
    )


@dataclass(frozen=True)
class Passing:
    """When China passes (or passed) the USA on one measure."""

    status: str  # passed | passes | not_by_horizon | no_forecast
    year: int | None
    earliest: int | None = None  # forecast: the first year China's hi80 reaches the USA's lo80
    latest: int | None = None  # forecast: the first year China's lo80 reaches the USA's hi80
    horizon: int | None = None

    def describe(self) -> str:
        if self.status == "passed":
            return f"ahead of the USA since {self.year}"
        if self.status == "passes":
            latest = self.latest if self.latest is not None else f"after {self.horizon}"
            earliest = self.earliest if self.earliest is not None else self.year
            return f"passes the USA in {self.year} (80 % range {earliest}-{latest})"
        if self.status == "not_by_horizon":
            possible = f"; possibly from {self.earliest}" if self.earliest is not None else ""
            return f"does not pass the USA by {self.horizon}{possible}"
        return "no forecast"


def passing_year(gap: pl.DataFrame, measure: str) -> Passing:
    """When China passes the USA on ``measure`` (rows of :func:`china_usa_gap`): the first
    year of the last unbroken run of observed ratios at or above 1 when China is ahead in
    the latest observed year; otherwise the first forecast year at or above 1, with the
    80 % range of years from the conservative ratio bounds."""
    rows = gap.filter(pl.col("measure") == measure).sort("year")
    observed = rows.filter(pl.col("kind") == "observed")
    if observed.height and observed["ratio"][-1] >= 1:
        below = observed.filter(pl.col("ratio") < 1)["year"]
        after_last_below = pl.col("year") > (below.max() if below.len() else -1)
        since = int(observed.filter(after_last_below)["year"][0])
        return Passing("passed", since)
    forecast = rows.filter(pl.col("kind") == "forecast")
    if forecast.is_empty():
        return Passing("no_forecast", None)

    def first(column: str) -> int | None:
        hits = forecast.filter(pl.col(column) >= 1)["year"]
        return int(hits.min()) if hits.len() else None

    horizon = int(forecast["year"].max())
    year = first("ratio")
    if year is None:
        return Passing("not_by_horizon", None, earliest=first("ratio_hi"), horizon=horizon)
    return Passing("passes", year, first("ratio_hi"), first("ratio_lo"), horizon)


def verdict_a(gap: pl.DataFrame, findings: pl.DataFrame) -> Verdict:
    """(a) Per STEM measure: China ranks first or second in the latest well-covered year
    (``talent_findings``) and China/USA is higher than :data:`CLOSING_WINDOW` years earlier
    (or at least 1). Supported when both hold on at least :data:`SUPPORTED_SHARE` of the
    measures that can be tested, partly when on at least one, not supported on none."""
    ranks = dict(findings.select("metric", "china_rank").iter_rows())
    observed = gap.filter(pl.col("kind") == "observed")
    lines, held, tested = [], 0, 0
    for measure, label in STEM_MEASURES.items():
        series = observed.filter(pl.col("measure") == measure).sort("year")
        rank = ranks.get(measure)
        if series.is_empty() or rank is None:
            lines.append(f"{label}: not reported by both China and the USA")
            continue
        now_year, now = int(series["year"][-1]), float(series["ratio"][-1])
        earlier = series.filter(pl.col("year") <= now_year - CLOSING_WINDOW)
        if earlier.is_empty():
            earlier = series.filter(pl.col("year") <= now_year - MIN_CLOSING_SPAN).head(1)
        else:
            earlier = earlier.tail(1)
        if earlier.is_empty():
            lines.append(f"{label}: fewer than {MIN_CLOSING_SPAN} years of history")
            continue
        tested += 1
        then_year, then = int(earlier["year"][0]), float(earlier["ratio"][0])
        closing = now >= 1 or now > then
        holds = rank <= 2 and closing
        held += holds
        passing = passing_year(gap, measure).describe()
        lines.append(
            f"{label}: China ranks {rank}; China/USA {_ratio(then)} ({then_year}) -> "
            f"{_ratio(now)} ({now_year}); {passing} [{'holds' if holds else 'does not hold'}]"
        )
    if tested == 0:
        verdict = UNTESTABLE
    elif held >= SUPPORTED_SHARE * tested:
        verdict = SUPPORTED
    elif held >= 1:
        verdict = PARTLY
    else:
        verdict = NOT_SUPPORTED
    context = []
    for measure, label in CONTEXT_MEASURES.items():
        series = observed.filter(pl.col("measure") == measure).sort("year")
        if series.height:
            context.append(f"{label} {_ratio(series['ratio'][-1])} ({series['year'][-1]})")
    lines.append(f"Context, not counted: China/USA {'; '.join(context) or 'none'}.")
    return Verdict(
        verdict=verdict,
        evidence=f"Holds on {held} of {tested} STEM measures. " + " | ".join(lines),
        rule=(
            f"Per STEM measure: China ranks 1st or 2nd in the latest year with 40+ reporting "
            f"countries, and China/USA is at least 1 or higher than {CLOSING_WINDOW} years "
            f"earlier (at least {MIN_CLOSING_SPAN}). Supported when this holds on at least "
            f"{SUPPORTED_SHARE:.0%} of the testable measures, partly supported on at least "
            "one, not supported on none."
        ),
        sources="NCSES Science & Engineering Indicators (S&E degrees); World Bank WDI / UIS "
        "(researchers); MPIDR Scholarly Migration Database (Scopus, OpenAlex); talentflow "
        "forecasts (passing years)",
        tables="china_usa_gap, talent_rankings, talent_findings, forecasts",
        caveats="NCSES degree counts end in 2018; World Bank researchers are full-time "
        "equivalents in all fields of R&D, not STEM alone; MPIDR counts people publishing in "
        "the year. A rank of 1 satisfies 'second-largest'. Passing years compare two "
        "forecasts' 80 % intervals, not a joint distribution.",
    )


# -- (b) prior ties ------------------------------------------------------------------------------

#: Arrivals (people) needed in the window before the ORCID analysis may give a verdict.
MIN_ARRIVALS = 100
#: Years of ORCID arrivals pooled for the verdict (the latest ones).
PRIOR_TIES_WINDOW = 10
#: Returnee share of arrivals: at least MAINLY is "mainly" (supported); at least SOME, partly.
MAINLY, SOME = 0.5, 1 / 3
#: The years of MPIDR moves pooled for the proxy.
PROXY_YEARS = (MPIDR_RELIABLE_YEARS[1] - 4, MPIDR_RELIABLE_YEARS[1])


def verdict_b(prior_ties: pl.DataFrame, inflows: pl.DataFrame) -> Verdict:
    """(b) From ORCID careers (``china_prior_ties``): the returnee share of people arriving
    in China over the latest :data:`PRIOR_TIES_WINDOW` years. Supported at or above
    :data:`MAINLY`, partly at or above :data:`SOME`, not supported below; untestable with
    fewer than :data:`MIN_ARRIVALS` arrivals. The MPIDR proxy (moves from Hong Kong, Macao
    and Taiwan) is reported, never used for the verdict: it cannot tell nationality."""
    first, last = PROXY_YEARS
    window = inflows.filter(pl.col("year").is_between(first, last))
    proxy = []
    for database in sorted(window["database"].unique().to_list()):
        rows = window.filter(pl.col("database") == database)
        greater = rows.filter(pl.col("origin_iso3").is_in(GREATER_CHINA))["migrations"].sum()
        usa = rows.filter(pl.col("origin_iso3") == USA)["migrations"].sum()
        total = rows["migrations"].sum()
        if total:
            proxy.append(
                f"MPIDR {database} {first}-{last}: {_pct(greater / total)} of {total:,} moves "
                f"into China came from Hong Kong, Macao or Taiwan, {_pct(usa / total)} from "
                "the USA"
            )
    proxy_text = "; ".join(proxy) or "no MPIDR moves into China"
    if prior_ties.height:
        latest = int(prior_ties["year"].max())
        recent = prior_ties.filter(pl.col("year") > latest - PRIOR_TIES_WINDOW)
    else:
        latest, recent = None, prior_ties
    arrivals = int(recent["people"].sum()) if recent.height else 0
    if arrivals < MIN_ARRIVALS:
        verdict = UNTESTABLE
        evidence = (
            f"ORCID: {arrivals} researchers with a dated career arriving in China "
            f"(at least {MIN_ARRIVALS} needed): the mirror's ORCID files are schema samples "
            f"with placeholder people. Proxy only: {proxy_text}."
        )
    else:
        returnees = int(recent.filter(pl.col("tie") == RETURNEE)["people"].sum())
        share = returnees / arrivals
        verdict = SUPPORTED if share >= MAINLY else PARTLY if share >= SOME else NOT_SUPPORTED
        evidence = (
            f"ORCID: {returnees:,} of {arrivals:,} researchers arriving in China in "
            f"{latest - PRIOR_TIES_WINDOW + 1}-{latest} ({_pct(share)}) had studied or worked "
            f"in China before going abroad. Proxy: {proxy_text}."
        )
    return Verdict(
        verdict=verdict,
        evidence=evidence,
        rule=(
            f"Share of ORCID arrivals in China over the latest {PRIOR_TIES_WINDOW} years who "
            f"studied or worked in China before their first affiliation abroad: supported at "
            f"{MAINLY:.0%} or more, partly supported at {SOME:.0%} or more, not supported "
            f"below; untestable with fewer than {MIN_ARRIVALS} arrivals."
        ),
        sources="ORCID public records (education and employment affiliations); MPIDR "
        "Scholarly Migration Database (proxy)",
        tables="china_prior_ties, china_researcher_inflows",
        caveats="A prior tie is a dated education or employment in mainland China; ethnicity "
        "and nationality are not in ORCID, so 'ethnic Chinese' without a Chinese career "
        "count as no tie. ORCID over-represents early-career and some countries' "
        "researchers. The MPIDR proxy cannot separate returnees from foreigners: moves from "
        "Hong Kong, Macao and Taiwan are the part that is certainly from Chinese-speaking "
        "places.",
    )


# -- (c) the pull ladder -------------------------------------------------------------------------

#: The UIS geographic unit that holds the world total of inbound mobile students.
UIS_WORLD = "UIS: World"
UIS_NET_FLOW = "MENF.5T8"
MACROPOLO_ORIGIN_SHARE = "share_by_undergraduate_country"


def _counted_rung(frame: pl.DataFrame, level: str, **columns: pl.Expr) -> pl.DataFrame:
    """A rung counted here, from ``china_in``, ``china_out`` and ``world``: the shares by
    destination and by origin, and their ratio."""
    return _ladder(
        frame,
        level,
        destination_share=pl.col("china_in") / pl.col("world"),
        origin_share=pl.col("china_out") / pl.col("world"),
        pull_ratio=pl.col("china_in") / pl.col("china_out"),
        comparable=pl.lit(True),
        **columns,
    )


def _reliable_moves(mpidr_flows: pl.DataFrame) -> pl.DataFrame:
    """MPIDR moves between two places (``flow_kind == "migration"``) in its reliable years."""
    first, last = MPIDR_RELIABLE_YEARS
    return mpidr_flows.filter(
        (pl.col("flow_kind") == "migration") & pl.col("year").is_between(first, last)
    )


def _moves(where: pl.Expr | None = None) -> pl.Expr:
    """The number of moves (of those ``where`` holds), as a float."""
    moves = pl.col("migrations") if where is None else pl.col("migrations").filter(where)
    return moves.sum().cast(pl.Float64)


def _ladder(frame: pl.DataFrame, level: str, **columns: pl.Expr) -> pl.DataFrame:
    frame = frame.with_columns(
        pl.lit(level).alias("level"), pl.lit(LADDER_LEVELS[level]).alias("order"), **columns
    )
    return frame.select([pl.col(c).cast(t) for c, t in CHINA_PULL_LADDER_SCHEMA.items()])


def pull_ladder_china(
    uis_inbound: pl.DataFrame,
    moe_students: pl.DataFrame,
    mpidr_flows: pl.DataFrame,
    macropolo_figures: pl.DataFrame,
) -> pl.DataFrame:
    """China's pull at each rung of the talent ladder as one quantity: the ``pull_ratio``,
    China's share of the rung's people by destination over its share by origin, i.e. the
    people who end up in China per person from China (columns:
    ``core.tables.CHINA_PULL_LADDER_SCHEMA``).

    - students: UIS 26637 into China over China's outbound students (26637 minus the net
      flow MENF.5T8), both over UIS's world total of mobile students;
    - doctoral: not comparable (the MoE counts foreign doctoral students in China, no
      source counts China's doctoral students abroad): shown apart, with the count;
    - researchers: MPIDR moves into China over moves out of China, per database, in its
      reliable years (returnees included: nationality is unknown);
    - top AI researchers: MacroPolo's share working in China over the share with a Chinese
      undergraduate degree (top-tier NeurIPS authors), per edition."""
    uis = uis_inbound.filter(pl.col("value").is_not_null())
    china = uis.filter(pl.col("country_iso3") == CHINA).pivot(
        on="indicator_id", index="year", values="value", aggregate_function="first"
    )
    world = uis.filter(
        (pl.col("indicator_id") == UIS_INBOUND) & (pl.col("geo_unit") == UIS_WORLD)
    ).select("year", pl.col("value").alias("world"))
    students = pl.DataFrame()
    if {UIS_INBOUND, UIS_NET_FLOW} <= set(china.columns):
        students = (
            china.select(
                "year",
                pl.col(UIS_INBOUND).alias("china_in"),
                (pl.col(UIS_INBOUND) - pl.col(UIS_NET_FLOW)).alias("china_out"),
            )
            .join(world, on="year", how="inner")
            .drop_nulls()
        )
    frames = []
    if students.height:
        frames.append(
            _counted_rung(
                students,
                "students",
                source=pl.lit("UIS Data API, indicators 26637 and MENF.5T8"),
                counts=pl.lit(
                    "degree-mobile tertiary students: foreigners enrolled in China over "
                    "Chinese enrolled abroad"
                ),
                note=pl.lit(
                    "world = UIS's world total of inbound mobile students (UIS estimates "
                    "for non-reporting countries); outbound = inbound minus net flow"
                ),
            )
        )
    doctoral = moe_students.filter(
        pl.col("metric").str.starts_with("international_students_by_level")
        & (pl.col("category") == MOE_DOCTORAL_CATEGORY)
        & pl.col("value").is_not_null()
    )
    frames.append(
        _ladder(
            doctoral.select("year", pl.col("value").alias("china_in")),
            "doctoral",
            source=pl.lit("China MoE (numerator only)"),
            destination_share=pl.lit(None, dtype=pl.Float64),
            origin_share=pl.lit(None, dtype=pl.Float64),
            pull_ratio=pl.lit(None, dtype=pl.Float64),
            china_out=pl.lit(None, dtype=pl.Float64),
            world=pl.lit(None, dtype=pl.Float64),
            comparable=pl.lit(False),
            counts=pl.lit("foreign doctoral students in China (a stock, all kinds)"),
            note=pl.lit(
                "shown apart: no source here counts China's doctoral students abroad or the "
                "world's mobile doctoral students (NCSES counts Chinese doctorates earned in "
                "the US only, a flow)"
            ),
        )
    )
    first, last = MPIDR_RELIABLE_YEARS
    researchers = (
        _reliable_moves(mpidr_flows)
        .group_by("database", "year")
        .agg(
            _moves(pl.col("destination_iso3") == CHINA).alias("china_in"),
            _moves(pl.col("origin_iso3") == CHINA).alias("china_out"),
            _moves().alias("world"),
        )
    )
    frames.append(
        _counted_rung(
            researchers.filter(pl.col("china_out") > 0),
            "researchers",
            source=pl.concat_str(pl.lit("MPIDR Scholarly Migration Database, "), "database"),
            counts=pl.lit(
                "researcher moves between countries (by publishing affiliation), into China "
                "over out of China; returnees included, nationality unknown"
            ),
            note=pl.lit(
                "moves from Hong Kong, Macao and Taiwan count as into China; "
                f"years {first}-{last} only"
            ),
        )
    )
    top = macropolo_figures.filter(
        pl.col("cohort").str.starts_with(MACROPOLO_COHORT)
        & (pl.col("country_iso3") == CHINA)
        & (pl.col("unit") == "percent")
        & pl.col("metric").is_in([MACROPOLO_WORK_SHARE, MACROPOLO_ORIGIN_SHARE])
    )
    if top.height:
        ai = top.pivot(
            on="metric",
            index=["edition", "conference_sample"],
            values="value",
            aggregate_function="first",
        )
        if {MACROPOLO_WORK_SHARE, MACROPOLO_ORIGIN_SHARE} <= set(ai.columns):
            frames.append(
                _ladder(
                    ai.drop_nulls([MACROPOLO_WORK_SHARE, MACROPOLO_ORIGIN_SHARE]),
                    "top_ai_researchers",
                    year=pl.col("conference_sample").str.extract(r"(\d{4})").cast(pl.Int32),
                    source=pl.concat_str(pl.lit("MacroPolo Global AI Talent Tracker "), "edition"),
                    destination_share=pl.col(MACROPOLO_WORK_SHARE) / 100,
                    origin_share=pl.col(MACROPOLO_ORIGIN_SHARE) / 100,
                    pull_ratio=pl.col(MACROPOLO_WORK_SHARE) / pl.col(MACROPOLO_ORIGIN_SHARE),
                    china_in=pl.lit(None, dtype=pl.Float64),
                    china_out=pl.lit(None, dtype=pl.Float64),
                    world=pl.lit(None, dtype=pl.Float64),
                    comparable=pl.lit(True),
                    counts=pl.lit(
                        "top-tier AI researchers (NeurIPS accepted-paper authors): working in "
                        "China over with a Chinese undergraduate degree; nationals included"
                    ),
                    note=pl.lit("published rounded to whole percent"),
                )
            )
    return pl.concat(frames).sort("order", "year", "source")


#: Rungs whose latest years lie further apart than this get a caveat.
LADDER_YEAR_SPREAD = 3


def verdict_c(ladder: pl.DataFrame) -> Verdict:
    """(c) The ``pull_ratio`` of each comparable rung in its latest year (the mean over
    the sources measuring it that year), in rising order of expertise. Supported when it
    falls at every step up the ladder, partly when at some steps, not supported when at
    none; untestable with fewer than two comparable rungs."""
    comparable = ladder.filter(pl.col("comparable") & pl.col("pull_ratio").is_not_null())
    latest = (
        comparable.filter(pl.col("year") == pl.col("year").max().over("level"))
        .group_by("level", "order")
        .agg(
            pl.col("pull_ratio").mean(),
            pl.col("year").first().alias("last"),
            pl.col("source").sort().str.join(", "),
        )
        .sort("order")
    )
    rungs = list(latest.iter_rows(named=True))
    steps = [
        (low, high, high["pull_ratio"] < low["pull_ratio"])
        for low, high in zip(rungs, rungs[1:], strict=False)
    ]
    falls = sum(fell for _, _, fell in steps)
    if len(rungs) < 2:
        verdict = UNTESTABLE
    elif falls == len(steps):
        verdict = SUPPORTED
    elif falls:
        verdict = PARTLY
    else:
        verdict = NOT_SUPPORTED

    described = " -> ".join(
        f"{rung['level']} {_ratio(rung['pull_ratio'])} ({rung['last']})" for rung in rungs
    )
    step_text = "; ".join(
        f"{low['level']} to {high['level']}: {'falls' if fell else 'rises'}"
        for low, high, fell in steps
    )
    apart = ladder.filter(~pl.col("comparable"))["level"].unique().sort().to_list()
    years = [rung["last"] for rung in rungs]
    spread = (
        f" The rungs' latest years span {min(years)}-{max(years)}."
        if years and max(years) - min(years) > LADDER_YEAR_SPREAD
        else ""
    )
    return Verdict(
        verdict=verdict,
        evidence=(
            f"People ending up in China per person from China: {described or 'none'}. "
            f"{step_text or 'no step'}. Shown apart, not ranked: {', '.join(apart) or 'none'}."
        ),
        rule=(
            "China's share of each level's mobile people by destination over its share by "
            "origin (pull ratio), latest year per comparable rung (mean over the sources of "
            "that year): "
            "supported when it falls at every step up the ladder, partly supported when at "
            "some, not supported when at none; untestable with fewer than two comparable "
            "rungs."
        ),
        sources="UNESCO UIS (26637, MENF.5T8); MPIDR Scholarly Migration Database; "
        "MacroPolo Global AI Talent Tracker; China MoE (doctoral count, apart)",
        tables="china_pull_ladder",
        caveats="Only the student rung counts foreigners alone; the researcher rung counts "
        "every move into China, returning Chinese researchers included, and the AI rung "
        "everyone working in China, Chinese nationals included, so a higher ratio there can "
        "mean returnees rather than foreign pull (claim b)." + spread,
    )


# -- (d) rising sources ----------------------------------------------------------------------

#: Other Asian economies: the World Bank regions East Asia & Pacific (without Oceania) and
#: South Asia, and Central Asia (in the World Bank's Europe & Central Asia); China, Hong
#: Kong, Macao and Taiwan are counted apart. West Asia is left out: the claim is about
#: China's Asian neighbourhood.
ASIA_REGIONS = ("East Asia & Pacific", "South Asia")
CENTRAL_ASIA = ("KAZ", "KGZ", "TJK", "TKM", "UZB")
OCEANIA = (
    "AUS", "NZL", "PNG", "FJI", "SLB", "VUT", "WSM", "TON", "KIR", "FSM", "MHL", "PLW",
    "NRU", "TUV", "ASM", "GUM", "MNP", "PYF", "NCL",
)  # fmt: skip
OTHER_ASIA = "Other Asia"
GREATER_CHINA_GROUP = "Hong Kong, Macao, Taiwan"
LESS_DEVELOPED = "Not high income"
MOE_CONTINENTS = ("Africa", "Americas", "Asia", "Europe", "Oceania")
MOE_SOURCE = "China MoE"
#: Years of MPIDR moves the trend test covers (the latest reliable ones).
TREND_YEARS = 10
#: A series needs this many years to be tested; and the test's significance level.
MIN_TREND_YEARS, TREND_ALPHA = 8, 0.05
CURRENT_INCOME_CLASSES = (
    "World Bank income groups of the current list, applied to every year (the historical "
    "classifications are not in the mirror)"
)


def other_asia() -> pl.Expr:
    """True for the origins of :data:`OTHER_ASIA` (columns ``origin_region``,
    ``origin_iso3`` of ``china_researcher_inflows``)."""
    return (
        pl.col("origin_region").is_in(ASIA_REGIONS) | pl.col("origin_iso3").is_in(CENTRAL_ASIA)
    ) & ~pl.col("origin_iso3").is_in([CHINA, *GREATER_CHINA, *OCEANIA])


def origin_shares_china(inflows: pl.DataFrame, moe_students: pl.DataFrame) -> pl.DataFrame:
    """Where the people moving to China come from, by year (columns:
    ``core.tables.CHINA_ORIGIN_SHARES_SCHEMA``).

    From ``china_researcher_inflows`` (MPIDR, reliable years, Scopus and OpenAlex kept
    apart): by World Bank income group (shares add to 1, unplaced origins included), the
    group :data:`LESS_DEVELOPED` (the three lower groups together), :data:`OTHER_ASIA` and
    :data:`GREATER_CHINA_GROUP`. From the MoE: foreign students by continent over the
    MoE's total of the same year."""
    first, last = MPIDR_RELIABLE_YEARS
    moves = inflows.filter(pl.col("year").is_between(first, last)).with_columns(
        pl.concat_str(pl.lit("MPIDR "), "database").alias("source"),
        pl.col("migrations").sum().over("database", "year").cast(pl.Float64).alias("total"),
    )
    keys = ["source", "year", "total"]

    def grouped(frame: pl.DataFrame, grouping: str, group: pl.Expr, classes: str) -> pl.DataFrame:
        return (
            frame.with_columns(group.alias("origin_group"))
            .group_by([*keys, "origin_group"])
            .agg(pl.col("migrations").sum().cast(pl.Float64).alias("people"))
            .with_columns(
                pl.lit(grouping).alias("grouping"), pl.lit(classes).alias("classification")
            )
        )

    lower = [g for g in INCOME_GROUP_LABELS if g != HIGH_INCOME]
    frames = [
        grouped(moves, "income_group", pl.col("origin_income_group"), CURRENT_INCOME_CLASSES),
        grouped(
            moves.filter(pl.col("origin_income_group").is_in(lower)),
            "less_developed",
            pl.lit(LESS_DEVELOPED),
            CURRENT_INCOME_CLASSES,
        ),
        grouped(
            moves.filter(other_asia()),
            "asia",
            pl.lit(OTHER_ASIA),
            "World Bank regions East Asia & Pacific (without Oceania) and South Asia, and "
            "Central Asia (current list)",
        ),
        grouped(
            moves.filter(pl.col("origin_iso3").is_in(GREATER_CHINA)),
            "asia",
            pl.lit(GREATER_CHINA_GROUP),
            "counted apart from other Asia",
        ),
    ]
    moe_total = moe_students.filter(pl.col("metric") == MOE_TOTAL_METRIC).select(
        "year", pl.col("value").alias("total")
    )
    continents = (
        moe_students.filter(
            pl.col("metric").str.starts_with("international_students_by_continent")
            & pl.col("category").is_in(MOE_CONTINENTS)
        )
        .join(moe_total, on="year", how="inner")
        .select(
            pl.lit(MOE_SOURCE).alias("source"),
            "year",
            "total",
            pl.col("category").alias("origin_group"),
            pl.col("value").alias("people"),
            pl.lit("continent").alias("grouping"),
            pl.lit(
                "continents as the MoE publishes them; over its total of all foreign students"
            ).alias("classification"),
        )
    )
    frames.append(continents)
    schema = CHINA_ORIGIN_SHARES_SCHEMA
    return (
        pl.concat([f.select([c for c in schema if c != "share"]) for f in frames])
        .with_columns((pl.col("people") / pl.col("total")).alias("share"))
        .select([pl.col(c).cast(t) for c, t in schema.items()])
        .sort("source", "grouping", "origin_group", "year")
    )


@dataclass(frozen=True)
class Trend:
    source: str
    group: str
    first: int
    last: int
    start: float
    end: float
    tau: float
    p_value: float

    @property
    def direction(self) -> str:
        if self.p_value < TREND_ALPHA:
            return "rising" if self.tau > 0 else "falling"
        return "no significant trend"

    def describe(self) -> str:
        return (
            f"{self.group} in {self.source}: {_pct(self.start)} ({self.first}) -> "
            f"{_pct(self.end)} ({self.last}), Kendall tau {self.tau:+.2f}, p={self.p_value:.3f}: "
            f"{self.direction}"
        )


def share_trend(shares: pl.DataFrame, source: str, group: str) -> Trend | None:
    """Kendall's tau of one group's share against the year over the latest
    :data:`TREND_YEARS` years of ``source``; None with fewer than :data:`MIN_TREND_YEARS`."""
    series = shares.filter((pl.col("source") == source) & (pl.col("origin_group") == group)).sort(
        "year"
    )
    if series.height:
        series = series.filter(pl.col("year") > series["year"].max() - TREND_YEARS)
    if series.height < MIN_TREND_YEARS:
        return None
    from scipy.stats import kendalltau  # imported here: scipy.stats takes 2 s to import

    tau, p_value = kendalltau(series["year"].to_list(), series["share"].to_list())
    return Trend(
        source,
        group,
        int(series["year"][0]),
        int(series["year"][-1]),
        float(series["share"][0]),
        float(series["share"][-1]),
        float(tau),
        float(p_value),
    )


def verdict_d(shares: pl.DataFrame) -> Verdict:
    """(d) Kendall's tau of the shares of :data:`OTHER_ASIA` and :data:`LESS_DEVELOPED` in
    each MPIDR database's moves into China over the latest :data:`TREND_YEARS` years.
    Supported when both rise significantly in every database, partly supported when
    at least one rises in at least one, not supported otherwise; untestable when no
    series has :data:`MIN_TREND_YEARS` years. The MoE's continents (three years) are
    reported, not tested."""
    mpidr = sorted(s for s in shares["source"].unique().to_list() if s.startswith("MPIDR"))
    trends = [
        trend
        for source in mpidr
        for group in (OTHER_ASIA, LESS_DEVELOPED)
        if (trend := share_trend(shares, source, group)) is not None
    ]
    rising = [t for t in trends if t.direction == "rising"]
    if not trends:
        verdict = UNTESTABLE
    elif len(rising) == 2 * len(mpidr):
        verdict = SUPPORTED
    elif rising:
        verdict = PARTLY
    else:
        verdict = NOT_SUPPORTED
    moe = shares.filter(pl.col("source") == MOE_SOURCE)
    moe_text = []
    for group in ("Asia", "Africa"):
        series = moe.filter(pl.col("origin_group") == group).sort("year")
        if series.height >= 2:
            moe_text.append(
                f"{group} {_pct(series['share'][0])} ({series['year'][0]}) -> "
                f"{_pct(series['share'][-1])} ({series['year'][-1]})"
            )
    return Verdict(
        verdict=verdict,
        evidence=(
            "; ".join(t.describe() for t in trends)
            + ". China MoE foreign students by continent (context, too few years to test): "
            + ("; ".join(moe_text) or "none")
            + "."
        ),
        rule=(
            f"Kendall's tau of the share of moves into China from other Asian economies and "
            f"from non-high-income countries against the year, latest {TREND_YEARS} reliable "
            f"MPIDR years, per database: supported when both rise (p < {TREND_ALPHA}) in every "
            "database, partly supported when at least one rises in one, not supported "
            f"otherwise; untestable with fewer than {MIN_TREND_YEARS} years."
        ),
        sources="MPIDR Scholarly Migration Database (Scopus, OpenAlex); World Bank country "
        "list; China MoE",
        tables="china_origin_shares, china_researcher_inflows",
        caveats="Income groups are today's, applied to every year: a country that rose into "
        "high income counts as high income throughout. Moves are by publishing affiliation "
        "and include Chinese researchers returning from those places. The data cannot show "
        "that tech-denial caused a change.",
    )


# -- (e) returnees and the 2018 policy change ----------------------------------------------------

#: The US policy change the claim refers to, and what it was.
POLICY_YEAR = 2018
POLICY_NOTE = (
    "US Department of Justice 'China Initiative' launched November 2018 (ended February "
    "2022); Presidential Proclamation 10043 on Chinese graduate students followed in May 2020"
)
#: Years before the policy change compared with the years after it.
BEFORE_YEARS = 5
NCSES_STAY_INTENT = "intend_to_stay_percent"
SHARE_SIGNAL = "usa_to_china_share_of_usa_moves_abroad"
MOVES_SIGNAL = "usa_to_china_moves"
STAY_SIGNAL = "chinese_us_doctorates_intending_to_stay"


def returnee_signals_china(mpidr_flows: pl.DataFrame, us_doctorates: pl.DataFrame) -> pl.DataFrame:
    """Signals around :data:`POLICY_YEAR`, by year (columns:
    ``core.tables.CHINA_RETURNEE_SIGNALS_SCHEMA``): researcher moves from the USA to China
    and their share of all moves out of the USA (MPIDR, per database, reliable years), and
    the percentage of Chinese recipients of US research doctorates intending to stay in
    the USA (NCSES, ``chinese_us_doctorates``, all fields)."""
    from_usa = _reliable_moves(mpidr_flows).filter(
        (pl.col("origin_iso3") == USA) & (pl.col("destination_iso3") != USA)
    )
    by_year = from_usa.group_by("database", "year").agg(
        _moves(pl.col("destination_iso3") == CHINA).alias("to_china"),
        _moves().alias("abroad"),
    )
    source = pl.concat_str(pl.lit("MPIDR Scholarly Migration Database, "), "database")
    moves = by_year.select(
        pl.lit(MOVES_SIGNAL).alias("signal"),
        "year",
        pl.col("to_china").alias("value"),
        pl.lit("moves").alias("unit"),
        source.alias("source"),
        pl.lit("researcher moves from the USA to China (any nationality)").alias("note"),
    )
    share = by_year.select(
        pl.lit(SHARE_SIGNAL).alias("signal"),
        "year",
        (pl.col("to_china") / pl.col("abroad")).alias("value"),
        pl.lit("share").alias("unit"),
        source.alias("source"),
        pl.lit("moves to China over all moves out of the USA").alias("note"),
    )
    stay = us_doctorates.filter(
        (pl.col("measure") == NCSES_STAY_INTENT)
        & (pl.col("field") == "All fields")
        & pl.col("year").is_not_null()
    ).select(
        pl.lit(STAY_SIGNAL).alias("signal"),
        "year",
        "value",
        pl.lit("percent").alias("unit"),
        pl.concat_str(pl.lit("NCSES SED table "), "source_table").alias("source"),
        pl.lit("Chinese recipients of US research doctorates intending to stay in the USA").alias(
            "note"
        ),
    )
    return (
        pl.concat([moves, share, stay], how="diagonal_relaxed")
        .with_columns(
            pl.when(pl.col("year") <= POLICY_YEAR)
            .then(pl.lit("before"))
            .otherwise(pl.lit("after"))
            .alias("period")
        )
        .select([pl.col(c).cast(t) for c, t in CHINA_RETURNEE_SIGNALS_SCHEMA.items()])
        .sort("signal", "source", "year")
    )


def _before_after(rows: pl.DataFrame) -> tuple[float, float, str] | None:
    before = rows.filter(pl.col("year").is_between(POLICY_YEAR - BEFORE_YEARS + 1, POLICY_YEAR))
    after = rows.filter(pl.col("year") > POLICY_YEAR)
    if before.is_empty() or after.is_empty():
        return None
    span = (
        f"{before['year'].min()}-{before['year'].max()} vs "
        f"{after['year'].min()}-{after['year'].max()}"
    )
    return float(before["value"].mean()), float(after["value"].mean()), span


def verdict_e(signals: pl.DataFrame) -> Verdict:
    """(e) Two signals, the :data:`BEFORE_YEARS` years up to :data:`POLICY_YEAR` against
    the years after: the USA-to-China share of moves out of the USA rises (in every MPIDR
    database), and Chinese US doctorates' intention to stay falls. Both: partly supported,
    the most descriptive, nationality-blind data can give; otherwise not supported;
    untestable when neither signal has years on both sides."""
    lines, consistent, tested = [], [], 0
    share = signals.filter(pl.col("signal") == SHARE_SIGNAL)
    share_up = []
    for source in sorted(share["source"].unique().to_list()):
        compared = _before_after(share.filter(pl.col("source") == source))
        if compared is None:
            continue
        before, after, span = compared
        share_up.append(after > before)
        lines.append(
            f"USA-to-China share of moves out of the USA, {source}: {_pct(before, 2)} -> "
            f"{_pct(after, 2)} ({span})"
        )
    if share_up:
        tested += 1
        consistent.append(all(share_up))
    compared = _before_after(signals.filter(pl.col("signal") == STAY_SIGNAL))
    if compared is not None:
        before, after, span = compared
        tested += 1
        consistent.append(after < before)
        lines.append(
            f"Chinese US doctorates intending to stay: {before:.1f} % -> {after:.1f} % ({span})"
        )
    if tested == 0:
        verdict = UNTESTABLE
    elif tested == 2 and all(consistent):
        verdict = PARTLY
    else:
        verdict = NOT_SUPPORTED
    return Verdict(
        verdict=verdict,
        evidence="; ".join(lines) + f". Policy date: {POLICY_NOTE}." if lines else "no signal",
        rule=(
            f"Means of the {BEFORE_YEARS} years up to {POLICY_YEAR} against the years after: "
            "partly supported when the USA-to-China share of moves out of the USA rises in "
            "every database and Chinese US doctorates' intention to stay falls; not "
            "supported otherwise; untestable when neither has years on both sides. "
            "'Supported' is out of reach of these data (see caveats)."
        ),
        sources="MPIDR Scholarly Migration Database (Scopus, OpenAlex); NCSES Survey of "
        "Earned Doctorates",
        tables="china_returnee_signals, chinese_us_doctorates",
        caveats="Descriptive data: a change after 2018 coincides with the policy, it does "
        "not show the policy caused it. Neither source records descent or excellence: MPIDR "
        "moves are all researchers of any nationality, NCSES intentions are all Chinese "
        "doctorate recipients. MPIDR's reliable years end in 2020, so the 'after' period is "
        "short.",
    )


# -- the table -----------------------------------------------------------------------------------


def seed_claims(
    gap: pl.DataFrame,
    findings: pl.DataFrame,
    prior_ties: pl.DataFrame,
    inflows: pl.DataFrame,
    ladder: pl.DataFrame,
    origin_shares: pl.DataFrame,
    returnee_signals: pl.DataFrame,
) -> pl.DataFrame:
    """One row per claim (a)-(e) with its computed verdict (columns:
    ``core.tables.SEED_CLAIMS_SCHEMA``)."""
    verdicts: Mapping[str, Verdict] = {
        "a": verdict_a(gap, findings),
        "b": verdict_b(prior_ties, inflows),
        "c": verdict_c(ladder),
        "d": verdict_d(origin_shares),
        "e": verdict_e(returnee_signals),
    }
    rows = [
        {
            "claim": claim,
            "statement": STATEMENTS[claim],
            "verdict": v.verdict,
            "evidence": v.evidence,
            "rule": v.rule,
            "sources": v.sources,
            "tables": v.tables,
            "caveats": v.caveats,
        }
        for claim, v in verdicts.items()
    ]
    return pl.DataFrame(rows, schema=SEED_CLAIMS_SCHEMA)
