"""A token remembers the organiser who issued it, to be revoked when its person's part grows.

An organiser may issue a token only for a person who takes part in no community the organiser
does not run; when the person later comes to (their organisation joins another community, or
they become its organiser), the organiser's copy of the token would act there. For the tokens
issued before this migration, the upgrade takes the issuer from the audit log (the person whose
request created the token, when not an admin's and not the token's own person), and revokes
those whose person already takes part in a community their issuer does not run (or who has left
or was erased); a token the log does not name an issuer of is treated as an admin's.

Setting ``active`` to false now revokes the person's tokens; before, they stayed unrevoked and
worked again when the person came back. The upgrade revokes, at the time it runs, every token
not revoked yet of a person who is not active; the downgrade leaves them revoked.

Revision ID: 9b2a4476255e
Revises: a7e87d505df0
Create Date: 2026-12-07 06:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "9b2a4476255e"
down_revision: str | None = "a7e87d505df0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("issued_by_person_id", sa.Integer(), nullable=True))
    # The columns as the app writes them: UTCDateTime stores UTC the same way on both databases.
    people = sa.table("people", sa.column("id", sa.Integer()), sa.column("active", sa.Boolean()))
    api_tokens = sa.table(
        "api_tokens",
        sa.column("person_id", sa.Integer()),
        sa.column("issued_by_person_id", sa.Integer()),
        sa.column("revoked_at", app.db.UTCDateTime()),
        sa.column("updated_at", app.db.UTCDateTime()),
    )
    now = app.db.utcnow()
    _issuers_from_the_audit_log(api_tokens, now)
    op.execute(
        api_tokens.update()
        .where(
            api_tokens.c.revoked_at.is_(None),
            api_tokens.c.person_id.in_(sa.select(people.c.id).where(people.c.active == sa.false())),
        )
        .values(revoked_at=now, updated_at=now)
    )


def _issuers_from_the_audit_log(api_tokens: sa.TableClause, now: object) -> None:
    """Record who issued each token from the audit log, then revoke those whose issuer does not
    run every community the token's person takes part in (the rule the app now keeps)."""
    op.execute(
        sa.text(
            # The token's latest create event (an id SQLite gave again has older ones): its
            # actor, when a person other than the token's own.
            "UPDATE api_tokens SET issued_by_person_id = ("
            " SELECT CASE WHEN e.role = 'person' AND e.person_id <> api_tokens.person_id"
            " THEN e.person_id END FROM audit_events e"
            " WHERE e.resource = 'token' AND e.action = 'create'"
            " AND e.resource_id = api_tokens.id"
            " ORDER BY e.id DESC LIMIT 1)"
            " WHERE person_id IS NOT NULL"
        )
    )
    # A community the token's person takes part in (their organisation's, or one they
    # organise) that the issuer does not run, as an active, unerased organiser of it.
    beyond = sa.text(
        "EXISTS (SELECT 1 FROM ("
        "  SELECT m.community_id FROM community_members m"
        "  JOIN people p ON p.organisation_id = m.organisation_id WHERE p.id = api_tokens.person_id"
        "  UNION SELECT o.community_id FROM community_organisers o"
        "  WHERE o.person_id = api_tokens.person_id) part"
        " WHERE NOT EXISTS (SELECT 1 FROM community_organisers r"
        "  JOIN people i ON i.id = r.person_id"
        "  WHERE r.community_id = part.community_id AND r.person_id = api_tokens.issued_by_person_id"
        "  AND i.active = true AND i.erased_at IS NULL))"
    )
    op.execute(
        api_tokens.update()
        .where(
            api_tokens.c.revoked_at.is_(None),
            api_tokens.c.issued_by_person_id.is_not(None),
            beyond,
        )
        .values(revoked_at=now, updated_at=now)
    )


def downgrade() -> None:
    # The tokens revoked by the upgrade stay revoked: which they were is not recorded, and a
    # person who left has no use for them.
    # SQLite drops a column itself; a rebuild would also lose AUTOINCREMENT (not reflected).
    with op.batch_alter_table("api_tokens", recreate="never") as batch:
        batch.drop_column("issued_by_person_id")
