"""A token remembers the organiser who issued it, to be revoked when its person's part grows.

An organiser may issue a token only for a person who takes part in no community the organiser
does not run; when the person later comes to (their organisation joins another community, or
they become its organiser), the organiser's copy of the token would act there. Tokens issued
before this migration have no issuer recorded and are treated as an admin's.

Revision ID: 9b2a4476255e
Revises: a7e87d505df0
Create Date: 2026-12-07 06:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9b2a4476255e"
down_revision: str | None = "a7e87d505df0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("issued_by_person_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column itself; a rebuild would also lose AUTOINCREMENT (not reflected).
    with op.batch_alter_table("api_tokens", recreate="never") as batch:
        batch.drop_column("issued_by_person_id")
