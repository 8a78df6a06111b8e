"""The ingest flow on the real mirror: every catalog dataset lands, reruns change
nothing, one bad source fails alone."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from talentflow.flows.cli import app
from talentflow.flows.ingest import IngestFailed, ensure_rate_limits, ingest, ingest_run_name
from talentflow.tasks.sources.catalog import CATALOG, RATE_LIMITS
from talentflow.tasks.validate import data_docs_index


@pytest.fixture(scope="module")
def landed(prefect_harness, mirror, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("ingest-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TALENTFLOW_MIRROR", str(mirror))
        patch.setenv("TALENTFLOW_DATA_DIR", str(data_dir))
        return data_dir, ingest()


def test_every_catalog_dataset_lands_with_a_tidy_table(landed):
    data_dir, results = landed
    assert [r.dataset_id for r in results] == sorted(CATALOG)
    for result in results:
        # The ORCID person sample holds names and addresses, no affiliation: empty by design.
        expect_rows = result.dataset_id != "orcid_sample_person_3_0"
        assert result.is_new and (result.rows > 0) == expect_rows, result.dataset_id
        tidy = pl.read_parquet(result.tidy_path)
        assert tidy.height == result.tidy_rows and (tidy.height > 0) == expect_rows
        assert result.tidy_path.startswith(str(data_dir / "tidy" / result.dataset_id))
        sidecar = data_dir / "snapshots" / result.dataset_id / f"{result.sha256}.meta.json"
        assert sidecar.is_file()


def test_a_rerun_on_unchanged_sources_makes_no_new_snapshot(
    landed, mirror, monkeypatch, raw_snapshots
):
    data_dir, first = landed
    monkeypatch.setenv("TALENTFLOW_MIRROR", str(mirror))
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(data_dir))
    chosen = ["wdi_sp_pop_totl", "mpidr_scopus_flows"]
    ingest(chosen)  # every acceptance cached from here on
    docs = data_docs_index(data_dir)
    built = docs.stat().st_mtime_ns
    state = ingest(chosen, return_state=True)
    again = state.result()
    assert flow_run_name(state) == "ingest-2-datasets"
    assert [r.is_new for r in again] == [False, False]
    for result in again:  # a warm run must hand each dataset its own tidy table
        assert f"/tidy/{result.dataset_id}/{result.sha256}.parquet" in result.tidy_path
    before = {r.dataset_id: r.sha256 for r in first}
    assert {r.dataset_id: r.sha256 for r in again} == {d: before[d] for d in chosen}
    for dataset_id in chosen:
        assert len(raw_snapshots(data_dir / "snapshots" / dataset_id)) == 1
    # nothing was validated again, so the Data Docs site was not rebuilt
    assert docs.stat().st_mtime_ns == built


def test_one_bad_source_fails_alone_and_is_named(
    landed, mirror, tmp_path, monkeypatch, raw_snapshots
):
    data_dir, _ = landed
    bad_mirror = tmp_path / "mirror"
    (bad_mirror / "wdi").mkdir(parents=True)
    (bad_mirror / "wdi" / "API_SP.POP.TOTL_DS2_en_csv_v2.csv").symlink_to(
        mirror / "wdi" / "API_SP.POP.TOTL_DS2_en_csv_v2.csv"
    )
    (bad_mirror / "wdi" / "API_GB.XPD.RSDV.GD.ZS_DS2_en_csv_v2_232.csv").write_text(
        "<!DOCTYPE html><html><body>Service Unavailable</body></html>"
    )
    monkeypatch.setenv("TALENTFLOW_MIRROR", str(bad_mirror))
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(IngestFailed) as failure:
        ingest(["wdi_sp_pop_totl", "wdi_gb_xpd_rsdv_gd_zs"])
    message = str(failure.value)
    assert "1 of 2 datasets failed" in message
    assert "wdi_gb_xpd_rsdv_gd_zs" in message and "HTML" in message
    assert raw_snapshots(tmp_path / "data" / "snapshots" / "wdi_gb_xpd_rsdv_gd_zs") == []
    assert len(list((tmp_path / "data" / "quarantine" / "wdi_gb_xpd_rsdv_gd_zs").iterdir())) == 2
    assert len(raw_snapshots(tmp_path / "data" / "snapshots" / "wdi_sp_pop_totl")) == 1


def flow_run_name(state) -> str:
    """The name Prefect's API holds for the flow run that ended in ``state``."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(state.state_details.flow_run_id).name


def test_runs_are_named_by_what_they_pull():
    assert ingest_run_name(["wdi_sp_pop_totl"]) == "ingest-wdi_sp_pop_totl"
    assert ingest_run_name(["wdi_sp_pop_totl", "wdi_countries"]) == "ingest-2-datasets"
    assert ingest_run_name(None) == f"ingest-{len(CATALOG)}-datasets"


