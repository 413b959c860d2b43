"""renewal lockout counter and signed CRLs

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import enrollment.types


revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("one_time_link", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failed_attempts", sa.Integer(), server_default="0", nullable=False)
        )

    op.create_table(
        "revocation_list",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("this_update", enrollment.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_update", enrollment.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_count", sa.Integer(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", enrollment.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("number"),
    )


def downgrade() -> None:
    op.drop_table("revocation_list")
    with op.batch_alter_table("one_time_link", schema=None) as batch_op:
        batch_op.drop_column("failed_attempts")
