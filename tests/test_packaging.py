"""talentflow installs as one package whose floors are the repository's folders."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_folder_with_code_ships_as_a_talentflow_subpackage():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    from talentflow.core.facts import PACKAGE_FOLDERS as shipped_folders

    on_disk = {
        "talentflow." + ".".join(init.parent.relative_to(REPO).parts)
        for folder in shipped_folders
        for init in (REPO / folder).rglob("__init__.py")
    }
    assert listed == on_disk | {"talentflow"}


def test_the_command_works_beside_local_modules_named_like_our_floors(tmp_path):
    # A user's working directory holding models.py and a core/ package must not shadow
    # talentflow's own (issue: generic top-level packages collided).
    (tmp_path / "models.py").write_text("raise ImportError('the wrong models')\n")
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "__init__.py").write_text("raise ImportError('the wrong core')\n")
    done = subprocess.run(
        [sys.executable, "-c", "from talentflow.flows.cli import app; app(['--help'])"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "talentflow" in done.stdout


def test_the_outlook_templates_ship_as_package_data():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["talentflow.tasks"]
    templates = sorted((REPO / "tasks" / "templates").iterdir())
    assert templates, "tasks/templates/ holds the outlook's template, stylesheet and script"
    for template in templates:
        relative = template.relative_to(REPO / "tasks")
        assert any(relative.match(pattern) for pattern in patterns), f"{relative} is not shipped"


def test_the_wheel_ships_the_package_and_no_test_code(tmp_path):
    # Built the way a release is (sdist, then the wheel from it), so that no stale build/
    # folder of a checkout can add files. Synthetic data generators are test code: they
    # live under tests/ and must not reach site-packages.
    uv = Path(sys.executable).with_name("uv")  # `make setup` installs it into the venv
    done = subprocess.run(
        [str(uv), "build", "--out-dir", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    [wheel] = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "talentflow/tasks/sources/orcid.py" in names
    assert "talentflow/expectations/forecasts.json" in names
    assert "talentflow/tasks/templates/outlook.html.j2" in names
    assert [name for name in names if "synthetic" in name or name.startswith("tests/")] == []
