"""The outlook report: one self-contained HTML page of a run's forecasts, for analysts.

It shows, per headline series, the observed history and the selected model's forecast with
its 80 % and 95 % intervals; China's talent ladder (its share of each rung of expertise);
and the scenario fan to 2050 (WPP variants and policy levers). The charts are drawn in the
browser by a small inline script that reads the embedded JSON and marks each finished chart
``data-rendered="true"`` with its number of drawn points, so a headless-browser test can
prove they were drawn.

Never here: anything fetched from the network (no CDN, no web fonts; a Content Security
Policy forbids every load, and only the page's own script, by hash, may run), or a text
that reaches the page unescaped (``html.escape`` for markup; the JSON escapes ``<``, ``>``
and ``&``, and the script writes text with ``textContent`` only).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pycountry
from prefect import task
from prefect.artifacts import create_link_artifact
from prefect.cache_policies import NO_CACHE

from talentflow.core.facts import HEADLINE_TARGETS, compact_number
from talentflow.core.settings import get_settings
from talentflow.core.storage import atomic_write_bytes, reports_dir
from talentflow.tasks.features.scenarios import INTAKE_SERIES, RATE_TARGETS

OUTLOOK_KEY = "outlook-report"
BASE_SCENARIO = "Medium"
#: WPP's variants: the fan shows them, and the policy levers applied to the base variant.
VARIANTS = ("Medium", "Low", "High")
FAN_UNTIL = 2050
#: Observed years drawn before a fan, for context.
FAN_HISTORY_YEARS = 15
#: ``(target, country_iso3)`` of the headline charts, in page order (core.facts'
#: headline targets); a target with origin groups gets one chart per group.
HEADLINE_SERIES: tuple[tuple[str, str], ...] = tuple(
    (target, place) for target, places in HEADLINE_TARGETS.items() for place in places
)
#: Readers' names of the targets; units and sources come from the rate targets.
TARGET_TITLES = {
    "researchers": "Researchers in R&D",
    "tertiary_students": "Students in tertiary education",
    "adults_25plus_tertiary": "Adults aged 25+ with a tertiary education",
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
OBSERVED_COLUMNS = ("target", "country_iso3", "origin_group", "year", "value")
LADDER_COLUMNS = ("level", "order", "year", "china_share", "source")


@dataclass(frozen=True)
class SeriesKey:
    """One forecast series: a target in a country, for one origin group (intake targets)."""

    target: str
    country_iso3: str
    origin_group: str | None

    def title(self) -> str:
        name = TARGET_TITLES.get(self.target, self.target.replace("_", " ").capitalize())
        if self.origin_group is not None:
            group = self.origin_group[:1].lower() + self.origin_group[1:]
            if group.endswith("origins"):
                return f"{name}, {group}"
            return f"{name}, from {group} origins"
        return f"{name}, {_country_name(self.country_iso3)}"

    def unit(self) -> str:
        rate_target = RATE_TARGETS.get(self.target)
        return rate_target.pool_unit if rate_target else "value"

    def source(self) -> str:
        rate_target = RATE_TARGETS.get(self.target)
        return rate_target.pool if rate_target else f"the published forecasts of {self.target}"

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
    """A chart: its figure's text (escaped when rendered) and the data its script draws."""

    chart_id: str
    kind: str  # "series", "fan" or "ladder"
    title: str
    caption: str
    summary: str
    data: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {"id": self.chart_id, "kind": self.kind, "title": self.title, **self.data}


