"""The audit log is searched by request id within a community (``?requestId=``): an index.

Revision ID: 9b4e2f7a1c63
Revises: 3f8a6d2c9b17
Create Date: 2026-12-06 17:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "9b4e2f7a1c63"
down_revision: str | None = "3f8a6d2c9b17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_audit_events_community_id_request_id",
        "audit_events",
        ["community_id", "request_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_audit_events_community_id_request_id", table_name="audit_events")