def test_a_failed_run_leaves_no_pickle_in_prefects_result_storage(
    prefect_harness, settings_env, tmp_path
):
    from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH, temporary_settings

    storage = tmp_path / "prefect-results"
    with temporary_settings({PREFECT_RESULTS_LOCAL_STORAGE_PATH: storage}):
        state = ingest(["no_such_dataset"], return_state=True)
    assert state.is_failed()
    assert flow_run_name(state) == "ingest-no_such_dataset"
    # Prefect writes a failed run's exception to result storage even when the flow keeps
    # no result; pickled, it would run code for whoever can write there. It must be JSON.
    kept = [path for path in storage.rglob("*") if path.is_file()]
    assert kept, "Prefect keeps the failure: if it no longer does, this test can go"
    for path in kept:
        assert json.loads(path.read_bytes())["__exc_type__"] == "builtins.KeyError"


def test_an_unknown_dataset_fails_before_anything_is_pulled(prefect_harness, settings_env):
    state = ingest(["wdi_sp_pop_totl", "no_such_dataset"], return_state=True)
    assert state.is_failed()
    assert "unknown dataset 'no_such_dataset'" in str(state.result(raise_on_failure=False))
    assert not (settings_env.data_dir / "snapshots").exists()


def test_rate_limited_hosts_get_a_prefect_rate_limit(prefect_harness):
    from prefect import get_client

    ensure_rate_limits(["orcid_sample_record_3_0", "wdi_sp_pop_totl"])
    with get_client(sync_client=True) as client:
        world_bank = client.read_global_concurrency_limit_by_name(
            RATE_LIMITS["api.worldbank.org"].name
        )
    assert world_bank.limit == 5 and world_bank.slot_decay_per_second == 2
    # The ORCID samples come from GitHub, not the ORCID API: no ORCID limit is needed.


def test_cli_pull_prints_a_summary_and_sources_lists_the_catalog(prefect_harness, settings_env):
    runner = CliRunner()
    pulled = runner.invoke(app, ["pull", "wdi_sp_pop_scie_rd_p6"])
    assert pulled.exit_code == 0, pulled.output
    assert "wdi_sp_pop_scie_rd_p6" in pulled.output and "new" in pulled.output
    listed = runner.invoke(app, ["sources"])
    assert listed.exit_code == 0
    assert f"{len(CATALOG)} datasets" in listed.output


def test_cli_pull_exits_non_zero_and_names_the_failure(
    prefect_harness, settings_env, tmp_path, monkeypatch
):
    (tmp_path / "MANIFEST.md").write_text("a mirror that lacks the file")
    monkeypatch.setenv("TALENTFLOW_MIRROR", str(tmp_path))
    result = CliRunner().invoke(app, ["pull", "wdi_sp_pop_totl"])
    assert result.exit_code == 1
    assert "wdi_sp_pop_totl" in result.output and "exactly one file" in result.output


RESEARCHERS = "wdi/API_SP.POP.SCIE.RD.P6_DS2_en_csv_v2_37695.csv"


def mirror_with(tmp_path, mirror, text: str):
    """A mirror holding one edited copy of the real World Bank researchers file."""
    copy = tmp_path / "mirror"
    (copy / "wdi").mkdir(parents=True)
    (copy / RESEARCHERS).write_text(text, encoding="utf-8-sig")
    return copy


def test_a_warning_lets_the_release_land_and_is_reported(
    landed, mirror, tmp_path, monkeypatch, caplog
):
    from prefect.artifacts import Artifact

    data_dir, _ = landed
    text = (mirror / RESEARCHERS).read_text(encoding="utf-8-sig")
    # Albania's line gone (drift: a country lost) and one Austrian value tripled (a
    # year-on-year jump): two kinds of warning, neither critical.
    edited = "".join(
        line for line in text.splitlines(keepends=True) if not line.startswith('"Albania"')
    ).replace('"3186.95396"', '"9186.95396"')
    monkeypatch.setenv("TALENTFLOW_MIRROR", str(mirror_with(tmp_path, mirror, edited)))
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(data_dir))

    with caplog.at_level(logging.WARNING):
        [landed_again] = ingest(["wdi_sp_pop_scie_rd_p6"])

    assert landed_again.is_new
    problems = " | ".join(landed_again.warnings)
    assert "doubled or halved in a year" in problems
    assert "drift: 1 countries no longer present" in problems and "ALB" in problems
    # The whole list is kept in one file beside the tidy table...
    full_list = data_dir / "tidy" / "wdi_sp_pop_scie_rd_p6" / f"{landed_again.sha256}.warnings.json"
    kept = json.loads(full_list.read_text())
    assert [w["detail"] for w in kept["warnings"]] == landed_again.warnings
    assert kept["drift"]["countries_lost"] == ["ALB"]
    # ...and the log has one line per kind, counted, pointing there; no detail dumped.
    logged = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.getMessage().startswith("wdi_sp_pop_scie_rd_p6:")
    ]
    kinds = {w["kind"] for w in kept["warnings"]}
    assert len(logged) == len(kinds) >= 2
    assert "wdi_sp_pop_scie_rd_p6: warning 1 × drift: countries lost (countries: 1)" in " ".join(
        logged
    )
    for line in logged:
        assert line.endswith(f"; full list: {full_list}") and "{" not in line, line
    [row] = json.loads(Artifact.get("validation-summary").data)
    assert row["status"] == "accepted" and row["highest_severity"] == "warning"
    assert "year-on-year jump" in row["problems"] and "drift" in row["problems"]
    assert row["full_list"] == str(full_list)


