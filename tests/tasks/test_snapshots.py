import json
import re

import pytest

from talentflow.tasks.snapshots import store_snapshot
from talentflow.tasks.sources.catalog import CATALOG, RESEARCHERS_PER_MILLION
from talentflow.tasks.sources.fetch import Download, FetchError, fetch
from talentflow.tasks.sources.formats import ReaderError


def test_every_pipeline_dataset_resolves_to_one_mirror_file(settings_env):
    for source in CATALOG.values():
        download = fetch(source, settings_env)
        assert download.data, source.id
        assert download.source.startswith(str(settings_env.mirror))


def test_a_mirror_without_the_file_is_a_clear_error(settings_env, tmp_path):
    empty = settings_env.model_copy(update={"mirror": tmp_path})
    with pytest.raises(FetchError, match="wdi_sp_pop_scie_rd_p6.*exactly one file"):
        fetch(CATALOG[RESEARCHERS_PER_MILLION], empty)


def test_a_snapshot_is_named_by_its_checksum_and_described_by_a_sidecar(settings_env):
    source = CATALOG[RESEARCHERS_PER_MILLION]
    download = fetch(source, settings_env)
    first = store_snapshot(source, download, settings_env)
    assert first.is_new
    assert first.path.read_bytes() == download.data
    sidecar = json.loads(first.sidecar_path.read_text())
    assert sidecar["sha256"] == first.sha256 and first.path.name.startswith(first.sha256)
    assert sidecar["rows"] == 2475
    assert sidecar["size_bytes"] == len(download.data)
    assert sidecar["source"] == download.source and sidecar["licence"] == "CC BY 4.0"

    again = store_snapshot(source, download, settings_env)
    assert not again.is_new and again.path == first.path
    assert sorted(p.name for p in first.path.parent.iterdir()) == sorted(
        [first.path.name, first.sidecar_path.name]
    )


def test_an_unreadable_download_leaves_no_snapshot_and_is_quarantined(settings_env):
    source = CATALOG[RESEARCHERS_PER_MILLION]
    page = Download(source.id, b"<html><body>502 Bad Gateway</body></html>", source.url, "x.csv")
    expected = re.escape(f"{source.id}: the download from {source.url}")
    with pytest.raises(ReaderError, match=expected) as failure:
        store_snapshot(source, page, settings_env)
    assert "HTML page" in str(failure.value) and "quarantine" in str(failure.value)
    folder = settings_env.data_dir / "snapshots" / source.id
    assert not folder.exists() or not any(folder.iterdir())
    quarantined = settings_env.data_dir / "quarantine" / source.id
    [kept] = [p for p in quarantined.iterdir() if p.suffix == ".csv"]
    assert kept.read_bytes() == page.data
    reason = json.loads(kept.with_name(kept.name.split(".")[0] + ".reason.json").read_text())
    assert reason["source"] == source.url and "HTML page" in reason["fault"]


def test_a_json_snapshot_and_its_sidecar_do_not_collide(settings_env):
    source = CATALOG["orcid_sample_record_full_3_0"]
    download = fetch(source, settings_env)
    snapshot = store_snapshot(source, download, settings_env)
    assert snapshot.path.read_bytes() == download.data
    assert snapshot.sidecar_path != snapshot.path
    assert json.loads(snapshot.sidecar_path.read_text())["sha256"] == snapshot.sha256
    assert snapshot.path.stat().st_mode & 0o044, "snapshots are readable beyond their owner"


def test_a_torn_ledger_line_is_skipped_with_a_warning_and_the_next_accept_repairs_it(
    settings_env, caplog
):
    """A ledger whose last line was torn by a kill (an older version appended) does not
    stop the dataset from ever being accepted again."""
    from talentflow.tasks.snapshots import accepted_history, record_accepted

    source = CATALOG[RESEARCHERS_PER_MILLION]
    snapshot = store_snapshot(source, fetch(source, settings_env), settings_env)
    record_accepted(snapshot, settings_env, rows=1)
    ledger = snapshot.path.parent / "accepted.jsonl"
    ledger.write_text(ledger.read_text() + '{"sha256": "abc", "accep')  # torn
    with caplog.at_level("WARNING"):
        history = accepted_history(settings_env, source.id)
    assert [entry["sha256"] for entry in history] == [snapshot.sha256]
    assert f"{ledger}, line 2: damaged ledger entry skipped" in caplog.text
    record_accepted(snapshot, settings_env, rows=2)
    lines = ledger.read_text().splitlines()
    assert [json.loads(line)["rows"] for line in lines] == [1, 2]  # repaired, whole
    assert not list(ledger.parent.glob("*.tmp*"))
