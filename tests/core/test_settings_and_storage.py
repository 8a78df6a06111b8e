from pathlib import Path

import pytest

from talentflow.core.settings import get_settings
from talentflow.core.storage import (
    atomic_path,
    atomic_write_bytes,
    data_docs_in_reports,
    report_url,
)


def test_settings_default_to_live_pulls_and_a_local_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("TALENTFLOW_MIRROR", raising=False)
    monkeypatch.delenv("TALENTFLOW_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = get_settings()
    assert settings.mirror is None
    assert settings.data_dir == tmp_path / "data"


def test_settings_read_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TALENTFLOW_MIRROR", str(tmp_path / "m"))
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path / "d"))
    settings = get_settings()
    assert settings.mirror == tmp_path / "m"
    assert settings.data_dir == tmp_path / "d"


def test_a_failed_atomic_write_leaves_the_old_file_and_no_debris(tmp_path: Path):
    target = tmp_path / "table.parquet"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]


def test_report_links_are_files_until_a_report_site_is_set(monkeypatch, tmp_path):
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TALENTFLOW_REPORT_BASE_URL", raising=False)
    report = tmp_path / "data" / "reports" / "outlook-run 1.html"
    assert report_url(get_settings(), report) == report.as_uri()

    monkeypatch.setenv("TALENTFLOW_REPORT_BASE_URL", "https://reports.example.org/talent/")
    settings = get_settings()
    assert settings.report_base_url == "https://reports.example.org/talent"
    assert report_url(settings, report) == (
        "https://reports.example.org/talent/outlook-run%201.html"
    )
    with pytest.raises(ValueError, match="outside the reports folder"):
        report_url(settings, tmp_path / "data" / "published" / "forecasts.parquet")


def test_a_report_base_url_must_be_a_web_address(monkeypatch):
    monkeypatch.setenv("TALENTFLOW_REPORT_BASE_URL", "/srv/reports")
    with pytest.raises(ValueError, match="not an http"):
        get_settings()


@pytest.mark.parametrize("value", ["0", "-5"])
def test_series_per_task_must_be_at_least_one(monkeypatch, value):
    monkeypatch.setenv("TALENTFLOW_SERIES_PER_TASK", value)
    with pytest.raises(ValueError, match=f"{value} series per forecast task: give at least 1"):
        get_settings()
    monkeypatch.setenv("TALENTFLOW_SERIES_PER_TASK", "250")
    assert get_settings().series_per_task == 250


def test_data_docs_are_linked_into_the_reports_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TALENTFLOW_REPORT_BASE_URL", "http://127.0.0.1:8081")
    settings = get_settings()
    site = tmp_path / "data" / "gx" / "uncommitted" / "data_docs" / "local_site"
    site.mkdir(parents=True)
    (site / "index.html").write_text("<h1>Data Docs</h1>")
    for _ in range(2):  # a second build replaces the link
        index = data_docs_in_reports(settings, site / "index.html")
    assert index == tmp_path / "data" / "reports" / "data-docs" / "index.html"
    assert index.read_text() == "<h1>Data Docs</h1>"
    assert not index.parent.readlink().is_absolute()  # the data folder can move
    assert report_url(settings, index) == "http://127.0.0.1:8081/data-docs/index.html"
    assert sorted(p.name for p in index.parent.parent.iterdir()) == ["data-docs"]
