"""The outlook report on synthetic frames: what each chart draws and says, that its CSV is
exactly what it draws, that the page loads nothing and escapes every text, and (in
Debian's headless Chromium) that Vega draws every chart without an error."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import lxml.html
import polars as pl
import pytest

from talentflow.core.facts import HEADLINE_TARGETS, compact_number
from talentflow.tasks import outlook
from talentflow.tasks.outlook import (
    SAME_VARIANTS,
    outlook_charts,
    outlook_html,
    publish_outlook,
    write_outlook,
)

RUN_ID = "synthetic-run-7"
VINTAGE = 2023
INCOME_GROUPS = ("High income", "Upper middle income", "Lower middle income", "Low income")
#: Text that would break out of the page if it were not escaped.
HOSTILE_SOURCE = "MacroPolo </script><script>document.body.dataset.pwned='1'</script>"
HOSTILE_NOTE = "<img src=x onerror=\"document.body.dataset.pwned='1'\"> & more"
INSTALL_HINT = (
    "chromium is not installed; install it with "
    "`apt-get install -y --no-install-recommends chromium` (.ci/run does this)"
)


def synthetic_series() -> list[tuple[str, str, str | None, float, float, int]]:
    """(target, country, origin group, first observed value, yearly growth, first year)."""
    return [
        ("researchers", "CHN", None, 700_000.0, 0.06, 1996),
        ("researchers", "USA", None, 1_100_000.0, 0.015, 1996),
        ("tertiary_students", "CHN", None, 6_000_000.0, 0.08, 1998),
        *[
            ("china_researcher_inflows", "CHN", group, level, 0.05, 1998)
            for group, level in zip(INCOME_GROUPS, (900.0, 400.0, 250.0, 30.0), strict=True)
        ],
        ("china_inbound_students", "CHN", "All origins", 40_000.0, 0.09, 2006),
    ]


Series = list[tuple[str, str, str | None, float, float, int]]
#: WPP variants' effect on the synthetic forecasts (a factor per five years).
VARIANT_FACTORS = {"Medium": 1.0, "Low": 0.985, "High": 1.012}


def synthetic_observed(last_year: int = VINTAGE, series: Series | None = None) -> pl.DataFrame:
    """``target, country_iso3, origin_group, year, value``: smooth synthetic histories."""
    rows = [
        {
            "target": target,
            "country_iso3": country,
            "origin_group": group,
            "year": year,
            "value": level * (1 + growth) ** (year - first) * (1 + 0.02 * ((year % 3) - 1)),
        }
        for target, country, group, level, growth, first in series or synthetic_series()
        for year in range(first, last_year + 1)
    ]
    return pl.DataFrame(
        rows,
        schema={
            "target": pl.String,
            "country_iso3": pl.String,
            "origin_group": pl.String,
            "year": pl.Int32,
            "value": pl.Float64,
        },
    )


def synthetic_forecasts(
    until: int = 2050, series: Series | None = None, variants: dict[str, float] | None = None
) -> pl.DataFrame:
    """Forecasts of the published schema for every synthetic series, 2024 to ``until``:
    WPP's three variants (``variants``: a factor each), two levers on each for the intake
    targets, two models (ets is selected), intervals widening with the horizon."""
    from talentflow.core.tables import FORECASTS_SCHEMA

    series = series or synthetic_series()
    observed = synthetic_observed(series=series)
    last = observed.group_by("target", "origin_group", "country_iso3").agg(pl.col("value").last())
    created = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    rows = []
    for target, country, group, _, growth, _ in series:
        start = last.filter(
            (pl.col("target") == target)
            & (pl.col("country_iso3") == country)
            & (pl.col("origin_group").eq_missing(group))
        )["value"][0]
        scenarios = dict(variants or VARIANT_FACTORS)
        if target.startswith("china_"):
            scenarios |= {
                f"{variant}+{lever}": factor * (0.97 if lever == "tech_denial" else 1.02)
                for variant, factor in list(scenarios.items())
                for lever in ("tech_denial", "scholarships")
            }
        for scenario, factor in scenarios.items():
            for model, is_selected, bias in (("ets", True, 1.0), ("naive", False, 0.9)):
                for h, year in enumerate(range(VINTAGE + 1, until + 1), start=1):
                    yhat = start * (1 + growth * 0.5) ** h * factor ** (h / 5) * bias
                    width = yhat * 0.04 * h**0.5
                    rows.append(
                        {
                            "run_id": RUN_ID,
                            "vintage": VINTAGE,
                            "target": target,
                            "country_iso3": country,
                            "origin_group": group,
                            "year": year,
                            "scenario": scenario,
                            "model": model,
                            "is_selected": is_selected,
                            "yhat": yhat,
                            "lo80": yhat - width,
                            "hi80": yhat + width,
                            "lo95": max(yhat - 1.6 * width, 0.0),
                            "hi95": yhat + 1.6 * width,
                            "created_at": created,
                        }
                    )
    return pl.DataFrame(rows, schema=FORECASTS_SCHEMA)


def synthetic_ladder() -> pl.DataFrame:
    """``china_talent_ladder``: four rungs, five sources, a null rung and a hostile source."""
    students = [("students", 1, y, 0.021 + 0.0015 * (y - 2006)) for y in range(2006, 2024)]
    scopus = [("researchers", 3, y, 0.019 + 0.003 * (y - 1998)) for y in range(1998, 2021)]
    openalex = [("researchers", 3, y, 0.039 + 0.001 * (y - 1998)) for y in range(1998, 2021)]
    rows = [
        *[(*row, "UIS 26637", "") for row in students],
        ("doctoral", 2, 2014, None, "China MoE", "no world count of mobile doctoral students"),
        ("doctoral", 2, 2018, None, "China MoE", HOSTILE_NOTE),
        *[(*row, "MPIDR Scopus", "") for row in scopus],
        *[(*row, "MPIDR OpenAlex", "") for row in openalex],
        ("top_ai_researchers", 4, 2019, 0.11, HOSTILE_SOURCE, "rounded"),
        ("top_ai_researchers", 4, 2022, 0.28, HOSTILE_SOURCE, "rounded"),
    ]
    return pl.DataFrame(
        rows,
        schema={
            "level": pl.String,
            "order": pl.Int32,
            "year": pl.Int32,
            "china_share": pl.Float64,
            "source": pl.String,
            "note": pl.String,
        },
        orient="row",
    )


@pytest.fixture(scope="module", autouse=True)
def private_data_dir(tmp_path_factory):
    """Rendering keeps vl-convert's bundle under the data directory: a private one, not
    the checkout's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        yield


