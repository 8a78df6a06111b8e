"""The backtest and run reports say, per headline target, whether each goal is met."""

from datetime import UTC, datetime

import polars as pl

from talentflow.tasks.report import backtest_markdown, headline_forecasts, variant_spread
from tests.synthetic_tables import synthetic_forecasts, synthetic_model_selection


def synthetic_metrics(selection: pl.DataFrame) -> pl.DataFrame:
    rows = [
        {
            "target": row["target"],
            "model": model,
            "horizon": h,
            "origins": 5,
            "forecasts": 10,
            "mase": mase * h,
            "smape": 5.0,
            "coverage80": 0.6,
            "coverage95": 0.9,
        }
        for row in selection.iter_rows(named=True)
        for model, mase in ((row["selected_model"], 1.0), ("naive", 1.5))
        for h in range(1, 6)
    ]
    return pl.DataFrame(rows)


def test_the_backtest_report_names_each_target_its_model_and_a_missed_goal():
    selection = synthetic_model_selection("r1", 2024).with_columns(
        pl.when(pl.col("target") == pl.col("target").first())
        .then(pl.lit(0.61))
        .otherwise(pl.col("calibrated_coverage80"))
        .alias("calibrated_coverage80"),
        (pl.col("target") != pl.col("target").first()).alias("meets_coverage_goal"),
    )
    report = backtest_markdown(selection, synthetic_metrics(selection), vintage=2024)
    first = selection.row(0, named=True)
    assert f"| {first['target']} | {first['family']} | {first['selected_model']} |" in report
    assert "| 61% | **missed** |" in report
    assert report.count("| met |") >= selection.height - 1
    assert "Beyond 12 years nothing here scores the forecasts" in report


def test_headline_forecasts_are_the_selected_model_in_the_variants_only():
    forecasts = synthetic_forecasts("r1", 2024, datetime(2026, 11, 30, tzinfo=UTC))
    headline = headline_forecasts(forecasts)
    assert headline.height > 0
    assert set(headline["year"]) <= {2030, 2040, 2050}
    assert not headline["scenario"].str.contains("+", literal=True).any()
    chosen = forecasts.filter(pl.col("is_selected"))["model"].unique().to_list()
    assert set(headline["model"]) <= set(chosen)


def test_the_data_docs_link_opens_from_the_prefect_ui_when_a_report_site_is_set(
    monkeypatch, tmp_path
):
    from talentflow.tasks import report

    site = tmp_path / "data" / "gx" / "uncommitted" / "data_docs" / "local_site"
    site.mkdir(parents=True)
    (site / "index.html").write_text("<h1>Data Docs</h1>")
    monkeypatch.setattr(report, "build_data_docs", lambda store: site / "index.html")
    links = []
    monkeypatch.setattr(report, "create_link_artifact", lambda **kw: links.append(kw))
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path / "data"))

    monkeypatch.delenv("TALENTFLOW_REPORT_BASE_URL", raising=False)
    report.publish_data_docs.fn()
    monkeypatch.setenv("TALENTFLOW_REPORT_BASE_URL", "http://127.0.0.1:8081")
    report.publish_data_docs.fn()

    as_file, served = links
    assert as_file["link"] == (site / "index.html").as_uri()
    assert str(site / "index.html") in as_file["description"]  # where the file is
    assert served["link"] == "http://127.0.0.1:8081/data-docs/index.html"
    assert (tmp_path / "data" / "reports" / "data-docs" / "index.html").is_file()


def test_the_findings_say_what_the_variants_change_and_when_they_cannot():
    keys = ["target", "country_iso3", "origin_group", "model", "year"]
    forecasts = synthetic_forecasts("r1", 2024, datetime(2026, 11, 30, tzinfo=UTC)).with_columns(
        pl.col("yhat").first().over(keys)  # every scenario alike
    )
    # synthetic: the variants apart from 2045 only (a cohort born by then is the same)
    forecasts = forecasts.with_columns(
        pl.when((pl.col("scenario") == "High") & (pl.col("year") >= 2045))
        .then(pl.col("yhat") * 1.1)
        .when((pl.col("scenario") == "Low") & (pl.col("year") >= 2045))
        .then(pl.col("yhat") * 0.9)
        .otherwise(pl.col("yhat"))
        .alias("yhat")
    )
    spread = variant_spread(forecasts)
    china = spread.filter(
        (pl.col("target") == "researchers") & (pl.col("country_iso3") == "CHN")
    ).row(0, named=True)
    assert china["first_year_apart"] == 2045
    assert china["low"] < china["medium"] < china["high"]
    flat = variant_spread(forecasts.with_columns(pl.col("yhat").first().over(keys)))
    assert flat["first_year_apart"].is_null().all()


def test_a_run_with_nothing_new_names_the_standing_run_and_its_time_in_utc():
    from datetime import datetime, timedelta, timezone

    from talentflow.tasks.report import unchanged_note

    paris = timezone(timedelta(hours=1))  # a database session in another zone
    note = unchanged_note(
        {
            "run_id": "synthetic-run",
            "published_at": datetime(2026, 12, 5, 18, 30, tzinfo=paris),
            "fingerprint": "0123456789ab" + "f" * 52,
        }
    )
    assert note.startswith("# Nothing new to publish")
    assert "`synthetic-run`" in note and "2026-12-05 17:30 UTC" in note
    assert "`0123456789ab`" in note and "--refresh" in note
