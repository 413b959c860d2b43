"""mail: the holder's notification channel and language, the queue of mails sent later"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import enrollment.types

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("notify", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True)
        )
        batch_op.add_column(
            sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True)
        )
    op.create_table(
        "mail_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("subject_cn", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", enrollment.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", enrollment.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("sent_at", enrollment.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", enrollment.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mail_queue", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_queue_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_mail_queue_not_before"), ["not_before"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mail_queue", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_queue_not_before"))
        batch_op.drop_index(batch_op.f("ix_mail_queue_status"))
    op.drop_table("mail_queue")
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.drop_column("language")
        batch_op.drop_column("notify")
