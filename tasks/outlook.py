"""The outlook report: one self-contained HTML page of a run's forecasts, for analysts.

It shows the headline forecasts (:data:`core.facts.HEADLINE_TARGETS`) with their history,
the selected model and its 80 % and 95 % intervals, China and the United States of one
target on one chart and one scale; China's talent ladder (its share of each rung of
expertise); and the scenario fan to 2050 (WPP variants and policy levers). Each chart is
a Vega-Lite specification built with Altair from one table, the table the chart draws;
the same table is offered as a CSV download beside the chart, and the chart's title
states its finding, computed from that table.

The page is the Jinja template ``templates/outlook.html.j2`` (autoescaped) with its
stylesheet and script beside it, all package data; Vega, Vega-Lite and Vega-Embed are
inlined from vl-convert's bundle, so the page works offline and can be e-mailed as one
file.

Never here: HTML, CSS or JavaScript in a Python string; anything fetched from the network
(no CDN, no web fonts: the Content Security Policy forbids every load, and only the
page's two scripts, by hash, may run); or a text that reaches the page unescaped (Jinja
escapes markup; the JSON of the specifications escapes ``<``, ``>`` and ``&``; Vega
writes text as text).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import altair as alt
import jinja2
import polars as pl
import pycountry
from markupsafe import Markup
from prefect import task
from prefect.artifacts import create_link_artifact
from prefect.cache_policies import NO_CACHE

from talentflow.core.csv_export import spreadsheet_csv
from talentflow.core.facts import HEADLINE_TARGETS, compact_number
from talentflow.core.settings import get_settings
from talentflow.core.storage import atomic_write_bytes, report_url, reports_dir
from talentflow.tasks.features.scenarios import INTAKE_SERIES, RATE_TARGETS

OUTLOOK_KEY = "outlook-report"
BASE_SCENARIO = "Medium"
#: WPP's variants: the fan shows them, and the policy levers applied to the base variant.
VARIANTS = ("Medium", "Low", "High")
#: The variants whose forecasts bound a headline's scenario spread.
SPREAD_VARIANTS = ("Low", "High")
FAN_UNTIL = 2050
#: Observed years drawn before a fan, for context.
FAN_HISTORY_YEARS = 15
#: ``(target, country_iso3)`` of the headline forecasts, in page order (core.facts'
#: headline targets). The places of one target share one chart; a target with origin
#: groups gets one chart per group.
HEADLINE_SERIES: tuple[tuple[str, str], ...] = tuple(
    (target, place) for target, places in HEADLINE_TARGETS.items() for place in places
)
#: Readers' names of the targets; units and sources come from the rate targets. A target
#: without an entry is shown under its own name.
TARGET_TITLES = {
    "researchers": "Researchers in R&D",
    "tertiary_students": "Students in tertiary education",
    "adults_25plus_tertiary": "Adults aged 25+ with a tertiary education",
    "se_doctorates": "Science and engineering doctorates awarded",
    "se_first_degrees": "Science and engineering first degrees awarded",
    "world_mobile_students": "Internationally mobile students in the world",
    "researcher_moves_abroad": "Researchers moving abroad",
    "china_researcher_inflows": "Researchers moving into China",
    "china_inbound_students": "International degree students in China",
}
#: Readers' names of the ladder's rungs (``china_talent_ladder.level``).
LEVEL_TITLES = {
    "students": "Students",
    "doctoral": "Doctoral students",
    "researchers": "Researchers",
    "top_ai_researchers": "Top AI researchers",
}
INTERVAL_MEANING = (
    "Shaded bands are prediction intervals: if the future varies as the past did, the "
    "value should fall inside the darker band (80 %) four years in five and inside the "
    "lighter band (95 %) nineteen in twenty. They do not cover changes of definition, "
    "of policy or of the source."
)
#: Said when a headline's WPP variants give identical forecasts: the variants differ only
#: in fertility, so they cannot differ for a cohort already born.
SAME_VARIANTS = "the WPP variants do not differ yet for this cohort: everyone in it is already born"
OBSERVED_COLUMNS = ("target", "country_iso3", "origin_group", "year", "value")
LADDER_COLUMNS = ("level", "order", "year", "china_share", "source")

# Colour-blind-safe (Okabe-Ito) inks; the first place of a chart is blue.
INK = "#1d2430"
PLACE_COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9")
SCENARIO_COLOURS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#d55e00", "#56b4e9", "#999999")
LEVEL_COLOURS = ("#56b4e9", "#0072b2", "#009e73", "#cc79a7", "#d55e00")
#: The name of every chart's dataset in its specification (the page reads it back).
DATASET = "drawn"
#: Tooltip number formats (d3-format): counts to four significant digits, shares in %.
COUNT_FORMAT = ",.4~r"
SHARE_FORMAT = ".1%"
#: Pixels per row of the ladder chart.
LADDER_ROW_HEIGHT = 28

#: The columns of each kind of chart's table: what its CSV holds, in this order.
HEADLINE_COLUMNS = {
    "target": pl.String,
    "origin_group": pl.String,
    "place": pl.String,
    "country_iso3": pl.String,
    "year": pl.Int32,
    "series": pl.String,  # observed or forecast
    "value": pl.Float64,
    "lo80": pl.Float64,
    "hi80": pl.Float64,
    "lo95": pl.Float64,
    "hi95": pl.Float64,
    "scenario": pl.String,
    "model": pl.String,
}
FAN_COLUMNS = {
    "target": pl.String,
    "origin_group": pl.String,
    "country_iso3": pl.String,
    "scenario": pl.String,  # "observed" for the history
    "year": pl.Int32,
    "value": pl.Float64,
    "lo80": pl.Float64,
    "hi80": pl.Float64,
    "model": pl.String,
}
LADDER_CHART_COLUMNS = {
    "order": pl.Int32,
    "level": pl.String,
    "rung": pl.String,
    "source": pl.String,
    "label": pl.String,
    "first_year": pl.Int32,
    "first_share": pl.Float64,
    "year": pl.Int32,
    "share": pl.Float64,
    "note": pl.String,
}


@dataclass(frozen=True)
class SeriesKey:
    """One forecast series: a target in a country, for one origin group (intake targets)."""

    target: str
    country_iso3: str
    origin_group: str | None

    def title(self) -> str:
        name = target_title(self.target)
        if self.origin_group is not None:
            return f"{name}, {origin_group_words(self.origin_group)}"
        return f"{name}, {country_name(self.country_iso3)}"

    def unit(self) -> str:
        return target_unit(self.target)

    def source(self) -> str:
        return target_source(self.target)

    def matches(self) -> pl.Expr:
        group = (
            pl.col("origin_group").is_null()
            if self.origin_group is None
            else pl.col("origin_group") == self.origin_group
        )
        return (
            (pl.col("target") == self.target) & (pl.col("country_iso3") == self.country_iso3)
        ) & group


@dataclass
class Chart:
    """One chart of the page: the text around it, its Vega-Lite specification, and the
    table it draws (which is also its CSV download)."""

    chart_id: str
    kind: str  # "headline", "fan" or "ladder"
    title: str  # the finding, computed from ``table``
    caption: str
    summary: str
    table: pl.DataFrame
    spec: dict[str, Any] = field(repr=False)
    csv_name: str = ""
    spread: str | None = None

    def csv(self) -> str:
        """The chart's table as CSV: every row and column the specification draws."""
        return spreadsheet_csv(self.table)

    def csv_href(self) -> str:
        """The CSV as a ``data:`` address, so the download works offline from one file."""
        return "data:text/csv;charset=utf-8," + quote(self.csv(), safe="")