@pytest.fixture(scope="module")
def synthetic_page() -> str:
    return outlook_html(
        synthetic_forecasts(),
        synthetic_observed(),
        synthetic_ladder(),
        run_id=RUN_ID,
        vintage=VINTAGE,
    )


def embedded_specs(page: str) -> dict[str, dict]:
    """The Vega-Lite specification of every chart, by chart id, as the page holds them."""
    block = re.search(
        r'<script type="application/json" id="outlook-specs">(.*?)</script>', page, re.S
    )
    assert block, "the page has no block of chart specifications"
    return json.loads(block.group(1))


def drawn_rows(spec: dict) -> list[dict]:
    """The rows a chart's specification draws: its one inline dataset."""
    assert spec["data"]["name"] == "drawn" and "datasets" not in spec
    assert all("data" not in layer for layer in spec["layer"])  # no layer brings its own
    return spec["data"]["values"]


def downloads(page: str) -> dict[str, list[dict[str, str]]]:
    """Each figure's CSV download, by chart id, parsed from its data: link."""
    tree = lxml.html.fromstring(page)
    found = {}
    for figure in tree.xpath("//figure[@data-chart]"):
        (link,) = figure.xpath(".//a[@class='csv']")
        assert link.get("download").endswith(".csv")
        prefix = "data:text/csv;charset=utf-8,"
        assert link.get("href").startswith(prefix)
        text = unquote(link.get("href").removeprefix(prefix))
        found[figure.get("data-chart")] = list(csv.DictReader(io.StringIO(text)))
    return found


