"""The ``copmatch`` command: migrate, load reference data, load the demo, import answers, make
a report, manage tokens, serve."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
import uvicorn
from alembic.util import CommandError
from fastapi import FastAPI
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from sqlalchemy import Row, exists, or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.core import TyperGroup

from app.auth import SYSTEM, generate_token
from app.config import Settings, get_settings
from app.db import (
    Trouble,
    database_trouble,
    describe_database_error,
    get_engine,
    session_scope,
    snapshot_bind,
)
from app.errors import CopmatchError
from app.main import create_app
from app.migrate import (
    SchemaState,
    head_revision,
    schema_revision,
    schema_state,
    upgrade_to_head,
)
from app.models import Community, Need, Offer, Organisation
from app.reports.i18n import Lang
from app.reports.render import ReportFormat, render_community
from app.schemas import MAX_ID
from app.services import matching as matching_service
from app.services.demo import load_demo
from app.services.import_plan import ProgressCallback
from app.services.imports import (
    ImportFile,
    ImportResult,
    import_answers,
    read_import,
    texts_to_embed,
)
from app.services.organisations import get_person, load_municipalities
from app.services.reports import REPORT_STEPS, community_report
from app.services.tokens import get_token, issue_token, revoke_token


class _Commands(TyperGroup):
    """The commands, with the database's own trouble told in one line instead of a traceback."""

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click.Context
        try:
            return super().invoke(ctx)
        except ValidationError as error:  # the settings, read from the environment
            if error.title != Settings.__name__:
                raise
            for problem in error.errors():
                name = "".join(f"COPMATCH_{part}".upper() for part in problem["loc"][:1])
                message = problem["msg"].removeprefix("Value error, ")
                typer.echo(f"error: {name or 'settings'}: {message}", err=True)
            raise typer.Exit(2) from error
        except SettingsError as error:  # a value that is not even parsed ('*' for a list)
            typer.echo(f"error: settings: {error}", err=True)
            raise typer.Exit(2) from error
        except CommandError as error:  # Alembic's, from copmatch migrate
            message = f"cannot migrate the database {_database_label()}: {error}"
            if "Can't locate revision" in str(error):
                message += " (was it migrated by a newer copmatch?)"
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(1) from error
        except DBAPIError as error:
            if _not_migrated(error):
                message = _no_tables_message()
            elif (trouble := database_trouble(error)) is not None:
                message = _trouble_message(trouble, error)
            else:  # not a database (a text file), no rights to a table: no traceback either
                message = (
                    f"the database {_database_label()} refused the command: "
                    f"{describe_database_error(error)}"
                )
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(1) from error


def _not_migrated(error: DBAPIError) -> bool:
    """A table is missing: PostgreSQL's undefined_table, SQLite's "no such table"."""
    return getattr(error.orig, "sqlstate", None) == "42P01" or "no such table" in str(error.orig)


def _trouble_message(trouble: Trouble, error: DBAPIError) -> str:
    if trouble is Trouble.NOT_MIGRATED:  # a column missing (no tables at all: _not_migrated)
        return (
            f"the database {_database_label()} is not migrated to this copmatch: run "
            "copmatch migrate"
        )
    if trouble is Trouble.COLLISION:
        return (
            "the database stopped this change because it collided with a concurrent one; "
            "the change in progress was not saved, run the command again"
        )
    if trouble is Trouble.BUSY:
        return (
            "the database is busy: another change held the data this command writes for too "
            "long; the change in progress was not saved, run the command again"
        )
    lines = str(error.orig).strip().splitlines()
    return f"cannot use the database {_database_label()}: {lines[0] if lines else 'no answer'}"


cli = typer.Typer(
    cls=_Commands,
    help="copmatch: needs-and-offers matchmaking for Communities of Practice.",
    no_args_is_help=True,
    add_completion=False,
    # Docstrings are wrapped at 100 columns: markdown joins a paragraph's lines again.
    rich_markup_mode="markdown",
)