def outlook_html(
    forecasts: pl.DataFrame,
    observed: pl.DataFrame,
    ladder: pl.DataFrame,
    *,
    run_id: str,
    vintage: int,
    headline: Sequence[tuple[str, str]] = HEADLINE_SERIES,
    fan_until: int = FAN_UNTIL,
    claims: pl.DataFrame | None = None,
) -> str:
    """The outlook report of one run as a single self-contained HTML page.

    Parameters
    ----------
    forecasts
        The forecasts table (``core.tables.FORECASTS_SCHEMA``); only rows of ``run_id``
        are used, and only the backtest's selected model (``is_selected``).
    observed
        Observed history, long: ``target, country_iso3, origin_group, year, value``, in the
        same units as the forecasts' ``yhat`` (``origin_group`` null for country targets).
    ladder
        The ``china_talent_ladder`` table: ``level, order, year, china_share, source``
        (``note`` is shown where present).
    run_id, vintage
        The run, and the last data year it used; shown in the header.
    headline
        ``(target, country_iso3)`` of the headline charts, in order (default
        :data:`HEADLINE_SERIES`); the places of one target share a chart, and series
        absent from ``forecasts`` are named as missing.
    fan_until
        Last year of the scenario fans.
    claims
        The ``seed_claims`` table (``core.tables.SEED_CLAIMS_SCHEMA``); the page opens
        with it when given (full runs; a replay has none).

    Raises ValueError when ``forecasts`` has no row of ``run_id`` or a frame lacks a column.
    """
    charts = outlook_charts(
        forecasts, observed, ladder, run_id=run_id, headline=headline, fan_until=fan_until
    )
    run = forecasts.filter(pl.col("run_id") == run_id)
    created = run["created_at"].max() if "created_at" in run.columns else None
    return render_page(charts, run_id=run_id, vintage=vintage, created=created, claims=claims)


@dataclass
class OutlookCharts:
    """The page's charts, by section, and the headline series the run lacks."""

    headline: list[Chart]
    ladder: Chart
    fans: list[Chart]
    missing: list[str]
    fan_until: int

    def all(self) -> list[Chart]:
        return [*self.headline, self.ladder, *self.fans]