def words(value: float) -> str:
    return compact_number(value, style="words")


def last_value(frame: pl.DataFrame, column: str = "value") -> float:
    return frame.sort("year")[column][-1]


# -- what the charts draw and say -----------------------------------------------------------


def test_china_and_the_us_share_one_chart_and_one_scale(synthetic_page):
    specs = embedded_specs(synthetic_page)
    researchers = [
        (chart_id, spec)
        for chart_id, spec in specs.items()
        if chart_id.startswith("headline")
        and {row["target"] for row in spec["data"]["values"]} == {"researchers"}
    ]
    assert len(researchers) == 1, "one headline chart holds both countries' researchers"
    _, spec = researchers[0]
    rows = drawn_rows(spec)
    assert {r["country_iso3"] for r in rows} == {"CHN", "USA"}
    assert {(r["country_iso3"], r["series"]) for r in rows} == {
        (c, s) for c in ("CHN", "USA") for s in ("observed", "forecast")
    }
    # One y scale: every layer plots the shared value fields, and no scale is resolved
    # independently.
    assert "resolve" not in spec
    assert {layer["encoding"]["y"]["field"] for layer in spec["layer"]} <= {
        "value",
        "lo80",
        "lo95",
    }
    assert spec["layer"][0]["encoding"]["color"]["scale"]["domain"] == [
        "China",
        "United States",
    ]


def test_every_headline_target_gets_a_chart_with_history_model_and_intervals():
    charts = outlook_charts(
        synthetic_forecasts(), synthetic_observed(), synthetic_ladder(), run_id=RUN_ID
    )
    titles = [chart.title.split(":")[0] for chart in charts.headline]
    assert titles == [
        "Researchers in R&D",
        "Students in tertiary education",
        *[
            f"Researchers moving into China, from {g[0].lower()}{g[1:]} origins"
            for g in INCOME_GROUPS
        ],
        "International degree students in China, all origins",
    ]
    # The page follows core.facts' headline targets, in their order.
    targets = [chart.table["target"][0] for chart in charts.headline]
    assert list(dict.fromkeys(targets)) == [
        t for t in HEADLINE_TARGETS if t in synthetic_forecasts(until=2025)["target"]
    ]
    china = charts.headline[0].table.filter(pl.col("country_iso3") == "CHN")
    observed = china.filter(pl.col("series") == "observed")
    forecast = china.filter(pl.col("series") == "forecast")
    assert observed["year"].to_list() == list(range(1996, VINTAGE + 1))
    assert forecast["year"].to_list() == list(range(VINTAGE + 1, 2051))
    assert set(forecast["model"]) == {"ets"} and set(forecast["scenario"]) == {"Medium"}
    assert all(
        r["lo95"] <= r["lo80"] <= r["value"] <= r["hi80"] <= r["hi95"]
        for r in forecast.iter_rows(named=True)
    )


def test_a_headline_title_states_its_finding_from_the_data():
    forecasts, observed = synthetic_forecasts(), synthetic_observed()
    charts = outlook_charts(forecasts, observed, synthetic_ladder(), run_id=RUN_ID)
    selected = forecasts.filter(pl.col("is_selected") & (pl.col("scenario") == "Medium"))

    def finding(country: str) -> str:
        history = observed.filter(
            (pl.col("target") == "researchers") & (pl.col("country_iso3") == country)
        )
        future = selected.filter(
            (pl.col("target") == "researchers") & (pl.col("country_iso3") == country)
        )
        return (
            f"{words(last_value(history))} in {VINTAGE}, "
            f"forecast {words(last_value(future, 'yhat'))} in 2050"
        )

    assert charts.headline[0].title == (
        f"Researchers in R&D: China {finding('CHN')}; United States {finding('USA')} (Medium)"
    )