@contextmanager
def _one_error_line(*errors: type[Exception]) -> Iterator[None]:
    """A user's mistake (``errors``, by default the app's own) as one line and exit status 1."""
    caught = errors or (CopmatchError,)
    try:
        yield
    except caught as error:
        detail = error.detail if isinstance(error, CopmatchError) else str(error)
        typer.echo(f"error: {detail}", err=True)
        raise typer.Exit(1) from error


def _database_label() -> str:
    return make_url(get_settings().database_url).render_as_string(hide_password=True)


def _require_current_schema() -> None:
    """Refuse, in one line, a database this copmatch cannot use (behind its migrations, or
    migrated by a newer copmatch: :func:`schema_state`) before a command reads or writes."""
    with get_engine().connect() as connection:
        revision = schema_revision(connection)
    state = schema_state(revision)
    if state is SchemaState.CURRENT:
        return
    label = _database_label()
    if state is SchemaState.MISSING:
        message = _no_tables_message()
    elif state is SchemaState.NEWER:
        message = (
            f"the database {label} was migrated by a newer copmatch (schema revision "
            f"{revision}, which this copmatch does not know): run that copmatch or a newer one"
        )
    else:
        message = (
            f"the database {label} is not migrated to this copmatch (schema revision "
            f"{revision}, it needs {head_revision()}): run copmatch migrate"
        )
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _no_tables_message() -> str:
    return f"the database {_database_label()} has no copmatch tables yet: run copmatch migrate"


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date (Alembic upgrade head), then score the communities
    no copmatch has scored under the current scoring yet (those of a database from before
    their suggestions were stored, or their formula recorded), as ``recompute`` would."""
    upgrade_to_head()
    typer.echo(f"database schema is up to date ({_database_label()})")
    with session_scope() as session:
        answered = or_(
            exists().where(Need.community_id == Community.id),
            exists().where(Offer.community_id == Community.id),
        )
        unscored = or_(
            Community.scored_semantically.is_(None), Community.scored_with_hub_floors.is_(None)
        )
        targets = session.execute(
            select(Community.id, Community.slug).where(unscored, answered).order_by(Community.slug)
        ).all()
    _recompute_each(targets)


@cli.command("load-municipalities")
def load_municipalities_command() -> None:
    """Create or update the 44 Noord-Holland municipalities (CBS 2023)."""
    _require_current_schema()
    with _one_error_line(), session_scope() as session:
        result = load_municipalities(session)
    typer.echo(
        f"municipalities: {result.created} created, {result.updated} updated, "
        f"{result.unchanged} unchanged"
    )


@cli.command()
def demo() -> None:
    """Create the demo community "CoP Warmtetransitie Noord-Holland" (once)."""
    _require_current_schema()
    with _one_error_line(LookupError, CopmatchError), session_scope() as session:
        result = load_demo(session)
    if not result.created:
        typer.echo(f"demo community exists already (id {result.community_id}); left as it is")
        return
    typer.echo(
        f"demo community created (id {result.community_id}): {result.members} members, "
        f"{result.people} people, {result.needs} needs, {result.offers} offers, "
        f"{result.format_preferences} format preferences"
    )


IMPORT_STAGES = {
    "checking": "checking rows",
    "writing": "writing answers",
    "matching": "matching",
}


@contextmanager
def _import_progress() -> Iterator[ProgressCallback]:
    """Progress bars on stderr while an import runs (only on a terminal)."""
    console = Console(stderr=True)
    columns = (TextColumn("{task.description:16}"), BarColumn(), MofNCompleteColumn())
    with Progress(
        *columns, console=console, transient=True, disable=not console.is_terminal
    ) as bars:
        tasks: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(IMPORT_STAGES.get(stage, stage), total=total)
            bars.update(tasks[stage], completed=done, total=total)

        yield report


@cli.command("import")
def import_command(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="The .csv or .xlsx file"
    ),
    community: str = typer.Option(..., "--community", help="Slug of the community"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the file only; write nothing"),
) -> None:
    """Import needs, offers and format preferences from a CSV or XLSX file: all rows or none.

    The same rules as POST /api/v1/communities/{id}/imports (see the API docs); problems are
    listed one per line as "row N, column: message" and make the exit status 1.
    """
    _require_current_schema()
    max_bytes = get_settings().import_max_bytes
    with file.open("rb") as handle:
        data = handle.read(max_bytes + 1)  # one byte over is enough to refuse it
    # Before the session: a writing session holds SQLite's write lock from its start.
    upload = read_import(data, file.name, max_bytes=max_bytes)
    ahead = None if dry_run else _embedded_ahead(community, upload)
    try:
        with session_scope(writing=not dry_run) as session, _import_progress() as progress:
            target = session.scalar(select(Community).where(Community.slug == community))
            if target is None:
                raise LookupError(f"no community with slug {community!r}")
            result = import_answers(
                session, target, upload, dry_run=dry_run, progress=progress, ahead=ahead
            )
            added = list(
                session.scalars(
                    select(Organisation.name)
                    .where(Organisation.id.in_(result.members_added))
                    .order_by(Organisation.name)
                )
            )
    except LookupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    except CopmatchError as error:
        typer.echo(f"error: {error.detail}", err=True)
        for problem in error.extra.get("problems", []):
            typer.echo(f"row {problem['row']}, {problem['column']}: {problem['message']}", err=True)
        raise typer.Exit(1) from error
    _report_import(result, added)


@cli.command()
def recompute(
    community: str = typer.Option(
        None, "--community", help="Slug of the community (default: every community)"
    ),
) -> None:
    """Re-tag, embed and re-score a community's answers (as POST .../_recompute does), e.g.
    after an upgrade that changes the taxonomy or the embedding model. One community per
    transaction."""
    _require_current_schema()
    with session_scope() as session:
        query = select(Community.id, Community.slug).order_by(Community.slug)
        if community is not None:
            query = query.where(Community.slug == community)
        targets = session.execute(query).all()
    if community is not None and not targets:
        typer.echo(f"error: no community with slug {community!r}", err=True)
        raise typer.Exit(1)
    _recompute_each(targets)


def _recompute_each(targets: Sequence[Row[int, str]]) -> None:
    """Recompute each of the communities *targets* (id, slug), one per transaction."""
    for community_id, slug in targets:
        # The model runs before the writing transaction, so no lock is held while it does (on
        # SQLite, one writer at a time); the recompute stores these vectors. (An API write to
        # this community meanwhile still embeds it under its own lock: see embed_written.)
        with session_scope() as session:
            found = session.get(Community, community_id)
            stale = None if found is None else matching_service.read_stale(session, found)
        ahead = None if stale is None else matching_service.embed_ahead(stale)
        with session_scope(writing=True) as session:
            found = session.get(Community, community_id)
            stored = (
                None if found is None else matching_service.recompute(session, found, ahead=ahead)
            )
        typer.echo(
            f"{slug}: deleted meanwhile" if stored is None else f"{slug}: {stored} suggestions"
        )


def _embedded_ahead(slug: str, upload: ImportFile) -> matching_service.EmbeddedAhead | None:
    """The vectors of the texts the import would write, made before its session: the model
    takes about a tenth of a second a text, and a writing session holds SQLite's write lock."""
    with session_scope() as session:
        found = session.scalar(select(Community.id).where(Community.slug == slug))
        texts = {} if found is None else texts_to_embed(session, found, upload)
    return matching_service.embed_texts_ahead(texts)


