"""The outlook report on synthetic frames: what the page holds, that it loads nothing and
escapes every text, and (in Debian's headless Chromium) that its script draws every chart."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import lxml.html
import polars as pl
import pytest

from talentflow.tasks import outlook
from talentflow.tasks.outlook import outlook_html, publish_outlook, write_outlook

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


def synthetic_observed(last_year: int = VINTAGE) -> pl.DataFrame:
    """``target, country_iso3, origin_group, year, value``: smooth synthetic histories."""
    rows = [
        {
            "target": target,
            "country_iso3": country,
            "origin_group": group,
            "year": year,
            "value": level * (1 + growth) ** (year - first) * (1 + 0.02 * ((year % 3) - 1)),
        }
        for target, country, group, level, growth, first in synthetic_series()
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


def synthetic_forecasts(until: int = 2050) -> pl.DataFrame:
    """Forecasts of the published schema for every synthetic series, 2024 to ``until``:
    WPP's three variants, two levers on each for the intake targets, two models (ets is
    selected), intervals widening with the horizon."""
    from talentflow.core.tables import FORECASTS_SCHEMA

    observed = synthetic_observed()
    last = observed.group_by("target", "origin_group", "country_iso3").agg(pl.col("value").last())
    created = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    rows = []
    for target, country, group, _, growth, _ in synthetic_series():
        start = last.filter(
            (pl.col("target") == target)
            & (pl.col("country_iso3") == country)
            & (pl.col("origin_group").eq_missing(group))
        )["value"][0]
        scenarios = {"Medium": 1.0, "Low": 0.985, "High": 1.012}
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


@pytest.fixture(scope="module")
def synthetic_page() -> str:
    return outlook_html(
        synthetic_forecasts(),
        synthetic_observed(),
        synthetic_ladder(),
        run_id=RUN_ID,
        vintage=VINTAGE,
    )


def embedded_data(page: str) -> dict:
    block = re.search(
        r'<script type="application/json" id="outlook-data">(.*?)</script>', page, re.S
    )
    assert block, "the page has no embedded data block"
    return json.loads(block.group(1))


def expected_points(chart: dict) -> int:
    """The data points the page's script should draw for one chart."""
    if chart["kind"] == "series":
        return len(chart["observed"]) + len(chart["forecast"])
    if chart["kind"] == "fan":
        return len(chart["observed"]) + sum(len(s["points"]) for s in chart["scenarios"])
    return sum(
        (row["share"] is not None) + ("first_share" in row and row["first_year"] != row["year"])
        for row in chart["rows"]
    )


# -- the page, without a browser ----------------------------------------------------------


def test_every_headline_series_gets_a_chart_with_its_history_and_intervals(synthetic_page):
    charts = embedded_data(synthetic_page)["charts"]
    series = [c for c in charts if c["kind"] == "series"]
    assert [c["title"] for c in series] == [
        "Researchers in R&D, China",
        "Researchers in R&D, United States",
        "Students in tertiary education, China",
        *[
            f"Researchers moving into China, from {g[0].lower()}{g[1:]} origins"
            for g in INCOME_GROUPS
        ],
        "International degree students in China, all origins",
    ]
    china = series[0]
    assert china["scenario"] == "Medium" and china["model"] == "ets"  # the selected model
    assert [p["year"] for p in china["observed"]] == list(range(1996, VINTAGE + 1))
    assert [p["year"] for p in china["forecast"]] == list(range(VINTAGE + 1, 2051))
    assert all(
        p["lo95"] <= p["lo80"] <= p["yhat"] <= p["hi80"] <= p["hi95"] for p in china["forecast"]
    )
    assert china["unit"] == "persons"


def test_the_fan_shows_the_variants_and_the_base_variants_levers_to_2050(synthetic_page):
    fans = [c for c in embedded_data(synthetic_page)["charts"] if c["kind"] == "fan"]
    assert len(fans) == 8  # every headline series has several scenarios
    intake = next(c for c in fans if "high income" in c["title"])
    assert [s["name"] for s in intake["scenarios"]] == [
        "Medium",
        "Low",
        "High",
        "Medium+scholarships",
        "Medium+tech_denial",
    ]
    assert all(s["points"][-1]["year"] == 2050 for s in intake["scenarios"])
    assert len(intake["observed"]) == outlook.FAN_HISTORY_YEARS
    assert "4 more scenario(s)" in synthetic_page


def test_the_ladder_gives_each_rung_and_source_its_first_and_latest_share(synthetic_page):
    ladder = next(c for c in embedded_data(synthetic_page)["charts"] if c["kind"] == "ladder")
    rows = {(r["level"], r["source"]): r for r in ladder["rows"]}
    assert [r["order"] for r in ladder["rows"]] == sorted(r["order"] for r in ladder["rows"])
    students = rows[("students", "UIS 26637")]
    assert (students["first_year"], students["year"]) == (2006, 2023)
    assert students["share"] == pytest.approx(0.021 + 0.0015 * 17)
    assert rows[("doctoral", "China MoE")]["share"] is None
    assert rows[("top_ai_researchers", HOSTILE_SOURCE)]["share"] == 0.28