def test_a_target_without_a_title_is_drawn_under_its_own_name():
    extra = [
        ("synthetic_new_target", "CHN", None, 40_000.0, 0.04, 2000),
        ("synthetic_new_target", "USA", None, 38_000.0, 0.01, 2000),
    ]
    series = [*synthetic_series(), *extra]
    charts = outlook_charts(
        synthetic_forecasts(until=2030, series=series),
        synthetic_observed(series=series),
        synthetic_ladder(),
        run_id=RUN_ID,
        headline=[
            *outlook.HEADLINE_SERIES,
            ("synthetic_new_target", "CHN"),
            ("synthetic_new_target", "USA"),
        ],
    )
    (chart,) = [c for c in charts.headline if c.table["target"][0] == "synthetic_new_target"]
    assert chart.title.startswith("synthetic_new_target: China ")
    assert set(chart.table["country_iso3"]) == {"CHN", "USA"}
    assert not [m for m in charts.missing if "synthetic_new_target" in m]


def test_the_scenario_spread_gives_the_low_high_range_of_the_last_year():
    forecasts = synthetic_forecasts()
    charts = outlook_charts(forecasts, synthetic_observed(), synthetic_ladder(), run_id=RUN_ID)
    selected = forecasts.filter(
        pl.col("is_selected") & (pl.col("target") == "tertiary_students") & (pl.col("year") == 2050)
    )
    low, high = (selected.filter(pl.col("scenario") == v)["yhat"][0] for v in ("Low", "High"))
    assert low < high
    assert charts.headline[1].spread == (
        "Scenario spread (WPP Low–High, selected model): "
        f"{words(low)} to {words(high)} in 2050 (Low {words(low)}, High {words(high)})."
    )


def test_identical_variants_are_said_in_words():
    same = {"Medium": 1.0, "Low": 1.0, "High": 1.0}
    charts = outlook_charts(
        synthetic_forecasts(until=2030, variants=same),
        synthetic_observed(),
        synthetic_ladder(),
        run_id=RUN_ID,
    )
    spread = charts.headline[0].spread
    assert f"China: {SAME_VARIANTS}" in spread and f"United States: {SAME_VARIANTS}" in spread
    assert "Low " not in spread


def test_the_fan_shows_the_variants_and_the_base_variants_levers_to_2050(synthetic_page):
    charts = outlook_charts(
        synthetic_forecasts(), synthetic_observed(), synthetic_ladder(), run_id=RUN_ID
    )
    assert len(charts.fans) == 8  # every headline series has several scenarios
    intake = next(c for c in charts.fans if "high income" in c.title)
    assert list(dict.fromkeys(intake.table["scenario"])) == [
        "observed",
        "Medium",
        "Low",
        "High",
        "Medium+scholarships",
        "Medium+tech_denial",
    ]
    ends = intake.table.filter(pl.col("year") == 2050)
    assert sorted(ends["scenario"]) == sorted(set(intake.table["scenario"]) - {"observed"})
    assert intake.title.endswith(
        f"the scenarios span {words(ends['value'].min())} to {words(ends['value'].max())} in 2050"
    )
    assert intake.table.filter(pl.col("scenario") == "observed").height == (
        outlook.FAN_HISTORY_YEARS
    )
    assert "4 more scenario(s)" in synthetic_page


def test_the_ladder_gives_each_rung_and_source_its_first_and_latest_share():
    charts = outlook_charts(
        synthetic_forecasts(until=2030), synthetic_observed(), synthetic_ladder(), run_id=RUN_ID
    )
    table = charts.ladder.table
    assert table["order"].to_list() == sorted(table["order"])
    rows = {(r["level"], r["source"]): r for r in table.iter_rows(named=True)}
    students = rows[("students", "UIS 26637")]
    assert (students["first_year"], students["year"]) == (2006, 2023)
    assert students["share"] == pytest.approx(0.021 + 0.0015 * 17)
    assert rows[("doctoral", "China MoE")]["share"] is None
    assert rows[("top_ai_researchers", HOSTILE_SOURCE)]["share"] == 0.28
    assert charts.ladder.title == (
        f"China's talent ladder: its largest share is 28.0% of top ai researchers "
        f"({HOSTILE_SOURCE}, 2022)"
    )


