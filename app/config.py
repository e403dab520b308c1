"""Application settings: one class, read from the environment (prefix ``COPMATCH_``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

# Relative to the working directory: `make run` and the container both run from the project root.
DEFAULT_DATABASE_URL = "sqlite:///./var/copmatch.sqlite3"

SUPPORTED_DATABASES = frozenset({("sqlite", "pysqlite"), ("postgresql", "psycopg")})
"""(backend, driver) pairs copmatch runs on: SQLite, and PostgreSQL through psycopg 3."""


class Settings(BaseSettings):
    """Every setting the service reads. Documented in ``.env.example``."""

    model_config = SettingsConfigDict(
        env_prefix="COPMATCH_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL; sqlite:///path or postgresql+psycopg://user@host/db",
    )
    database_echo: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = Field(
        default=False,
        description="One log line per request from uvicorn (a proxy in front usually logs them)",
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL under which clients reach the service (used in OpenAPI servers); "
        "default http://{host}:{port}, a wildcard host as the loopback address",
    )
    contact_name: str = "copmatch beheer"
    contact_email: str = "copmatch@example.org"
    contact_url: str = "https://github.com/copmatch/copmatch"
    import_max_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1,
        description="Largest CSV or XLSX file an import accepts, in bytes (larger: 413)",
    )

    admin_token: str | None = Field(
        default=None,
        description="Bootstrap admin bearer token (at least 32 characters); required outside "
        "development. In development `copmatch serve` makes one in var/ when unset.",
    )
    token_lifetime_days: int = Field(default=90, ge=1, le=3650)
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest request body, in bytes (larger: 413)"
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser; empty: CORS off",
    )

    @property
    def base_url(self) -> str:
        """public_url, or the address the service listens on (http://host:port): a wildcard
        host (every interface) as the loopback address, an IPv6 address in brackets."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        expected = "sqlite:///path or postgresql+psycopg://user@host/db"
        try:
            url = make_url(value)
            found = (url.get_backend_name(), url.get_driver_name())
        except (ArgumentError, NoSuchModuleError, ValueError):
            raise ValueError(f"not a database URL copmatch can use; expected {expected}") from None
        if found not in SUPPORTED_DATABASES:
            raise ValueError(
                f"copmatch runs on SQLite or on PostgreSQL through psycopg, not {url.drivername}; "
                f"expected {expected}"
            )
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "production" and self.database_url.startswith("sqlite"):
            # SQLite is the embedded default for development; production runs on PostgreSQL.
            raise ValueError("COPMATCH_DATABASE_URL must point at PostgreSQL in production")
        if self.environment != "development" and not _safe_secret(self.admin_token):
            raise ValueError(
                "COPMATCH_ADMIN_TOKEN must be set to a random value of at least 32 characters "
                "outside development (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`)"
            )
        if "*" in self.cors_origins:
            raise ValueError("COPMATCH_CORS_ORIGINS must list origins explicitly, not '*'")
        return self


PLACEHOLDERS = {"changeme", "change-me", "secret", "admin", "token", "password", "placeholder"}


def _safe_secret(value: str | None) -> bool:
    if value is None:
        return False
    lowered = value.strip().lower()
    return len(value) >= 32 and not any(word in lowered for word in PLACEHOLDERS)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache to change them). A ``.env``
    that is no UTF-8 text is a SettingsError naming it, as a value that cannot be parsed is
    (found by review: a traceback from the CLI)."""
    try:
        return Settings()
    except UnicodeDecodeError as error:
        env_file = Settings.model_config.get("env_file")
        raise SettingsError(
            f"{env_file} is not UTF-8 text ({error.reason} at byte {error.start})"
        ) from error