def _report_import(result: ImportResult, members_added: list[str]) -> None:
    would = "would be " if result.dry_run else ""
    if result.dry_run:
        typer.echo("dry run: nothing was written")
    typer.echo(
        f"{result.rows} rows: {result.created} {would}created, {result.updated} {would}updated, "
        f"{result.unchanged} unchanged"
    )
    if members_added:
        typer.echo(f"new members ({would or 'now '}added): {', '.join(members_added)}")
    if result.people_created:
        typer.echo(f"people {would}added: {result.people_created}")
    for problem in result.problems:
        typer.echo(f"row {problem.row}, {problem.column}: {problem.message}", err=True)
    if result.problems:
        typer.echo(f"{len(result.problems)} problem(s); fix them and import again", err=True)
        raise typer.Exit(1)


@cli.command()
def report(
    community: str = typer.Option(..., "--community", help="Slug of the community"),
    report_format: ReportFormat = typer.Option(
        ..., "--format", help="md, html, csv (the suggestions), xlsx or json"
    ),
    output: str = typer.Option(
        None,
        "--output",
        "-o",
        help="File or directory to write (default: here, named as GET .../report names it: "
        "`<slug>-plan-<date>.<format>`, `<slug>-suggestions-<date>.csv`; a directory, or a path "
        "ending in /, gets that name too; - for standard output)",
    ),
    lang: Lang = typer.Option("nl", "--lang", help="Language of headings and labels"),
) -> None:
    """Make a community's programme plan without a server (as GET .../report does)."""
    # A directory: named by the path's last slash or by being one ("-o plans/", "-o .").
    directory = None
    if output not in (None, "-") and (output.endswith(("/", os.sep)) or Path(output).is_dir()):
        directory = Path(output)
    if directory is not None and not directory.is_dir():
        typer.echo(f"error: no directory {output!r} to write the report in", err=True)
        raise typer.Exit(1)
    if directory is None and output not in (None, "-") and not Path(output).parent.is_dir():
        parent, name = Path(output).parent, Path(output).name
        typer.echo(f"error: no directory {str(parent)!r} to write {name} in", err=True)
        raise typer.Exit(1)
    _require_current_schema()
    console = Console(stderr=True)
    columns = (TextColumn("{task.description:32}"), BarColumn(), MofNCompleteColumn())
    with (
        Progress(
            *columns, console=console, transient=True, disable=not console.is_terminal
        ) as bars,
        # One snapshot of the database for the whole report, as the API's (one_snapshot).
        session_scope(snapshot_bind(get_engine())) as session,
    ):
        task = bars.add_task("looking up the community", total=len(REPORT_STEPS) + 1)
        target = session.scalar(select(Community).where(Community.slug == community))
        if target is None:
            bars.stop()
            typer.echo(f"error: no community with slug {community!r}", err=True)
            raise typer.Exit(1)
        started: list[str] = []

        def step(name: str) -> None:
            bars.update(task, description=name, advance=1 if started else 0)
            started.append(name)

        plan = community_report(session, target, progress=step)
        bars.update(task, description=f"writing {report_format}", advance=1)
        rendered = render_community(plan, report_format, lang)
        bars.update(task, advance=1)
    if output == "-":
        typer.get_binary_stream("stdout").write(rendered.content)
        return
    if directory is not None:
        path = directory / rendered.filename
    else:
        path = Path(output) if output is not None else Path(rendered.filename)
    # Written beside it, then renamed over it: a write that fails (a full disk) leaves the
    # file that was there as it was, not cut off.
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(rendered.content)
        partial.replace(path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        typer.echo(f"error: cannot write {path}: {error.strerror or error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"wrote {path} ({len(rendered.content)} bytes)", err=True)


@cli.command()
def serve(
    host: str = typer.Option(None, help="Interface to bind (default: COPMATCH_HOST)"),
    port: int = typer.Option(None, min=1, max=65535, help="Port (default: COPMATCH_PORT)"),
    reload: bool = typer.Option(False, help="Reload on code changes (development)"),
) -> None:
    """Serve the API with uvicorn (on a database this copmatch can use: see migrate)."""
    settings = get_settings()
    _require_current_schema()
    if settings.environment == "development" and not settings.admin_token:
        token = development_admin_token()
        os.environ["COPMATCH_ADMIN_TOKEN"] = token
        get_settings.cache_clear()
        typer.echo(f"development admin token (from {DEV_TOKEN_FILE}): {token}")
    host = host or settings.host
    port = port or settings.port
    # The app reads its settings anew: the OpenAPI document's server is where it listens.
    os.environ["COPMATCH_HOST"], os.environ["COPMATCH_PORT"] = host, str(port)
    get_settings.cache_clear()
    base = get_settings().base_url
    typer.echo(f"copmatch on {host}:{port} — API docs: {base}/docs")
    uvicorn.run(
        "app.main:create_app" if reload else _frozen_app(),
        factory=reload,
        host=host,
        port=port,
        reload=reload,
        log_level=settings.log_level,
        access_log=settings.access_log,
        # The C parser and event loop (uvicorn[standard]): the per-request cost of the server.
        http="httptools",
        loop="uvloop",
        proxy_headers=True,
    )


def _frozen_app() -> FastAPI:
    """The app, with everything loaded at start-up frozen for the garbage collector.

    Start-up leaves a few hundred thousand long-lived objects (the framework, the tokenizer
    of the embedding model, the taxonomy). Each full collection would traverse them all: about
    130 ms in which the server answers nobody, which was the whole p99 of the load test.
    ``gc.freeze()`` moves them to a generation the collector skips; new objects are collected
    as before.
    """
    app = create_app()
    matching_service.warm_up()
    gc.collect()
    gc.freeze()
    return app


DEV_TOKEN_FILE = Path("var") / "admin-token"


def development_admin_token() -> str:
    """The development admin token kept in var/admin-token (made once, readable by you only;
    made again where the file is empty). A file that cannot be read or written is one line
    and exit status 1."""
    try:
        if DEV_TOKEN_FILE.exists() and (kept := DEV_TOKEN_FILE.read_text("utf-8").strip()):
            return kept
        DEV_TOKEN_FILE.parent.mkdir(parents=True, exist_ok=True)
        token = generate_token()
        DEV_TOKEN_FILE.touch(mode=0o600)
        DEV_TOKEN_FILE.write_text(token + "\n", encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        typer.echo(f"error: cannot keep the admin token in {DEV_TOKEN_FILE}: {reason}", err=True)
        raise typer.Exit(1) from error
    return token


token_cli = typer.Typer(help="Bearer tokens: create and revoke.", no_args_is_help=True)
cli.add_typer(token_cli, name="token")


@token_cli.command("create")
def token_create(
    person: int = typer.Option(
        None, "--person", min=1, max=MAX_ID, help="Id of the person the token is for"
    ),
    admin: bool = typer.Option(False, "--admin", help="An admin token (no person)"),
) -> None:
    """Issue a token; it is printed once and stored only as a hash."""
    if (person is None) == (not admin):
        typer.echo("error: give exactly one of --person ID and --admin", err=True)
        raise typer.Exit(2)
    settings = get_settings()
    _require_current_schema()
    with _one_error_line(), session_scope() as session:
        owner = get_person(session, person) if person is not None else None
        issued = issue_token(session, owner, lifetime_days=settings.token_lifetime_days)
    typer.echo(f"token {issued.id} (valid until {issued.expires_at:%Y-%m-%d}):")
    typer.echo(issued.token)


@token_cli.command("revoke")
def token_revoke(
    token_id: int = typer.Argument(..., min=1, max=MAX_ID, help="Id of the token"),
) -> None:
    """Revoke a token."""
    _require_current_schema()
    with _one_error_line(), session_scope() as session:
        revoke_token(session, SYSTEM, get_token(session, token_id))
    typer.echo(f"token {token_id} revoked")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cli()


if __name__ == "__main__":
    main()