def test_each_charts_csv_is_exactly_the_data_it_draws(synthetic_page):
    specs = embedded_specs(synthetic_page)
    csvs = downloads(synthetic_page)
    assert sorted(csvs) == sorted(specs)
    for chart_id, spec in specs.items():
        drawn, rows = drawn_rows(spec), csvs[chart_id]
        assert len(rows) == len(drawn) > 0, chart_id
        for cells, datum in zip(rows, drawn, strict=True):
            assert list(cells) == list(datum), chart_id  # the same columns, in order
            for column, value in datum.items():
                cell = cells[column]
                if value is None:
                    assert cell == "", (chart_id, column)
                elif isinstance(value, str):
                    assert cell == value, (chart_id, column)
                else:
                    assert float(cell) == value, (chart_id, column)


# -- the page ------------------------------------------------------------------------------


def page_to_2030(**options) -> str:
    """The outlook page of the synthetic run to 2030 (``options``: e.g. its claims)."""
    return outlook_html(
        synthetic_forecasts(until=2030),
        synthetic_observed(),
        synthetic_ladder(),
        run_id=RUN_ID,
        vintage=VINTAGE,
        **options,
    )


def test_the_page_loads_nothing_from_the_network():
    page = page_to_2030()
    tree = lxml.html.fromstring(page)
    assert not tree.xpath("//*[@src] | //link | //iframe | //object | //embed | //img")
    styles = " ".join([*tree.xpath("//style/text()"), *tree.xpath("//@style")])
    assert not re.search(r"url\(|@import", styles)
    policy = tree.xpath('//meta[@http-equiv="Content-Security-Policy"]/@content')[0]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert set(directives) == {"default-src", "script-src", "style-src"}
    # Only the page's scripts may run, each by its hash; nothing is evaluated from text.
    scripts = [s.text for s in tree.xpath("//script[not(@type)]")]
    assert len(scripts) == 2  # the inlined Vega bundle and the page's own script
    hashes = {
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in scripts
    }
    assert set(directives["script-src"].split()) == hashes
    assert "unsafe-eval" not in policy
    assert "vegaEmbed" in scripts[0] and len(scripts[0]) > 500_000  # the bundle, inlined


def test_the_vega_bundle_is_built_once_and_read_back_by_later_runs(settings_env, monkeypatch):
    import vl_convert

    outlook.vega_bundle.cache_clear()
    first, versions = outlook.vega_bundle()
    (kept,) = (settings_env.data_dir / "cache" / "vega").iterdir()
    assert vl_convert.__version__ in kept.name and kept.read_text(encoding="utf-8") == first

    def no_bundling(**_):
        raise AssertionError("bundled again")

    outlook.vega_bundle.cache_clear()  # a new process
    monkeypatch.setattr(vl_convert, "javascript_bundle", no_bundling)
    assert outlook.vega_bundle() == (first, versions)
    outlook.vega_bundle.cache_clear()


def test_every_text_is_escaped(synthetic_page):
    bundle, _ = outlook.vega_bundle()
    assert synthetic_page.count(bundle) == 1
    ours = synthetic_page.replace(bundle, "")  # Vega's own code mentions <img
    assert HOSTILE_SOURCE not in ours
    assert "<img" not in ours
    block = re.search(r'id="outlook-specs">(.*?)</script>', synthetic_page, re.S).group(1)
    assert "<" not in block and ">" not in block  # nothing in the JSON can close its block
    assert "&lt;img src=x" in synthetic_page  # the note, shown as text in the ladder table
    tree = lxml.html.fromstring(synthetic_page)
    assert len(tree.xpath("//script")) == 3  # the specs, the Vega bundle, the page's script
    ladder = tree.xpath('//figure[@data-chart="ladder"]')[0]
    assert HOSTILE_SOURCE in ladder.xpath(".//h3")[0].text_content()  # shown, as text