def outlook_charts(
    forecasts: pl.DataFrame,
    observed: pl.DataFrame,
    ladder: pl.DataFrame,
    *,
    run_id: str,
    headline: Sequence[tuple[str, str]] = HEADLINE_SERIES,
    fan_until: int = FAN_UNTIL,
) -> OutlookCharts:
    """Every chart of the outlook (see :func:`outlook_html` for the arguments)."""
    _require(observed, OBSERVED_COLUMNS, "observed")
    _require(ladder, LADDER_COLUMNS, "ladder")
    run = forecasts.filter((pl.col("run_id") == run_id) & pl.col("is_selected"))
    if run.is_empty():
        found = sorted(forecasts["run_id"].unique().drop_nulls().to_list())[:5]
        raise ValueError(
            f"no selected forecasts of run {run_id!r} to report; the table has runs {found}"
        )
    groups, missing = _headline_groups(run, headline)
    headline_charts = [
        _headline_chart(f"headline-{i}", keys, run, observed) for i, keys in enumerate(groups)
    ]
    fans = []
    for key in (key for keys in groups for key in keys):
        fan = _fan_chart(f"fan-{len(fans)}", key, run, observed, fan_until)
        if fan is not None:
            fans.append(fan)
    return OutlookCharts(headline_charts, _ladder_chart("ladder", ladder), fans, missing, fan_until)


def write_outlook(html_text: str, path: Path) -> Path:
    """Write the report to ``path`` atomically (a reader sees the old page or the new)."""
    atomic_write_bytes(path, html_text.encode("utf-8"))
    return path


def outlook_paths(data_dir_reports: Path, run_id: str) -> tuple[Path, Path]:
    """``outlook-<run_id>.html`` and ``outlook-latest.html`` in the reports folder."""
    safe_run_id = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    return (
        data_dir_reports / f"outlook-{safe_run_id}.html",
        data_dir_reports / "outlook-latest.html",
    )


@task(name="outlook-report", cache_policy=NO_CACHE)
def publish_outlook(
    forecasts: pl.DataFrame,
    observed: pl.DataFrame,
    ladder: pl.DataFrame,
    *,
    run_id: str,
    vintage: int,
    latest: bool = True,
    claims: pl.DataFrame | None = None,
) -> Path:
    """Write the run's outlook to ``<data_dir>/reports/outlook-<run_id>.html`` and, unless
    ``latest`` is false (an ``--as-of`` replay never replaces the current outlook),
    ``outlook-latest.html``, and link it from the run (artifact key ``outlook-report``):
    at ``TALENTFLOW_REPORT_BASE_URL`` when set, else as a file whose path the artifact's
    description spells out. Returns the run's own page."""
    settings = get_settings()
    page = outlook_html(forecasts, observed, ladder, run_id=run_id, vintage=vintage, claims=claims)
    this_run, latest_path = outlook_paths(reports_dir(settings), run_id)
    write_outlook(page, this_run)
    if latest:
        write_outlook(page, latest_path)
    create_link_artifact(
        key=OUTLOOK_KEY,
        link=report_url(settings, this_run),
        link_text=f"Forecast outlook, run {run_id}",
        description=outlook_description(
            vintage, this_run, latest_path, served=settings.report_base_url is not None
        ),
    )
    return this_run


def outlook_description(vintage: int, this_run: Path, latest: Path, *, served: bool) -> str:
    """The outlook artifact's description: what the page holds, and where the file is
    when no report site serves it (a browser will not open a ``file://`` link from the
    Prefect UI)."""
    what = (
        f"Forecasts with 80 %/95 % intervals (China and the United States on one scale), "
        f"China's talent ladder and the scenario fan to {FAN_UNTIL}; data up to {vintage}; "
        f"each chart's data as CSV. One self-contained HTML file that works offline."
    )
    if served:
        return f"{what} The latest run's page is {latest.name} on the same site."
    return (
        f"{what} The file is {this_run} (latest run: {latest}) on the machine that ran "
        "the flow: open it there in a browser, or set TALENTFLOW_REPORT_BASE_URL to the "
        "address of a web server over the reports folder to link it from here."
    )


# -- what the charts draw --------------------------------------------------------------------


