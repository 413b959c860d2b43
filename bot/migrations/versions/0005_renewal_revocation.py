"""renewal lockout counter and signed CRLs"""

import sqlalchemy as sa
from alembic import op

import enrollment.types

revision = "0005"
down_revision = "0004"


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