def test_the_page_opens_with_the_seed_claims_escaped_when_the_run_has_them():
    from talentflow.core.tables import SEED_CLAIMS_SCHEMA

    claims = pl.DataFrame(
        [
            {column: f"synthetic {column} {claim}" for column in SEED_CLAIMS_SCHEMA}
            | {"claim": claim, "verdict": "partly supported"}
            for claim in "abcde"
        ],
        schema=SEED_CLAIMS_SCHEMA,
    ).with_columns(pl.lit("<img src=x onerror=alert(1)>").alias("caveats"))
    page = page_to_2030(claims=claims)
    tree = lxml.html.fromstring(page)
    sections = tree.xpath("//main/section/h2/@id")
    assert sections[:2] == ["claims-heading", "headline-heading"]
    rows = tree.xpath('//table[@class="claims"]/tbody/tr')
    assert [row.xpath("./th")[0].text_content() for row in rows] == [
        f"({claim}) synthetic statement {claim}" for claim in "abcde"
    ]
    assert {row.xpath('./td[@class="verdict"]')[0].text_content() for row in rows} == {
        "partly supported"
    }
    assert "<img src=x" not in page.replace(outlook.vega_bundle()[0], "")
    # without claims (a replay) the section is absent
    assert "claims-heading" not in page_to_2030()


def test_headline_series_missing_from_the_run_are_named():
    forecasts = synthetic_forecasts(until=2030).filter(pl.col("country_iso3") != "USA")
    page = outlook_html(
        forecasts, synthetic_observed(), synthetic_ladder(), run_id=RUN_ID, vintage=VINTAGE
    )
    assert "Not in this run: " in page
    assert "Researchers in R&amp;D (researchers, USA)" in page
    assert "Students in tertiary education (tertiary_students, USA)" in page


def test_a_run_without_forecasts_is_refused():
    with pytest.raises(ValueError, match="no selected forecasts of run 'other-run'"):
        outlook_html(
            synthetic_forecasts(until=2030),
            synthetic_observed(),
            synthetic_ladder(),
            run_id="other-run",
            vintage=VINTAGE,
        )
    with pytest.raises(ValueError, match=r"observed frame lacks \['value'\]"):
        outlook_html(
            synthetic_forecasts(until=2030),
            synthetic_observed().drop("value"),
            synthetic_ladder(),
            run_id=RUN_ID,
            vintage=VINTAGE,
        )


def test_publish_writes_the_runs_page_and_the_latest_and_says_where_it_is(monkeypatch, tmp_path):
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TALENTFLOW_REPORT_BASE_URL", raising=False)
    links = []
    monkeypatch.setattr(outlook, "create_link_artifact", lambda **kw: links.append(kw))
    forecasts = synthetic_forecasts(until=2030)
    path = publish_outlook.fn(
        forecasts, synthetic_observed(), synthetic_ladder(), run_id=RUN_ID, vintage=VINTAGE
    )
    reports = tmp_path / "data" / "reports"
    assert path == reports / f"outlook-{RUN_ID}.html"
    assert path.read_bytes() == (reports / "outlook-latest.html").read_bytes()
    assert sorted(p.name for p in reports.iterdir()) == [
        "outlook-latest.html",
        f"outlook-{RUN_ID}.html",
    ]
    (link,) = links
    assert link["key"] == "outlook-report" and link["link"] == path.as_uri()
    # A browser will not follow a file:// link from the Prefect UI: the description says
    # where the file is.
    assert str(path) in link["description"]


def test_publish_links_the_report_site_when_a_base_url_is_set(monkeypatch, tmp_path):
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TALENTFLOW_REPORT_BASE_URL", "http://reports.example.org:8081/")
    links = []
    monkeypatch.setattr(outlook, "create_link_artifact", lambda **kw: links.append(kw))
    path = publish_outlook.fn(
        synthetic_forecasts(until=2030),
        synthetic_observed(),
        synthetic_ladder(),
        run_id=RUN_ID,
        vintage=VINTAGE,
    )
    (link,) = links
    assert link["link"] == f"http://reports.example.org:8081/{path.name}"
    assert "file://" not in json.dumps(link)