def _require(frame: pl.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(
            f"outlook: the {name} frame lacks {missing}; it needs {list(columns)} "
            f"(has {frame.columns})"
        )


def _headline_groups(
    run: pl.DataFrame, headline: Sequence[tuple[str, str]]
) -> tuple[list[list[SeriesKey]], list[str]]:
    """The headline charts, each a list of series drawn together (the places of a target,
    for one origin group), and the headline series that the run lacks."""
    targets: dict[str, list[str]] = {}
    for target, place in headline:
        targets.setdefault(target, []).append(place)
    groups, missing = [], []
    for target, places in targets.items():
        by_group: dict[str | None, list[SeriesKey]] = {}
        for place in places:
            rows = run.filter((pl.col("target") == target) & (pl.col("country_iso3") == place))
            if rows.is_empty():
                missing.append(f"{target_title(target)} ({target}, {place})")
                continue
            for group in rows["origin_group"].unique().to_list():
                by_group.setdefault(group, []).append(SeriesKey(target, place, group))
        groups += [by_group[g] for g in sorted(by_group, key=_origin_group_order)]
    return groups, missing


def _origin_group_order(group: str | None) -> tuple[int, str]:
    if group is None:
        return (-1, "")
    known = list(INTAKE_SERIES)
    return (known.index(group) if group in known else len(known), group)


def _base_scenario(rows: pl.DataFrame) -> str:
    scenarios = rows["scenario"].unique().to_list()
    return BASE_SCENARIO if BASE_SCENARIO in scenarios else sorted(scenarios)[0]


def _observed_points(observed: pl.DataFrame, key: SeriesKey) -> pl.DataFrame:
    """``year, value`` of a series' finite observations, one per year."""
    value = pl.col("value").cast(pl.Float64)
    return (
        observed.filter(key.matches() & value.is_not_null() & value.is_not_nan())
        .with_columns(value, pl.col("year").cast(pl.Int32))
        .group_by("year")
        .agg(pl.col("value").first())
        .sort("year")
    )


def _forecast_points(rows: pl.DataFrame, until: int | None = None) -> pl.DataFrame:
    """``year, value, lo80, hi80, lo95, hi95, model`` of one scenario's forecast (NaN and
    infinite bounds as null), one row per year."""
    if until is not None:
        rows = rows.filter(pl.col("year") <= until)
    bounds = ("lo80", "hi80", "lo95", "hi95")
    return (
        rows.filter(pl.col("yhat").is_not_null() & pl.col("yhat").is_finite())
        .unique("year", keep="first", maintain_order=True)
        .sort("year")
        .select(
            pl.col("year").cast(pl.Int32),
            pl.col("yhat").cast(pl.Float64).alias("value"),
            *[
                pl.when(pl.col(b).is_finite()).then(pl.col(b)).cast(pl.Float64).alias(b)
                for b in bounds
            ],
            "model",
        )
    )


def _headline_table(
    keys: list[SeriesKey], run: pl.DataFrame, observed: pl.DataFrame
) -> tuple[pl.DataFrame, str, dict[SeriesKey, str]]:
    """The table a headline chart draws, its base scenario, and each place's models."""
    parts: list[pl.DataFrame] = []
    models: dict[SeriesKey, str] = {}
    scenario = _base_scenario(run.filter(pl.any_horizontal(*[k.matches() for k in keys])))
    for key in keys:
        rows = run.filter(key.matches() & (pl.col("scenario") == scenario))
        models[key] = ", ".join(sorted(rows["model"].unique().to_list()))
        label = {
            "target": pl.lit(key.target),
            "origin_group": pl.lit(key.origin_group, dtype=pl.String),
            "place": pl.lit(country_name(key.country_iso3)),
            "country_iso3": pl.lit(key.country_iso3),
        }
        history = _observed_points(observed, key).with_columns(
            **label,
            series=pl.lit("observed"),
            scenario=pl.lit(None, dtype=pl.String),
            model=pl.lit(None, dtype=pl.String),
        )
        forecast = _forecast_points(rows).with_columns(
            **label, series=pl.lit("forecast"), scenario=pl.lit(scenario)
        )
        parts += [history, forecast]
    return _frame(parts, HEADLINE_COLUMNS), scenario, models


def _frame(parts: list[pl.DataFrame], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """``parts`` stacked in ``schema``'s columns and types (absent columns as null)."""
    typed = [
        part.select(
            [
                (pl.col(name) if name in part.columns else pl.lit(None)).cast(dtype).alias(name)
                for name, dtype in schema.items()
            ]
        )
        for part in parts
    ]
    return pl.concat(typed) if typed else pl.DataFrame(schema=schema)


def _headline_chart(
    chart_id: str, keys: list[SeriesKey], run: pl.DataFrame, observed: pl.DataFrame
) -> Chart:
    table, scenario, models = _headline_table(keys, run, observed)
    first = keys[0]
    unit = first.unit()
    places = [country_name(key.country_iso3) for key in keys]
    name = target_title(first.target)
    if first.origin_group is not None:
        name = f"{name}, {origin_group_words(first.origin_group)}"
    findings = []
    for key, place in zip(keys, places, strict=True):
        finding = _finding(table.filter(pl.col("country_iso3") == key.country_iso3))
        findings.append(finding if first.origin_group is not None else f"{place} {finding}")
    title = f"{name}: {'; '.join(findings)} ({scenario})"
    model_text = "; ".join(
        f"{models[key]} for {place}" if len(keys) > 1 else models[key]
        for key, place in zip(keys, places, strict=True)
    )
    caption = (
        f"Solid lines: observed, from {first.source()}. Dashed lines: the forecast of the "
        f"model the backtest selected ({model_text}), {scenario} scenario. Bands: 80 % "
        f"(darker) and 95 % prediction intervals. "
        + (f"{' and '.join(places)} share one scale. " if len(keys) > 1 else "")
        + f"Unit: {unit}. Hover a point for its values."
    )
    summary = " ".join(
        _summary(table.filter(pl.col("country_iso3") == key.country_iso3), place, scenario)
        for key, place in zip(keys, places, strict=True)
    )
    spec = _headline_spec(table, places, unit, description=f"{title}. {summary}")
    return Chart(
        chart_id,
        "headline",
        title,
        caption,
        summary,
        table,
        spec,
        csv_name=_csv_name(first.target, first.origin_group, [k.country_iso3 for k in keys]),
        spread=_spread(keys, places, run),
    )


def _finding(table: pl.DataFrame) -> str:
    """``<last observed> in <year>, forecast <last forecast> in <year>`` of one place."""
    parts = []
    history = table.filter(pl.col("series") == "observed")
    forecast = table.filter(pl.col("series") == "forecast")
    if not history.is_empty():
        parts.append(f"{_in_words(history['value'][-1])} in {history['year'][-1]}")
    if not forecast.is_empty():
        parts.append(f"forecast {_in_words(forecast['value'][-1])} in {forecast['year'][-1]}")
    return ", ".join(parts) or "no values"


def _summary(table: pl.DataFrame, place: str, scenario: str) -> str:
    parts = []
    history = table.filter(pl.col("series") == "observed")
    if not history.is_empty():
        last = history.row(-1, named=True)
        parts.append(f"{place}: last observed {_in_words(last['value'])} in {last['year']}.")
    forecast = table.filter(pl.col("series") == "forecast")
    if not forecast.is_empty():
        end = forecast.row(-1, named=True)
        parts.append(
            f"Forecast for {end['year']} ({scenario}): {_in_words(end['value'])} "
            f"(80 %: {_in_words(end['lo80'])}–{_in_words(end['hi80'])}; "
            f"95 %: {_in_words(end['lo95'])}–{_in_words(end['hi95'])})."
        )
    return " ".join(parts)


def _spread(keys: list[SeriesKey], places: list[str], run: pl.DataFrame) -> str | None:
    """The Low–High range of the selected forecast in its last year, per place; in words
    when the variants give the same values. None when the run has no Low or High."""
    parts = []
    for key, place in zip(keys, places, strict=True):
        rows = run.filter(key.matches())
        last_year = rows.filter(pl.col("scenario") == _base_scenario(rows))["year"].max()
        ends = {
            row["scenario"]: row["yhat"]
            for row in rows.filter(pl.col("year") == last_year)
            .filter(pl.col("scenario").is_in([BASE_SCENARIO, *SPREAD_VARIANTS]))
            .iter_rows(named=True)
        }
        if not all(v in ends for v in SPREAD_VARIANTS):
            continue
        low, high = (ends[v] for v in SPREAD_VARIANTS)
        who = f"{place}: " if len(keys) > 1 else ""
        if all(math.isclose(value, low, rel_tol=1e-9, abs_tol=0.0) for value in ends.values()):
            parts.append(f"{who}{SAME_VARIANTS} (all {_in_words(low)} in {last_year})")
        else:
            parts.append(
                f"{who}{_in_words(min(low, high))} to {_in_words(max(low, high))} in "
                f"{last_year} (Low {_in_words(low)}, High {_in_words(high)})"
            )
    if not parts:
        return None
    return "Scenario spread (WPP Low–High, selected model): " + "; ".join(parts) + "."


def _fan_chart(
    chart_id: str, key: SeriesKey, run: pl.DataFrame, observed: pl.DataFrame, until: int
) -> Chart | None:
    """Scenario lines of one series (None when the run has a single scenario): WPP's
    variants, and the policy levers applied to the base variant."""
    rows = run.filter(key.matches())
    base = _base_scenario(rows)
    offered = rows["scenario"].unique().to_list()
    shown = [s for s in VARIANTS if s in offered]
    shown += sorted(s for s in offered if s.startswith(f"{base}+"))
    shown += sorted(s for s in offered if s not in shown and "+" not in s)
    if len(shown) < 2:
        return None
    left_out = len(offered) - len(shown)
    label = {
        "target": pl.lit(key.target),
        "origin_group": pl.lit(key.origin_group, dtype=pl.String),
        "country_iso3": pl.lit(key.country_iso3),
    }
    history = _observed_points(observed, key).tail(FAN_HISTORY_YEARS)
    parts = [history.with_columns(**label, scenario=pl.lit("observed"))]
    for scenario in shown:
        points = _forecast_points(rows.filter(pl.col("scenario") == scenario), until)
        parts.append(points.with_columns(**label, scenario=pl.lit(scenario)))
    table = _frame(parts, FAN_COLUMNS)
    forecast = table.filter(pl.col("scenario") != "observed")
    last_year = forecast["year"].max() if not forecast.is_empty() else until
    ends = {
        row["scenario"]: row["value"]
        for row in forecast.filter(pl.col("year") == last_year).iter_rows(named=True)
    }
    summary = (
        f"In {last_year}: "
        + "; ".join(f"{s} {_in_words(ends[s])}" for s in shown if s in ends)
        + f" ({key.unit()})."
    )
    low, high = min(ends.values(), default=None), max(ends.values(), default=None)
    title = (
        f"{key.title()}: the scenarios span {_in_words(low)} to {_in_words(high)} in {last_year}"
    )
    caption = (
        f"Each line is one scenario's forecast by the selected model; the band is the "
        f"{base} scenario's 80 % interval. Medium, Low and High are UN WPP 2024's "
        f"fertility variants (they change the cohorts the rates apply to); a name with "
        f"'+' is that variant under an illustrative policy lever (not an estimate of any "
        f"policy). Observed (last {FAN_HISTORY_YEARS} years): {key.source()}. "
        f"Unit: {key.unit()}."
    )
    if left_out:
        caption += (
            f" {left_out} more scenario(s) (levers on the other variants) are in "
            "`talentflow forecasts`."
        )
    spec = _fan_spec(table, shown, base, key.unit(), description=f"{title}. {summary}")
    return Chart(
        chart_id,
        "fan",
        title,
        caption,
        summary,
        table,
        spec,
        csv_name=_csv_name(key.target, key.origin_group, [key.country_iso3], "scenarios"),
    )


def _ladder_chart(chart_id: str, ladder: pl.DataFrame) -> Chart:
    """China's share per rung and source: its latest share, and its first, for the trend."""
    rows = []
    has_note = "note" in ladder.columns
    ordered = ladder.sort("order", "source", "year")
    for (level, order, source), group in ordered.group_by(
        "level", "order", "source", maintain_order=True
    ):
        known = group.filter(
            pl.col("china_share").is_not_null() & pl.col("china_share").is_not_nan()
        )
        rung = f"{int(order)}. {_level_title(level)}"
        row = {
            "order": int(order),
            "level": level,
            "rung": rung,
            "source": source,
            "label": f"{rung} · {source}",
            "year": int(group["year"].max()),
            "note": (group[-1, "note"] if has_note else None) or None,
        }
        if known.is_empty():
            row["note"] = row["note"] or "no share can be computed"
        else:
            first, last = known.row(0, named=True), known.row(-1, named=True)
            row |= {
                "share": float(last["china_share"]),
                "year": int(last["year"]),
                "first_share": float(first["china_share"]),
                "first_year": int(first["year"]),
                "note": (last.get("note") if has_note else None) or None,
            }
        rows.append(row)
    table = pl.DataFrame(rows, schema=LADDER_CHART_COLUMNS)
    parts = []
    for row in table.iter_rows(named=True):
        share = "no share" if row["share"] is None else f"{row['share']:.1%} in {row['year']}"
        parts.append(f"{_level_title(row['level'])} ({row['source']}): {share}")
    sources = sorted(set(table["source"].to_list()))
    shares = table.filter(pl.col("share").is_not_null())
    if shares.is_empty():
        title = "China's talent ladder: no rung has a share yet"
    else:
        top = shares.sort("share", descending=True).row(0, named=True)
        title = (
            f"China's talent ladder: its largest share is {top['share']:.1%} of "
            f"{_level_title(top['level']).lower()} ({top['source']}, {top['year']})"
        )
    caption = (
        "China's share of each rung of the international talent ladder, by rising level of "
        "expertise; the bar is the latest year, the open circle the first year with a share. "
        "The rungs measure different things: only students counts foreigners alone; the "
        "researcher and AI rungs include Chinese nationals returning or working at home, so "
        "compare trends, not levels (docs/metrics.md, china_talent_ladder). Sources: "
        + "; ".join(sources)
        + "."
    )
    spec = _ladder_spec(table, description=f"{title}. " + "; ".join(parts))
    return Chart(
        chart_id,
        "ladder",
        title,
        caption,
        "; ".join(parts) + ".",
        table,
        spec,
        csv_name="china-talent-ladder.csv",
    )


def _csv_name(target: str, group: str | None, places: list[str], suffix: str = "") -> str:
    parts = [target, *([group] if group else []), *places, *([suffix] if suffix else [])]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(parts)).strip("-").lower() + ".csv"


# -- the charts' specifications (Vega-Lite through Altair) ----------------------------------


def _data(table: pl.DataFrame) -> alt.InlineData:
    """The table as the chart's one dataset, row for row (NaN as null)."""
    values = [
        {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
        for row in table.iter_rows(named=True)
    ]
    return alt.InlineData(values=values, name=DATASET)


def _year_axis() -> alt.X:
    return alt.X(
        "year:Q",
        title="Year",
        scale=alt.Scale(zero=False, nice=False),
        axis=alt.Axis(format="d", tickMinStep=1, tickCount=6, labelOverlap="greedy"),
    )


def _headline_spec(
    table: pl.DataFrame, places: list[str], unit: str, *, description: str
) -> dict[str, Any]:
    colour = alt.Color(
        "place:N",
        title=None,
        scale=alt.Scale(domain=places, range=list(PLACE_COLOURS[: len(places)])),
        legend=alt.Legend(orient="top", symbolOpacity=1),
    )
    base = alt.Chart(_data(table)).encode(x=_year_axis(), color=colour)
    forecast = base.transform_filter(alt.datum.series == "forecast")
    y_title = alt.Y("value:Q", title=unit, axis=alt.Axis(format="~s"))
    band95 = forecast.mark_area(opacity=0.14).encode(y=alt.Y("lo95:Q", title=unit), y2="hi95:Q")
    band80 = forecast.mark_area(opacity=0.28).encode(y="lo80:Q", y2="hi80:Q")
    lines = base.mark_line(strokeWidth=2.2).encode(
        y=y_title,
        strokeDash=alt.StrokeDash(
            "series:N",
            title=None,
            scale=alt.Scale(domain=["observed", "forecast"], range=[[1, 0], [6, 4]]),
            legend=alt.Legend(orient="top"),
        ),
        detail="series:N",
    )
    points = base.mark_circle(size=18, opacity=0.9).encode(
        y="value:Q",
        tooltip=[
            alt.Tooltip("place:N", title="place"),
            alt.Tooltip("year:Q", title="year", format="d"),
            alt.Tooltip("series:N", title="series"),
            alt.Tooltip("value:Q", title=unit, format=COUNT_FORMAT),
            alt.Tooltip("lo80:Q", title="80 % from", format=COUNT_FORMAT),
            alt.Tooltip("hi80:Q", title="80 % to", format=COUNT_FORMAT),
            alt.Tooltip("lo95:Q", title="95 % from", format=COUNT_FORMAT),
            alt.Tooltip("hi95:Q", title="95 % to", format=COUNT_FORMAT),
            alt.Tooltip("model:N", title="model"),
        ],
    )
    chart = alt.layer(band95, band80, lines, points)
    return _finish(chart, description)


def _fan_spec(
    table: pl.DataFrame, shown: list[str], base_scenario: str, unit: str, *, description: str
) -> dict[str, Any]:
    names = ["observed", *shown]
    colours = [INK, *(SCENARIO_COLOURS[i % len(SCENARIO_COLOURS)] for i in range(len(shown)))]
    dashes = [[1, 0]] + [
        [1, 0] if s == base_scenario else [2, 3] if "+" in s else [7, 4] for s in shown
    ]
    base = alt.Chart(_data(table)).encode(x=_year_axis())
    band = (
        base.transform_filter(alt.datum.scenario == base_scenario)
        .mark_area(opacity=0.18, color=PLACE_COLOURS[0])
        .encode(y=alt.Y("lo80:Q", title=unit), y2="hi80:Q")
    )
    # Colour and dash share the field, so Vega-Lite draws one legend of dashed lines.
    legend = alt.Legend(orient="top", columns=3, labelLimit=260)
    colour = alt.Color(
        "scenario:N", title=None, scale=alt.Scale(domain=names, range=colours), legend=legend
    )
    lines = base.mark_line(strokeWidth=2).encode(
        y=alt.Y("value:Q", title=unit, axis=alt.Axis(format="~s")),
        color=colour,
        strokeDash=alt.StrokeDash(
            "scenario:N", title=None, scale=alt.Scale(domain=names, range=dashes), legend=legend
        ),
    )
    points = base.mark_circle(size=14).encode(
        y="value:Q",
        color=colour,
        tooltip=[
            alt.Tooltip("scenario:N", title="scenario"),
            alt.Tooltip("year:Q", title="year", format="d"),
            alt.Tooltip("value:Q", title=unit, format=COUNT_FORMAT),
            alt.Tooltip("lo80:Q", title="80 % from", format=COUNT_FORMAT),
            alt.Tooltip("hi80:Q", title="80 % to", format=COUNT_FORMAT),
        ],
    )
    return _finish(alt.layer(band, lines, points), description)


def _ladder_spec(table: pl.DataFrame, *, description: str) -> dict[str, Any]:
    labels = table["label"].to_list()
    levels = sorted(set(table["rung"].to_list()))
    y = alt.Y("label:N", title=None, sort=labels, axis=alt.Axis(labelLimit=420, labelFontSize=12))
    x_title = "China's share of the rung's total (bar: latest year; circle: first year)"
    base = alt.Chart(_data(table)).encode(y=y)
    tooltip = [
        alt.Tooltip("rung:N", title="rung"),
        alt.Tooltip("source:N", title="source"),
        alt.Tooltip("share:Q", title="latest share", format=SHARE_FORMAT),
        alt.Tooltip("year:Q", title="in", format="d"),
        alt.Tooltip("first_share:Q", title="first share", format=SHARE_FORMAT),
        alt.Tooltip("first_year:Q", title="in", format="d"),
        alt.Tooltip("note:N", title="note"),
    ]
    bars = base.mark_bar(height={"band": 0.7}).encode(
        x=alt.X("share:Q", title=x_title, axis=alt.Axis(format=".0%")),
        color=alt.Color(
            "rung:N",
            scale=alt.Scale(domain=levels, range=list(LEVEL_COLOURS[: len(levels)])),
            legend=None,
        ),
        tooltip=tooltip,
    )
    first = (
        base.transform_filter("isValid(datum.first_share) && datum.first_year != datum.year")
        .mark_point(shape="circle", filled=True, fill="white", stroke=INK, size=70)
        .encode(x="first_share:Q", tooltip=tooltip)
    )
    no_share = (
        base.transform_filter("!isValid(datum.share)")
        .mark_text(align="left", dx=4, fontStyle="italic", color="#5a6473")
        .encode(x=alt.datum(0), text=alt.value("no share (see the table below)"), tooltip=tooltip)
    )
    # A fixed height (a step per row would clash with the container width's autosize).
    chart = alt.layer(bars, first, no_share)
    return _finish(chart, description, height=LADDER_ROW_HEIGHT * max(table.height, 1))


def _finish(chart: alt.LayerChart, description: str, height: int = 300) -> dict[str, Any]:
    """The specification: as wide as its figure, ``height`` pixels high."""
    sized = chart.properties(width="container", height=height, description=description)
    return sized.configure_view(stroke=None).configure_axis(grid=True).to_dict()


def _level_title(level: str) -> str:
    return LEVEL_TITLES.get(level, level.replace("_", " ").capitalize())


def target_title(target: str) -> str:
    """A target's name for readers; a target without one is shown under its own name."""
    return TARGET_TITLES.get(target, target)


def target_unit(target: str) -> str:
    rate_target = RATE_TARGETS.get(target)
    return rate_target.pool_unit if rate_target else "value"


def target_source(target: str) -> str:
    rate_target = RATE_TARGETS.get(target)
    return rate_target.pool if rate_target else f"the published forecasts of {target}"


def origin_group_words(group: str) -> str:
    """``"High income"`` as ``"from high income origins"``; ``"All origins"`` as is."""
    lowered = group[:1].lower() + group[1:]
    return lowered if lowered.endswith("origins") else f"from {lowered} origins"


def country_name(iso3: str) -> str:
    country = pycountry.countries.get(alpha_3=iso3)
    if country is None:
        return iso3
    return getattr(country, "common_name", None) or country.name


def _in_words(value: float | None) -> str:
    return compact_number(value, style="words")


# -- the page ---------------------------------------------------------------------------


#: The page's template, stylesheet and script: package data beside this module.
TEMPLATES = "templates"
PAGE_TEMPLATE = "outlook.html.j2"
PAGE_STYLE = "outlook.css"
PAGE_SCRIPT = "outlook.js"


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("talentflow.tasks", TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _asset(name: str) -> str:
    return resources.files("talentflow.tasks").joinpath(TEMPLATES, name).read_text("utf-8")


@functools.cache
def vega_bundle() -> tuple[str, str]:
    """The Vega, Vega-Lite and Vega-Embed JavaScript that vl-convert ships (no network),
    for the Vega-Lite version of Altair's specifications, and a line naming the versions.

    vl-convert bundles it on the fly (1.2-2.5 s), the same bytes for the same versions:
    the bundle is kept under ``<data_dir>/cache/vega``, named by both versions, and read
    from there by later runs."""
    import vl_convert

    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    offered = vl_convert.get_vegalite_versions()
    if wanted not in offered:
        raise RuntimeError(
            f"vl-convert-python {vl_convert.__version__} bundles Vega-Lite {offered}, not "
            f"{wanted}, which altair {alt.__version__} writes; upgrade vl-convert-python "
            "(pip install -U vl-convert-python) or pin altair to a release it supports"
        )
    kept = (
        get_settings().data_dir
        / "cache"
        / "vega"
        / f"vl-convert-{vl_convert.__version__}-vega-lite-{wanted}.js"
    )
    if kept.is_file():
        text = kept.read_text(encoding="utf-8")
    else:
        text = vl_convert.javascript_bundle(vl_version=wanted)
        atomic_write_bytes(kept, text.encode("utf-8"))
    bundle = _script_text(text, "vl-convert's bundle")
    versions = (
        f"Vega {vl_convert.get_vega_version()}, Vega-Lite {wanted}, Vega-Embed "
        f"{vl_convert.get_vega_embed_version()} (inlined from vl-convert-python "
        f"{vl_convert.__version__})"
    )
    return bundle, versions


def _script_text(text: str, what: str) -> str:
    """``text`` if it can sit inside a <script> element as it is (the policy's hash is
    of these exact characters, so nothing may be rewritten)."""
    if re.search(r"</script|<!--", text, re.IGNORECASE):
        raise RuntimeError(f"{what} holds '</script' or '<!--' and cannot be inlined as is")
    return text


def _json_for_script(data: Any) -> str:
    """JSON that cannot end its <script> block or open a comment: <, > and & escaped."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def render_page(
    charts: OutlookCharts,
    *,
    run_id: str,
    vintage: int,
    created: datetime | None,
    claims: pl.DataFrame | None = None,
) -> str:
    """The page: the template filled with the charts (every text escaped), their specs as
    JSON, the stylesheet, the inlined Vega bundle and the page's script."""
    bundle, versions = vega_bundle()
    script = _script_text(_asset(PAGE_SCRIPT), PAGE_SCRIPT)
    specs = _json_for_script({chart.chart_id: chart.spec for chart in charts.all()})
    return (
        _environment()
        .get_template(PAGE_TEMPLATE)
        .render(
            run_id=run_id,
            vintage=vintage,
            created=(created or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
            interval_meaning=INTERVAL_MEANING,
            headline=charts.headline,
            ladder=charts.ladder,
            fans=charts.fans,
            fan_until=charts.fan_until,
            missing=charts.missing,
            claims=[] if claims is None else list(claims.iter_rows(named=True)),
            versions=versions,
            script_hashes=[_sha256(bundle), _sha256(script)],
            style=Markup(_asset(PAGE_STYLE)),
            specs_json=Markup(specs),
            bundle=Markup(bundle),
            script=Markup(script),
        )
    )