def outlook_html(
    forecasts: pl.DataFrame,
    observed: pl.DataFrame,
    ladder: pl.DataFrame,
    *,
    run_id: str,
    vintage: int,
    headline: Sequence[tuple[str, str]] = HEADLINE_SERIES,
    fan_until: int = FAN_UNTIL,
) -> str:
    """The outlook report of one run as a single self-contained HTML page.

    Parameters
    ----------
    forecasts
        The forecasts table (``tasks.forecast.FORECASTS_SCHEMA``); only rows of ``run_id``
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
        :data:`HEADLINE_SERIES`); series absent from ``forecasts`` are listed as missing.
    fan_until
        Last year of the scenario fans.

    Raises ValueError when ``forecasts`` has no row of ``run_id`` or a frame lacks a column.
    """
    _require(observed, OBSERVED_COLUMNS, "observed")
    _require(ladder, LADDER_COLUMNS, "ladder")
    run = forecasts.filter((pl.col("run_id") == run_id) & pl.col("is_selected"))
    if run.is_empty():
        found = sorted(forecasts["run_id"].unique().drop_nulls().to_list())[:5]
        raise ValueError(
            f"no selected forecasts of run {run_id!r} to report; the table has runs {found}"
        )
    keys, missing = _headline_keys(run, headline)
    headline_charts = [
        _series_chart(f"headline-{i}", key, run, observed) for i, key in enumerate(keys)
    ]
    fan_charts = []
    for key in keys:
        fan = _fan_chart(f"fan-{len(fan_charts)}", key, run, observed, fan_until)
        if fan is not None:
            fan_charts.append(fan)
    ladder_chart = _ladder_chart("ladder", ladder)
    created = run["created_at"].max() if "created_at" in run.columns else None
    return _page(
        run_id=run_id,
        vintage=vintage,
        created=created,
        headline=headline_charts,
        ladder=ladder_chart,
        fans=fan_charts,
        missing=missing,
    )


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
) -> Path:
    """Write the run's outlook to ``<data_dir>/reports/outlook-<run_id>.html`` and
    ``outlook-latest.html``, and link it from the run (artifact key ``outlook-report``).
    Returns the run's own page."""
    page = outlook_html(forecasts, observed, ladder, run_id=run_id, vintage=vintage)
    this_run, latest = outlook_paths(reports_dir(get_settings()), run_id)
    write_outlook(page, this_run)
    write_outlook(page, latest)
    create_link_artifact(
        key=OUTLOOK_KEY,
        link=this_run.as_uri(),
        link_text=f"Forecast outlook, run {run_id}",
        description=(
            f"Forecasts with 80 %/95 % intervals, China's talent ladder and the scenario "
            f"fan to {FAN_UNTIL}; data up to {vintage}. One self-contained HTML file: open "
            f"it in a browser (also at {latest})."
        ),
    )
    return this_run


# -- the charts' data ------------------------------------------------------------------------