# -- the page, in a headless browser ------------------------------------------------------


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(INSTALL_HINT)
    return found


def run_chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Open ``page`` in headless Chromium, with its own profile, no sandbox (root in CI),
    no GPU, and the page's console written to stderr; five seconds of virtual time let
    Vega finish."""
    command = [
        chromium(),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        "--enable-logging=stderr",
        "--v=0",
        *args,
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stderr[-2000:]}"
    return done


def console_lines(done: subprocess.CompletedProcess) -> list[str]:
    """What the page wrote to the console (Chromium logs it as ``CONSOLE`` lines)."""
    return [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def rendered(synthetic_page, tmp_path_factory):
    """The synthetic page as Chromium left it (its DOM and console) and a 1200 × 2000
    screenshot."""
    folder = tmp_path_factory.mktemp("outlook")
    page = write_outlook(synthetic_page, folder / "outlook-synthetic.html")
    started = time.monotonic()
    dumped = run_chromium(page, folder / "profile-dom", "--dump-dom")
    screenshot = folder / "outlook-synthetic.png"
    run_chromium(
        page, folder / "profile-png", f"--screenshot={screenshot}", "--window-size=1200,2000"
    )
    print(f"chromium: dump-dom and {screenshot} in {time.monotonic() - started:.1f} s")
    return dumped, screenshot


def test_the_browser_draws_every_chart_without_an_error(synthetic_page, rendered):
    dumped, _ = rendered
    assert console_lines(dumped) == []  # no error, warning or message on the console
    tree = lxml.html.fromstring(dumped.stdout)
    body = tree.xpath("//body")[0]
    assert body.get("data-errors") == "0", body.get("data-error-messages")
    assert body.get("data-ready") == "true"
    assert body.get("data-pwned") is None  # the hostile source stayed text
    specs = embedded_specs(synthetic_page)
    figures = tree.xpath("//figure[@data-chart]")
    assert sorted(f.get("data-chart") for f in figures) == sorted(specs)
    drawn = [
        f
        for f in figures
        if f.get("data-rendered") == "true" and f.xpath(".//svg[contains(@class, 'marks')]")
    ]
    assert len(drawn) == len(specs)
    for figure in figures:
        chart_id = figure.get("data-chart")
        # Vega holds every row of the chart's data: the rows of its CSV.
        assert int(figure.get("data-rows")) == len(drawn_rows(specs[chart_id])), chart_id
        svg = figure.xpath(".//svg[contains(@class, 'marks')]")  # Vega's, not the menu's
        assert len(svg) == 1, chart_id
        assert svg[0].xpath(".//*[local-name()='path']"), f"{chart_id}: no marks drawn"
        labels = " ".join(t.text_content() for t in svg[0].xpath(".//*[local-name()='text']"))
        if not chart_id.startswith("ladder"):
            y_title = specs[chart_id]["layer"][-2]["encoding"]["y"]["title"]
            assert "Year" in labels and y_title in labels, chart_id  # axes, with units
    ladder = tree.xpath('//figure[@data-chart="ladder"]')[0]
    assert "MacroPolo </script>" in ladder.text_content()  # shown as text, not run


def test_the_screenshot_shows_a_drawn_report(rendered):
    from PIL import Image  # Pillow arrives with prophet's matplotlib

    _, screenshot = rendered
    with Image.open(screenshot) as image:
        assert image.size == (1200, 2000)
        pixels = image.convert("RGB")
        colours = pixels.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200, f"{screenshot}: only {len(colours)} colours; is it blank?"
    # Chart ink: the first place's blue (#0072b2 and its bands) must cover a visible area.
    blue = sum(count for count, (r, g, b) in colours if b > r + 60 and b > g + 20)
    assert blue > 20_000, f"{screenshot}: {blue} blue pixels; were the charts drawn?"
