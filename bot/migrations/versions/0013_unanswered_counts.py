"""unanswered counts: how often a waiting question was asked, and when last (faq unanswered)"""

import sqlalchemy as sa
from alembic import op

import enrollment.types

revision = "0013"
down_revision = "0009"


def upgrade() -> None:
    with op.batch_alter_table("unanswered_question", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("times_asked", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(sa.Column("last_asked_at", enrollment.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("unanswered_question", schema=None) as batch_op:
        batch_op.drop_column("last_asked_at")
        batch_op.drop_column("times_asked")
