from pathlib import Path

import pytest

from talentflow.core.settings import get_settings
from talentflow.core.storage import atomic_path, atomic_write_bytes


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
