"""A token remembers the organiser who issued it, to be revoked when its person's part grows.

An organiser may issue a token only for a person who takes part in no community the organiser
does not run; when the person later comes to (their organisation joins another community, or
they become its organiser), the organiser's copy of the token would act there. Tokens issued
before this migration have no issuer recorded and are treated as an admin's.

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
        sa.column("revoked_at", app.db.UTCDateTime()),
        sa.column("updated_at", app.db.UTCDateTime()),
    )
    now = app.db.utcnow()
    op.execute(
        api_tokens.update()
        .where(
            api_tokens.c.revoked_at.is_(None),
            api_tokens.c.person_id.in_(sa.select(people.c.id).where(people.c.active == sa.false())),
        )
        .values(revoked_at=now, updated_at=now)
    )


def downgrade() -> None:
    # The tokens revoked by the upgrade stay revoked: which they were is not recorded, and a
    # person who left has no use for them.
    # SQLite drops a column itself; a rebuild would also lose AUTOINCREMENT (not reflected).
    with op.batch_alter_table("api_tokens", recreate="never") as batch:
        batch.drop_column("issued_by_person_id")