def _require(frame: pl.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(
            f"outlook: the {name} frame lacks {missing}; it needs {list(columns)} "
            f"(has {frame.columns})"
        )


def _headline_keys(
    run: pl.DataFrame, headline: Sequence[tuple[str, str]]
) -> tuple[list[SeriesKey], list[str]]:
    """The series to chart, each origin group of a target on its own, and the headline
    series that the run lacks."""
    keys, missing = [], []
    for target, country in headline:
        rows = run.filter((pl.col("target") == target) & (pl.col("country_iso3") == country))
        if rows.is_empty():
            missing.append(f"{TARGET_TITLES.get(target, target)} ({target}, {country})")
            continue
        groups = rows["origin_group"].unique().to_list()
        for group in sorted(groups, key=_origin_group_order):
            keys.append(SeriesKey(target, country, group))
    return keys, missing


def _origin_group_order(group: str | None) -> tuple[int, str]:
    if group is None:
        return (-1, "")
    known = list(INTAKE_SERIES)
    return (known.index(group) if group in known else len(known), group)


def _base_scenario(rows: pl.DataFrame) -> str:
    scenarios = rows["scenario"].unique().to_list()
    return BASE_SCENARIO if BASE_SCENARIO in scenarios else sorted(scenarios)[0]


def _observed_points(observed: pl.DataFrame, key: SeriesKey) -> list[dict[str, Any]]:
    value = pl.col("value").cast(pl.Float64)
    rows = (
        observed.filter(key.matches() & value.is_not_null() & value.is_not_nan())
        .with_columns(value)
        .group_by("year")
        .agg(pl.col("value").first())
        .sort("year")
    )
    return [{"year": int(y), "value": float(v)} for y, v in rows.iter_rows()]


def _forecast_points(rows: pl.DataFrame, until: int | None = None) -> list[dict[str, Any]]:
    if until is not None:
        rows = rows.filter(pl.col("year") <= until)
    rows = rows.filter(pl.col("yhat").is_not_null() & pl.col("yhat").is_not_nan()).sort("year")
    return [
        {
            "year": int(row["year"]),
            **{k: _finite(row[k]) for k in ("yhat", "lo80", "hi80", "lo95", "hi95")},
        }
        for row in rows.unique("year", keep="first").sort("year").iter_rows(named=True)
    ]


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else float(value)


def _series_chart(
    chart_id: str, key: SeriesKey, run: pl.DataFrame, observed: pl.DataFrame
) -> Chart:
    rows = run.filter(key.matches())
    scenario = _base_scenario(rows)
    rows = rows.filter(pl.col("scenario") == scenario)
    models = ", ".join(sorted(rows["model"].unique().to_list()))
    history = _observed_points(observed, key)
    forecast = _forecast_points(rows)
    summary = _summary(history, forecast, key.unit(), scenario)
    caption = (
        f"Solid line: observed, from {key.source()}. Dashed line: forecast by {models}, the "
        f"model the backtest selected, scenario {scenario}. Bands: 80 % and 95 % "
        f"prediction intervals. Unit: {key.unit()}."
    )
    return Chart(
        chart_id,
        "series",
        key.title(),
        caption,
        summary,
        {
            "unit": key.unit(),
            "scenario": scenario,
            "model": models,
            "observed": history,
            "forecast": forecast,
        },
    )


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
    scenarios = [
        {"name": s, "points": _forecast_points(rows.filter(pl.col("scenario") == s), until)}
        for s in shown
    ]
    history = _observed_points(observed, key)
    if history:
        first = history[-1]["year"] - FAN_HISTORY_YEARS + 1
        history = [point for point in history if point["year"] >= first]
    last_year = max((p["year"] for s in scenarios for p in s["points"]), default=until)
    ends = []
    for s in scenarios:
        end = next((p for p in s["points"] if p["year"] == last_year), None)
        if end is not None:
            ends.append(f"{s['name']} {_in_words(end['yhat'])}")
    summary = f"In {last_year}: " + "; ".join(ends) + f" ({key.unit()})."
    caption = (
        f"Each line is one scenario's forecast by the selected model; the band is the "
        f"{base} scenario's 80 % interval. Medium, Low and High are UN WPP 2024's "
        f"fertility variants (they change the cohorts the rates apply to); a name with "
        f"'+' is that variant under an illustrative policy lever (not an estimate of any "
        f"policy). Observed: {key.source()}."
    )
    if left_out:
        caption += (
            f" {left_out} more scenario(s) (levers on the other variants) are in "
            "`talentflow forecasts`."
        )
    return Chart(
        chart_id,
        "fan",
        f"Scenarios to {until}: {key.title()[0].lower()}{key.title()[1:]}",
        caption,
        summary,
        {"unit": key.unit(), "base": base, "observed": history, "scenarios": scenarios},
    )


def _ladder_chart(chart_id: str, ladder: pl.DataFrame) -> Chart:
    """China's share per rung and source: its latest share, and its first, for the trend."""
    rows = []
    note = "note" in ladder.columns
    ordered = ladder.sort("order", "source", "year")
    for (level, order, source), group in ordered.group_by(
        "level", "order", "source", maintain_order=True
    ):
        known = group.filter(
            pl.col("china_share").is_not_null() & pl.col("china_share").is_not_nan()
        )
        latest_note = group[-1, "note"] if note else None
        if known.is_empty():
            rows.append(
                {
                    "level": level,
                    "title": _level_title(level),
                    "order": int(order),
                    "source": source,
                    "share": None,
                    "year": int(group["year"].max()),
                    "note": latest_note or "no share can be computed",
                }
            )
            continue
        first, last = known.row(0, named=True), known.row(-1, named=True)
        rows.append(
            {
                "level": level,
                "title": _level_title(level),
                "order": int(order),
                "source": source,
                "share": float(last["china_share"]),
                "year": int(last["year"]),
                "first_share": float(first["china_share"]),
                "first_year": int(first["year"]),
                "note": (last.get("note") if note else None) or "",
            }
        )
    parts = []
    for row in rows:
        if row["share"] is None:
            parts.append(f"{row['title']} ({row['source']}): no share")
        else:
            parts.append(f"{row['title']} ({row['source']}): {row['share']:.1%} in {row['year']}")
    sources = sorted({str(row["source"]) for row in rows})
    caption = (
        "China's share of each rung of the international talent ladder, by rising level of "
        "expertise; the bar is the latest year, the open circle the first year with a share. "
        "The rungs measure different things: only students counts foreigners alone; the "
        "researcher and AI rungs include Chinese nationals returning or working at home, so "
        "compare trends, not levels (docs/metrics.md, china_talent_ladder). Sources: "
        + "; ".join(sources)
        + "."
    )
    return Chart(
        chart_id,
        "ladder",
        "China's talent ladder: its share of each rung",
        caption,
        "; ".join(parts) + ".",
        {"unit": "share of the rung's total", "rows": rows},
    )


def _level_title(level: str) -> str:
    return LEVEL_TITLES.get(level, level.replace("_", " ").capitalize())


def _summary(
    history: list[dict[str, Any]], forecast: list[dict[str, Any]], unit: str, scenario: str
) -> str:
    parts = []
    if history:
        last = history[-1]
        parts.append(f"Last observed: {_in_words(last['value'])} in {last['year']}.")
    if forecast:
        end = forecast[-1]
        parts.append(
            f"Forecast for {end['year']} ({scenario}): {_in_words(end['yhat'])} "
            f"(80 %: {_in_words(end['lo80'])}–{_in_words(end['hi80'])}; "
            f"95 %: {_in_words(end['lo95'])}–{_in_words(end['hi95'])})."
        )
    return " ".join(parts) + f" Unit: {unit}."


def _in_words(value: float | None) -> str:
    return compact_number(value, style="words")


def _country_name(iso3: str) -> str:
    country = pycountry.countries.get(alpha_3=iso3)
    if country is None:
        return iso3
    return getattr(country, "common_name", None) or country.name


# -- the page -----------------------------------------------------------------------------


def _json_for_script(data: Any) -> str:
    """JSON that cannot end its <script> block or open a comment: <, > and & escaped."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _figure(chart: Chart, *, details: str = "") -> str:
    e = html.escape
    return f"""
<figure class="chart chart-{e(chart.kind)}" id="chart-{e(chart.chart_id)}" \
data-chart="{e(chart.chart_id)}" aria-labelledby="title-{e(chart.chart_id)}">
  <h3 id="title-{e(chart.chart_id)}">{e(chart.title)}</h3>
  <p class="summary">{e(chart.summary)}</p>
  <div class="plot"><noscript>This chart is drawn by JavaScript; its summary is above.\
</noscript></div>
  <figcaption>{e(chart.caption)}</figcaption>{details}
</figure>"""


def _ladder_table(chart: Chart) -> str:
    e = html.escape
    body = []
    for row in chart.data["rows"]:
        share = "–" if row["share"] is None else f"{row['share']:.1%}"
        first = f"{row['first_share']:.1%} ({row['first_year']})" if "first_share" in row else "–"
        body.append(
            f"<tr><td>{e(str(row['level']))}</td><td>{e(str(row['source']))}</td>"
            f"<td>{e(first)}</td><td>{e(share)} ({row['year']})</td>"
            f"<td>{e(str(row['note'] or ''))}</td></tr>"
        )
    return (
        "\n  <details><summary>The ladder as a table, with each share's note</summary>"
        "<table><thead><tr><th>level</th><th>source</th><th>first share</th>"
        "<th>latest share</th><th>note</th></tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table></details>"
    )


def _page(
    *,
    run_id: str,
    vintage: int,
    created: datetime | None,
    headline: list[Chart],
    ladder: Chart,
    fans: list[Chart],
    missing: list[str],
) -> str:
    e = html.escape
    charts = [*headline, ladder, *fans]
    data = _json_for_script({"charts": [chart.payload() for chart in charts]})
    script_hash = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode()
    created_text = (created or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    missing_html = (
        '<p class="missing">Not in this run: ' + e("; ".join(missing)) + ".</p>" if missing else ""
    )
    fans_html = (
        "".join(_figure(chart) for chart in fans)
        if fans
        else "<p>This run has a single scenario per series: there is no fan to draw.</p>"
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; \
script-src 'sha256-{script_hash}'; style-src 'unsafe-inline'; img-src data:">
<title>talentflow outlook, run {e(run_id)}</title>
<style>{_STYLE}</style>
</head>
<body data-errors="0">
<header>
  <h1>talentflow outlook</h1>
  <p class="meta">Run <code>{e(run_id)}</code> · data up to {e(str(vintage))} · \
forecasts made {e(created_text)}</p>
  <p>How large STEM talent pools are and may become, and how much foreign talent China
  attracts as its population ages. Each forecast is the model the rolling-origin backtest
  selected for the target's family. Definitions: <code>docs/metrics.md</code>; this page:
  <code>docs/outlook.md</code>.</p>
  {missing_html}
</header>
<main>
<section aria-labelledby="headline-heading">
  <h2 id="headline-heading">Headline forecasts</h2>
  <p class="intro">{e(INTERVAL_MEANING)}</p>
  <div class="grid">{"".join(_figure(chart) for chart in headline)}</div>
</section>
<section aria-labelledby="ladder-heading">
  <h2 id="ladder-heading">China's intake ladder</h2>
  {_figure(ladder, details=_ladder_table(ladder))}
</section>
<section aria-labelledby="fan-heading">
  <h2 id="fan-heading">Scenarios to {FAN_UNTIL}</h2>
  <div class="grid">{fans_html}</div>
</section>
</main>
<footer>
  <p>Sources: World Bank WDI; UNESCO UIS; UN DESA, World Population Prospects 2024
  (cohorts and the Medium, Low and High variants); MPIDR Scholarly Migration Database
  (Scopus, OpenAlex); China's Ministry of Education; MacroPolo Global AI Talent Tracker.
  Made by talentflow; see the README's source list for licences.</p>
</footer>
<script type="application/json" id="outlook-data">{data}</script>
<script>{_SCRIPT}</script>
</body>
</html>
"""


_STYLE = """
:root { --ink: #1d2430; --muted: #5a6473; --line: #d6dbe3; --accent: #0072b2; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: #f6f7f9; }
header, main, footer { max-width: 1160px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 24px; }
h1 { margin: 0 0 4px; font-size: 26px; }
h2 { margin: 28px 0 8px; font-size: 20px; border-bottom: 2px solid var(--line);
  padding-bottom: 4px; }
h3 { margin: 0 0 4px; font-size: 15px; }
.meta, .intro, figcaption, footer { color: var(--muted); }
.meta { margin-top: 0; }
.missing { background: #fff4e5; border-left: 4px solid #e69f00; padding: 6px 10px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr));
  gap: 16px; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 6px;
  padding: 12px 14px; }
figure .summary { margin: 0 0 6px; font-size: 13px; }
figcaption { font-size: 12px; margin-top: 6px; }
.plot svg { width: 100%; height: auto; display: block; }
.plot text { font-family: inherit; }
details { margin-top: 8px; font-size: 13px; }
table { border-collapse: collapse; margin-top: 6px; }
td, th { border-bottom: 1px solid var(--line); padding: 3px 8px; text-align: left;
  vertical-align: top; }
footer { padding-bottom: 32px; font-size: 13px; }
code { font-size: 13px; }
"""

# The charts' script. It only reads the JSON block and writes SVG with textContent; every
# error (its own or the page's) is counted on <body data-errors> for the browser test.
_SCRIPT = r"""
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var body = document.body;
  var messages = [];
  function fail(message) {
    messages.push(String(message));
    body.setAttribute("data-errors", String(messages.length));
    body.setAttribute("data-error-messages", messages.join(" | "));
  }
  window.addEventListener("error", function (event) {
    fail(event.message || "error");
  });
  window.addEventListener("unhandledrejection", function (event) {
    fail("unhandled rejection: " + event.reason);
  });
  document.addEventListener("securitypolicyviolation", function (event) {
    fail("blocked by the page's security policy: " + event.violatedDirective);
  });

  var INK = "#1d2430", MUTED = "#5a6473", GRID = "#e3e7ee", BLUE = "#0072b2";
  var SCENARIO_COLOURS = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#d55e00",
    "#56b4e9", "#000000", "#999999"];
  var LEVEL_COLOURS = ["#56b4e9", "#0072b2", "#009e73", "#cc79a7", "#d55e00"];
  var compact = new Intl.NumberFormat("en", { notation: "compact", maximumSignificantDigits: 3 });
  var whole = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });
  var chartCount = 0;

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (key) {
      node.setAttribute(key, String(attrs[key]));
    });
    if (parent) { parent.appendChild(node); }
    return node;
  }
  function label(parent, x, y, content, attrs) {
    var node = el("text", Object.assign({ x: x, y: y, "font-size": 12, fill: MUTED }, attrs),
      parent);
    node.textContent = content;
    return node;
  }
  function tip(node, content) {
    el("title", {}, node).textContent = content;
  }
  function number(value) {
    if (value === null || value === undefined) { return "–"; }
    return Math.abs(value) >= 1000 ? compact.format(value) : String(+value.toPrecision(3));
  }
  function full(value) {
    if (value === null || value === undefined) { return "–"; }
    return Math.abs(value) >= 100 ? whole.format(value) : String(+value.toPrecision(3));
  }
  function finite(values) {
    return values.filter(function (v) { return typeof v === "number" && isFinite(v); });
  }
  function niceStep(range, count) {
    var raw = range / Math.max(count, 1);
    var magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    var norm = raw / magnitude;
    return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
  }
  function ticks(lo, hi, count) {
    var step = niceStep(hi - lo, count), out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
      out.push(+v.toPrecision(12));
    }
    return out;
  }

  // An SVG with a title, a description, axes and gridlines; returns the scales.
  function frame(plot, chart, years, values, description, items) {
    var width = 640, height = 340, m = { left: 70, right: 18, top: 34, bottom: 46 };
    chartCount += 1;
    var id = "svg-" + chartCount;
    var svg = el("svg", { viewBox: "0 0 " + width + " " + height, role: "img",
      "aria-labelledby": id + "-title " + id + "-desc" }, plot);
    el("title", { id: id + "-title" }, svg).textContent = chart.title;
    el("desc", { id: id + "-desc" }, svg).textContent = description;
    var legendRows = legend(svg, items, m.left, width - m.right);
    m.top = 16 + legendRows * 18;
    height += (legendRows - 1) * 18;
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    var x0 = Math.min.apply(null, years), x1 = Math.max.apply(null, years);
    if (x1 === x0) { x1 = x0 + 1; }
    var y0 = Math.min(0, Math.min.apply(null, values)), y1 = Math.max.apply(null, values);
    if (!(y1 > y0)) { y1 = y0 + 1; }
    var yStep = niceStep(y1 - y0, 5);
    y1 = Math.ceil(y1 / yStep) * yStep;
    y0 = Math.floor(y0 / yStep) * yStep;
    var x = function (year) {
      return m.left + (year - x0) / (x1 - x0) * (width - m.left - m.right);
    };
    var y = function (value) {
      return height - m.bottom - (value - y0) / (y1 - y0) * (height - m.top - m.bottom);
    };
    var axes = el("g", { class: "axes" }, svg);
    ticks(y0, y1, 5).forEach(function (value) {
      el("line", { x1: m.left, x2: width - m.right, y1: y(value), y2: y(value),
        stroke: value === 0 ? "#9aa3b0" : GRID }, axes);
      label(axes, m.left - 6, y(value) + 4, number(value), { "text-anchor": "end" });
    });
    ticks(x0, x1, 7).forEach(function (year) {
      if (year !== Math.round(year)) { return; }
      el("line", { x1: x(year), x2: x(year), y1: height - m.bottom, y2: height - m.bottom + 4,
        stroke: MUTED }, axes);
      label(axes, x(year), height - m.bottom + 17, String(year), { "text-anchor": "middle" });
    });
    label(axes, (m.left + width - m.right) / 2, height - 8, "Year", { "text-anchor": "middle" });
    label(axes, 14, (m.top + height - m.bottom) / 2, chart.unit,
      { "text-anchor": "middle", transform: "rotate(-90 14 " + (m.top + height - m.bottom) / 2 +
        ")" });
    return { svg: svg, x: x, y: y, top: m.top, bottom: height - m.bottom, left: m.left,
      right: width - m.right };
  }
  function linePath(f, points, key) {
    var d = "";
    points.forEach(function (p) {
      if (typeof p[key] !== "number") { return; }
      d += (d ? " L" : "M") + f.x(p.year).toFixed(1) + " " + f.y(p[key]).toFixed(1);
    });
    return d;
  }
  function band(f, points, low, high, colour, opacity, name) {
    var usable = points.filter(function (p) {
      return typeof p[low] === "number" && typeof p[high] === "number";
    });
    if (!usable.length) { return; }
    var d = "M" + usable.map(function (p) {
      return f.x(p.year).toFixed(1) + " " + f.y(p[high]).toFixed(1);
    }).join(" L") + " L" + usable.slice().reverse().map(function (p) {
      return f.x(p.year).toFixed(1) + " " + f.y(p[low]).toFixed(1);
    }).join(" L") + " Z";
    tip(el("path", { d: d, fill: colour, "fill-opacity": opacity, stroke: "none",
      class: "band" }, f.svg), name);
  }
  // The legend, wrapped to the width; returns the number of rows it took.
  function legend(svg, items, left, right) {
    var x = left, row = 0;
    items.forEach(function (item) {
      var g = el("g", { class: "legend" }, svg);
      var text = label(g, 0, 0, item.name, { fill: INK });
      var size = 30 + Math.max(text.getComputedTextLength(), item.name.length * 6);
      if (x > left && x + size > right) { x = left; row += 1; }
      var y = 15 + row * 18;
      text.setAttribute("x", x + 23);
      text.setAttribute("y", y + 4);
      if (item.band) {
        el("rect", { x: x, y: y - 5, width: 18, height: 10, fill: item.colour,
          "fill-opacity": item.band }, g);
      } else {
        el("line", { x1: x, x2: x + 18, y1: y, y2: y, stroke: item.colour,
          "stroke-width": 2.5, "stroke-dasharray": item.dash || "none" }, g);
      }
      x += size;
    });
    return row + 1;
  }
  function dots(f, points, key, colour, radius, describe) {
    points.forEach(function (p) {
      if (typeof p[key] !== "number") { return; }
      tip(el("circle", { cx: f.x(p.year).toFixed(1), cy: f.y(p[key]).toFixed(1), r: radius,
        fill: colour, class: "point" }, f.svg), describe(p));
    });
  }
  function observedLine(f, history) {
    el("path", { d: linePath(f, history, "value"), fill: "none", stroke: INK,
      "stroke-width": 2, class: "observed" }, f.svg);
    dots(f, history, "value", INK, 2.4, function (p) {
      return p.year + ": " + full(p.value) + " (observed)";
    });
  }

  function drawSeries(plot, chart) {
    var history = chart.observed, forecast = chart.forecast;
    if (!history.length && !forecast.length) { throw new Error("no points to draw"); }
    var years = history.map(function (p) { return p.year; })
      .concat(forecast.map(function (p) { return p.year; }));
    var values = finite(history.map(function (p) { return p.value; })
      .concat(forecast.map(function (p) { return p.lo95; }),
        forecast.map(function (p) { return p.hi95; }),
        forecast.map(function (p) { return p.yhat; })));
    var last = forecast[forecast.length - 1];
    var f = frame(plot, chart, years, values, history.length + " observed years and " +
      forecast.length + " forecast years; " + (last ? last.year + ": " + full(last.yhat) +
      " " + chart.unit : ""), [{ name: "observed", colour: INK },
      { name: "forecast (" + chart.model + ")", colour: BLUE, dash: "6 4" },
      { name: "80 %", colour: BLUE, band: 0.4 }, { name: "95 %", colour: BLUE, band: 0.18 }]);
    band(f, forecast, "lo95", "hi95", BLUE, 0.13, "95 % prediction interval");
    band(f, forecast, "lo80", "hi80", BLUE, 0.27, "80 % prediction interval");
    if (history.length && forecast.length) {
      var edge = f.x(history[history.length - 1].year);
      el("line", { x1: edge, x2: edge, y1: f.top, y2: f.bottom, stroke: "#9aa3b0",
        "stroke-dasharray": "2 3" }, f.svg);
      label(f.svg, edge + 4, f.top + 10, "forecast →", { "font-size": 11 });
    }
    observedLine(f, history);
    var joined = (history.length ? [{ year: history[history.length - 1].year,
      yhat: history[history.length - 1].value }] : []).concat(forecast);
    el("path", { d: linePath(f, joined, "yhat"), fill: "none", stroke: BLUE,
      "stroke-width": 2.2, "stroke-dasharray": "6 4", class: "forecast" }, f.svg);
    dots(f, forecast, "yhat", BLUE, 1.8, function (p) {
      return p.year + ": " + full(p.yhat) + " (80 %: " + full(p.lo80) + "–" + full(p.hi80) +
        "; 95 %: " + full(p.lo95) + "–" + full(p.hi95) + ")";
    });
    return history.length + forecast.length;
  }

  function drawFan(plot, chart) {
    var history = chart.observed, scenarios = chart.scenarios, years = [], values = [];
    history.forEach(function (p) { years.push(p.year); values.push(p.value); });
    scenarios.forEach(function (s) {
      s.points.forEach(function (p) {
        years.push(p.year);
        values.push(p.yhat);
        if (s.name === chart.base) { values.push(p.lo80, p.hi80); }
      });
    });
    values = finite(values);
    if (!years.length) { throw new Error("no points to draw"); }
    var styles = scenarios.map(function (s, i) {
      return { name: s.name, colour: SCENARIO_COLOURS[i % SCENARIO_COLOURS.length],
        dash: s.name.indexOf("+") >= 0 ? "2 3" : (s.name === chart.base ? "none" : "7 4") };
    });
    var f = frame(plot, chart, years, values, scenarios.length + " scenarios: " +
      scenarios.map(function (s) { return s.name; }).join(", "),
      [{ name: "observed", colour: INK }].concat(styles,
        [{ name: chart.base + " 80 %", colour: BLUE, band: 0.25 }]));
    var base = scenarios.filter(function (s) { return s.name === chart.base; })[0];
    if (base) { band(f, base.points, "lo80", "hi80", BLUE, 0.18, chart.base + ": 80 % interval"); }
    observedLine(f, history);
    var drawn = history.length;
    scenarios.forEach(function (s, i) {
      var colour = styles[i].colour, dash = styles[i].dash;
      var path = el("path", { d: linePath(f, s.points, "yhat"), fill: "none", stroke: colour,
        "stroke-width": s.name === chart.base ? 2.6 : 1.8, "stroke-dasharray": dash,
        class: "scenario" }, f.svg);
      tip(path, s.name);
      var end = s.points[s.points.length - 1];
      if (end) {
        dots(f, [end], "yhat", colour, 3, function (p) {
          return s.name + ", " + p.year + ": " + full(p.yhat);
        });
      }
      drawn += s.points.length;
    });
    return drawn;
  }

  function drawLadder(plot, chart) {
    var rows = chart.rows;
    if (!rows.length) { throw new Error("no rungs to draw"); }
    var width = 1040, rowHeight = 28, m = { left: 400, right: 230, top: 16, bottom: 42 };
    var height = m.top + rows.length * rowHeight + m.bottom;
    chartCount += 1;
    var id = "svg-" + chartCount;
    var svg = el("svg", { viewBox: "0 0 " + width + " " + height, role: "img",
      "aria-labelledby": id + "-title " + id + "-desc" }, plot);
    el("title", { id: id + "-title" }, svg).textContent = chart.title;
    el("desc", { id: id + "-desc" }, svg).textContent = rows.length +
      " rungs and sources; bars are China's latest share, circles its first";
    var shares = finite(rows.map(function (r) { return r.share; })
      .concat(rows.map(function (r) { return r.first_share; })));
    var top = Math.max(0.05, Math.max.apply(null, shares.length ? shares : [0]));
    var step = niceStep(top, 5);
    top = Math.ceil(top / step) * step;
    var x = function (share) { return m.left + share / top * (width - m.left - m.right); };
    ticks(0, top, 5).forEach(function (share) {
      el("line", { x1: x(share), x2: x(share), y1: m.top - 4, y2: height - m.bottom,
        stroke: GRID }, svg);
      label(svg, x(share), height - m.bottom + 16, Math.round(share * 1000) / 10 + " %",
        { "text-anchor": "middle" });
    });
    label(svg, (m.left + width - m.right) / 2, height - 8,
      "China's share (% of the rung's total, latest year)", { "text-anchor": "middle" });
    var drawn = 0, previous = null;
    rows.forEach(function (r, i) {
      var yTop = m.top + i * rowHeight, mid = yTop + rowHeight / 2;
      var colour = LEVEL_COLOURS[(r.order - 1) % LEVEL_COLOURS.length];
      if (r.level !== previous) {
        label(svg, 8, mid + 4, r.order + ". " + r.title, { fill: INK, "font-weight": 600 });
        previous = r.level;
      }
      var source = String(r.source);
      var shown = source.length > 32 ? source.slice(0, 31) + "…" : source;
      tip(label(svg, 180, mid + 4, shown), source);
      if (typeof r.share !== "number") {
        tip(label(svg, m.left + 4, mid + 4, "no share (see the table below)",
          { "font-style": "italic" }), r.note);
        return;
      }
      var bar = el("rect", { x: m.left, y: yTop + 6, width: Math.max(1, x(r.share) - m.left),
        height: rowHeight - 12, fill: colour, class: "bar" }, svg);
      tip(bar, r.level + ", " + source + ": " + (r.share * 100).toFixed(1) + " % in " + r.year);
      drawn += 1;
      var right = x(r.share);
      var text = (r.share * 100).toFixed(1) + " % (" + r.year + ")";
      if (typeof r.first_share === "number" && r.first_year !== r.year) {
        var circle = el("circle", { cx: x(r.first_share), cy: mid, r: 4.5, fill: "#fff",
          stroke: INK, "stroke-width": 1.5, class: "point" }, svg);
        tip(circle, r.first_year + ": " + (r.first_share * 100).toFixed(1) + " %");
        drawn += 1;
        right = Math.max(right, x(r.first_share));
        text = (r.first_share * 100).toFixed(1) + " % (" + r.first_year + ") → " + text;
      }
      label(svg, right + 8, mid + 4, text, { fill: INK, "font-size": 11 });
    });
    return drawn;
  }

  var DRAW = { series: drawSeries, fan: drawFan, ladder: drawLadder };

  function render() {
    var data = JSON.parse(document.getElementById("outlook-data").textContent);
    data.charts.forEach(function (chart) {
      var figure = document.getElementById("chart-" + chart.id);
      try {
        var points = DRAW[chart.kind](figure.querySelector(".plot"), chart);
        figure.setAttribute("data-points", String(points));
        figure.setAttribute("data-rendered", "true");
      } catch (error) {
        figure.setAttribute("data-rendered", "false");
        fail(chart.id + ": " + error.message);
      }
    });
    body.setAttribute("data-ready", "true");
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", render);
  } else {
    render();
  }
})();
"""
