"""The organiser roles of people who left end (as setting `active` to false now ends them).

Setting a person's `active` to false revoked their tokens but left their organiser roles, so
`/communities/{id}/organisers` still named people who had left, and a person set active again
had them back. Such a change now ends the roles; the upgrade ends those of the people who left
before it. The downgrade cannot bring them back (nothing records them but the audit log).

Revision ID: 8e1f4a2b6c30
Revises: 4c0d9e7b2f61
Create Date: 2026-12-07 14:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8e1f4a2b6c30"
down_revision: str | None = "4c0d9e7b2f61"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    people = sa.table("people", sa.column("id", sa.Integer()), sa.column("active", sa.Boolean()))
    organisers = sa.table("community_organisers", sa.column("person_id", sa.Integer()))
    op.execute(
        organisers.delete().where(
            organisers.c.person_id.in_(sa.select(people.c.id).where(people.c.active == sa.false()))
        )
    )


def downgrade() -> None:
    pass  # the roles ended stay ended