def test_the_page_loads_nothing_from_the_network():
    page = outlook_html(
        synthetic_forecasts(until=2030),
        synthetic_observed(),
        synthetic_ladder(),
        run_id=RUN_ID,
        vintage=VINTAGE,
    )
    tree = lxml.html.fromstring(page)
    assert not tree.xpath("//*[@src] | //link | //iframe | //object | //embed")
    assert not re.search(r"url\(|@import", page)
    policy = tree.xpath('//meta[@http-equiv="Content-Security-Policy"]/@content')[0]
    assert "default-src 'none'" in policy
    # Only the page's own script may run: its hash is the one the policy allows.
    script = tree.xpath("//script[not(@type)]")[0].text
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy


def test_every_text_is_escaped(synthetic_page):
    assert HOSTILE_SOURCE not in synthetic_page
    assert "<img" not in synthetic_page
    block = re.search(r'id="outlook-data">(.*?)</script>', synthetic_page, re.S).group(1)
    assert "<" not in block and ">" not in block  # nothing in the JSON can close its block
    assert "&lt;img src=x" in synthetic_page  # the note, shown as text in the ladder table
    tree = lxml.html.fromstring(synthetic_page)
    assert len(tree.xpath("//script")) == 2  # the data block and the page's own script


def test_headline_series_missing_from_the_run_are_named(synthetic_page):
    forecasts = synthetic_forecasts(until=2030).filter(pl.col("target") != "tertiary_students")
    page = outlook_html(
        forecasts, synthetic_observed(), synthetic_ladder(), run_id=RUN_ID, vintage=VINTAGE
    )
    assert "Not in this run: Students in tertiary education (tertiary_students, CHN)" in page


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


def test_publish_writes_the_runs_page_and_the_latest_and_links_it(monkeypatch, tmp_path):
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path / "data"))
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


# -- the page, in a headless browser ------------------------------------------------------


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(INSTALL_HINT)
    return found


def run_chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Open ``page`` in headless Chromium, with its own profile, no sandbox (root in CI) and
    no GPU; five seconds of virtual time let the page's script finish."""
    command = [
        chromium(),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        *args,
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stderr[-2000:]}"
    return done


@pytest.fixture(scope="module")
def rendered(synthetic_page, tmp_path_factory):
    """The synthetic page as Chromium left it (its DOM) and a 1200 × 2000 screenshot."""
    folder = tmp_path_factory.mktemp("outlook")
    page = write_outlook(synthetic_page, folder / "outlook-synthetic.html")
    started = time.monotonic()
    dom = run_chromium(page, folder / "profile-dom", "--dump-dom").stdout
    screenshot = folder / "outlook-synthetic.png"
    run_chromium(
        page, folder / "profile-png", f"--screenshot={screenshot}", "--window-size=1200,2000"
    )
    print(f"chromium: dump-dom and {screenshot} in {time.monotonic() - started:.1f} s")
    return dom, screenshot


def test_the_browser_draws_every_chart_without_an_error(synthetic_page, rendered):
    dom, _ = rendered
    tree = lxml.html.fromstring(dom)
    body = tree.xpath("//body")[0]
    assert body.get("data-errors") == "0", body.get("data-error-messages")
    assert body.get("data-ready") == "true"
    assert body.get("data-pwned") is None  # the hostile source stayed text
    charts = {c["id"]: c for c in embedded_data(synthetic_page)["charts"]}
    figures = tree.xpath("//figure[@data-chart]")
    assert sorted(f.get("data-chart") for f in figures) == sorted(charts)
    for figure in figures:
        chart = charts[figure.get("data-chart")]
        assert figure.get("data-rendered") == "true", chart["id"]
        assert int(figure.get("data-points")) == expected_points(chart) > 0, chart["id"]
        svg = figure.xpath(".//svg")
        assert len(svg) == 1 and svg[0].xpath("./title")[0].text == chart["title"]
        marks = figure.xpath(".//svg//path | .//svg//circle | .//svg//rect")
        assert len(marks) > 0, chart["id"]
        labels = " ".join(t.text_content() for t in figure.xpath(".//svg//text"))
        if chart["kind"] != "ladder":
            assert "Year" in labels and chart["unit"] in labels  # axis labels, with units
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
    # Chart ink: the forecast's blue (#0072b2 and its bands) must cover a visible area.
    blue = sum(count for count, (r, g, b) in colours if b > r + 60 and b > g + 20)
    assert blue > 20_000, f"{screenshot}: {blue} blue pixels; were the charts drawn?"
