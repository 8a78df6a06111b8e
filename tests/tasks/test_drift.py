"""Drift against the previous good release, on small synthetic tables."""

import polars as pl

from talentflow.tasks.drift import snapshot_drift


def synthetic_release(countries: list[str], years=range(2000, 2010), bump: float = 0.0):
    """A synthetic tidy table; a value depends only on its country and year."""
    rows = [
        (
            country,
            year,
            100.0 * int(country[1:])
            + year
            - 2000
            + (bump if (country, year) == ("C00", 2003) else 0.0),
        )
        for country in countries
        for year in years
    ]
    return pl.DataFrame(rows, schema=["country_iso3", "year", "value"], orient="row")


COUNTRIES = [f"C{i:02d}" for i in range(20)]


def test_an_identical_release_has_no_findings():
    release = synthetic_release(COUNTRIES)
    report = snapshot_drift(release, release)
    assert report.findings() == []
    assert report.values_compared == 200 and report.values_changed == 0


def test_revisions_are_counted_and_the_largest_named():
    report = snapshot_drift(synthetic_release(COUNTRIES), synthetic_release(COUNTRIES, bump=50.0))
    assert report.values_changed == 1
    [revision] = report.largest_revisions
    assert revision["country_iso3"] == "C00" and revision["year"] == 2003
    assert revision["old"] == 3.0 and revision["new"] == 53.0
    assert report.findings() == []  # 0.5 % of values revised is ordinary


def test_a_lost_country_warns_and_a_lost_quarter_is_critical():
    full = synthetic_release(COUNTRIES)
    one_lost = snapshot_drift(full, synthetic_release(COUNTRIES[1:]))
    assert one_lost.countries_lost == ["C00"]
    assert [f.severity for f in one_lost.findings()] == ["warning"]
    quarter_lost = snapshot_drift(full, synthetic_release(COUNTRIES[5:]))
    severities = {f.message.split()[1]: f.severity for f in quarter_lost.findings()}
    assert "critical" in severities.values()
    assert quarter_lost.countries_lost_percent == 25.0


def test_a_half_empty_release_is_critical():
    full = synthetic_release(COUNTRIES)
    report = snapshot_drift(full, full.head(80))
    assert report.rows_lost_percent == 60.0
    assert ("critical", "rows fell from 200 to 80 (60.0 % lost)") in [
        (f.severity, f.message) for f in report.findings()
    ]