def test_an_unknown_place_code_quarantines_the_release_naming_the_code(
    landed, mirror, tmp_path, monkeypatch
):
    """Albania's code misspelt ALX: the file's own suite fails, naming the code, and the
    snapshot is quarantined (it used to land with a warning and fail later as a null)."""
    data_dir, _ = landed
    text = (mirror / RESEARCHERS).read_text(encoding="utf-8-sig")
    edited = text.replace('"Albania","ALB"', '"Albania","ALX"')
    monkeypatch.setenv("TALENTFLOW_MIRROR", str(mirror_with(tmp_path, mirror, edited)))
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(data_dir))
    state = ingest(["wdi_sp_pop_scie_rd_p6"], return_state=True)
    assert state.is_failed()
    message = str(state.result(raise_on_failure=False))
    assert "expect_column_values_to_be_in_set on Country Code" in message and "ALX" in message
    assert list((data_dir / "quarantine" / "wdi_sp_pop_scie_rd_p6").glob("*.reason.json"))


def test_a_half_empty_release_is_critical_drift_and_quarantined(
    landed, mirror, tmp_path, monkeypatch, raw_snapshots
):
    data_dir, _ = landed
    folder = data_dir / "snapshots" / "wdi_sp_pop_scie_rd_p6"
    ledger_before = (folder / "accepted.jsonl").read_text()
    lines = (mirror / RESEARCHERS).read_text(encoding="utf-8-sig").splitlines(keepends=True)
    # The first 60 lines, and China and the USA (which the suite requires): still a
    # release that lost most of its rows.
    kept = lines[:60] + [line for line in lines[60:] if '"USA"' in line or '"CHN"' in line]
    monkeypatch.setenv("TALENTFLOW_MIRROR", str(mirror_with(tmp_path, mirror, "".join(kept))))
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(data_dir))

    with pytest.raises(IngestFailed) as failure:
        ingest(["wdi_sp_pop_scie_rd_p6"])

    message = str(failure.value)
    assert "critical drift against the previous good snapshot" in message
    assert "rows fell from" in message and "quarantine" in message
    assert (folder / "accepted.jsonl").read_text() == ledger_before
    reasons = list((data_dir / "quarantine" / "wdi_sp_pop_scie_rd_p6").glob("*.reason.json"))
    assert any("rows fell" in json.loads(r.read_text())["fault"] for r in reasons)
    # The validation summary keeps the cause whole, down to where the snapshot was kept.
    from prefect.artifacts import Artifact

    [row] = json.loads(Artifact.get("validation-summary").data)
    assert row["status"] == "failed" and row["highest_severity"] == "critical"
    assert f"- wdi_sp_pop_scie_rd_p6: {row['problems']}" in message
    assert row["problems"].rstrip(")").endswith(".csv") and "quarantine" in row["problems"]


def test_a_deleted_tidy_table_is_rebuilt_not_served_from_cache(landed, mirror, monkeypatch):
    data_dir, first = landed
    monkeypatch.setenv("TALENTFLOW_MIRROR", str(mirror))
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(data_dir))
    ingest(["wdi_sp_pop_totl"])  # cached from here on
    [before] = [r for r in first if r.dataset_id == "wdi_sp_pop_totl"]
    Path(before.tidy_path).unlink()
    built = data_docs_index(data_dir).stat().st_mtime_ns
    [again] = ingest(["wdi_sp_pop_totl"])
    assert Path(again.tidy_path).is_file()
    # validated again, so the Data Docs site was rebuilt with that result
    assert data_docs_index(data_dir).stat().st_mtime_ns > built
    assert pl.read_parquet(again.tidy_path).height == before.tidy_rows
