"""The ``copmatch`` command: migrate, load reference data, load the demo, serve."""

from __future__ import annotations

import logging

import typer
import uvicorn
from sqlalchemy.engine import make_url

from app.config import get_settings
from app.db import session_scope
from app.migrate import upgrade_to_head
from app.services.demo import load_demo
from app.services.organisations import load_municipalities

cli = typer.Typer(
    help="copmatch: needs-and-offers matchmaking for Communities of Practice.",
    no_args_is_help=True,
    add_completion=False,
)


def _database_label() -> str:
    return make_url(get_settings().database_url).render_as_string(hide_password=True)


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date (Alembic upgrade head)."""
    upgrade_to_head()
    typer.echo(f"database schema is up to date ({_database_label()})")


@cli.command("load-municipalities")
def load_municipalities_command() -> None:
    """Create or update the 44 Noord-Holland municipalities (CBS 2023)."""
    with session_scope() as session:
        result = load_municipalities(session)
    typer.echo(
        f"municipalities: {result.created} created, {result.updated} updated, "
        f"{result.unchanged} unchanged"
    )


@cli.command()
def demo() -> None:
    """Create the demo community "CoP Warmtetransitie Noord-Holland" (once)."""
    try:
        with session_scope() as session:
            result = load_demo(session)
    except LookupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    if not result.created:
        typer.echo(f"demo community exists already (id {result.community_id}); left as it is")
        return
    typer.echo(
        f"demo community created (id {result.community_id}): {result.members} members, "
        f"{result.people} people, {result.needs} needs, {result.offers} offers, "
        f"{result.format_preferences} format preferences"
    )


@cli.command()
def serve(
    host: str = typer.Option(None, help="Interface to bind (default: COPMATCH_HOST)"),
    port: int = typer.Option(None, help="Port (default: COPMATCH_PORT)"),
    reload: bool = typer.Option(False, help="Reload on code changes (development)"),
) -> None:
    """Serve the API with uvicorn."""
    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    typer.echo(f"copmatch on http://{host}:{port} — API docs: http://{host}:{port}/docs")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        log_level=settings.log_level,
        proxy_headers=True,
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cli()


if __name__ == "__main__":
    main()
