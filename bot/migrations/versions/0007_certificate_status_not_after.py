"""certificate (status, not_after) index: the reminder pass's selection at 10^6 certificates

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op


revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_certificate_status_not_after", "certificate", ["status", "not_after"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_certificate_status_not_after", table_name="certificate")
