"""slack inbox: events and requests stored before their acknowledgement

Replaces ``slack_event`` (the ledger of handled event IDs): the inbox's unique
``delivery_id`` drops Slack's retries the same way.
"""

import sqlalchemy as sa
from alembic import op

import enrollment.types

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_table(
        "slack_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", enrollment.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", enrollment.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("lease_until", enrollment.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("replies", sa.Text(), nullable=False),
        sa.Column("done_at", enrollment.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("delivery_id"),
    )
    with op.batch_alter_table("slack_inbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_slack_inbox_received_at"), ["received_at"], unique=False
        )
        batch_op.create_index(
            "ix_slack_inbox_pending",
            ["due_at"],
            unique=False,
            sqlite_where=sa.text("done_at IS NULL"),
            postgresql_where=sa.text("done_at IS NULL"),
        )
    with op.batch_alter_table("slack_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slack_event_received_at"))
    op.drop_table("slack_event")


def downgrade() -> None:
    op.create_table(
        "slack_event",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("received_at", enrollment.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    with op.batch_alter_table("slack_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_slack_event_received_at"), ["received_at"], unique=False
        )
    with op.batch_alter_table("slack_inbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_slack_inbox_pending",
            sqlite_where=sa.text("done_at IS NULL"),
            postgresql_where=sa.text("done_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_slack_inbox_received_at"))
    op.drop_table("slack_inbox")
