"""baseline: the schema of certdesk 0.1.0 in one revision

Revisions 0001 to 0009 and 0013 of 0.1.0 are folded into this one, which keeps the id of the
newest: a database at 0013 is at this revision, with the same tables, columns, indexes and
defaults. A database at a folded revision is refused (bot.database.FOLDED_REVISIONS): 0.1.0's
`certdesk db upgrade` takes it to 0013 first. Columns that 0.1.0 added later stand last in their
tables, as they do in a database migrated step by step.
"""

import sqlalchemy as sa
from alembic import op

import enrollment.types

revision = "0013"
down_revision = None

UTC = enrollment.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_event_action", "audit_event", ["action"])
    op.create_index("ix_audit_event_at", "audit_event", ["at"])

    op.create_table(
        "enrollment",
        sa.Column("subject_cn", sa.String(length=64), nullable=False),
        sa.Column("subject_ous", sa.JSON(), nullable=False),
        sa.Column("subject_o", sa.String(length=64), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("slack_user", sa.String(length=32), nullable=True),
        sa.Column("profile", sa.String(length=32), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference_number", sa.String(length=20), nullable=False),
        sa.Column("authorization_code_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_at", UTC, nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("issued_at", UTC, nullable=True),
        sa.Column("code_salt", sa.String(length=64), nullable=True),  # NULL: made before CMP
        sa.Column("notify", sa.String(length=8), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_enrollment_reference_number", "enrollment", ["reference_number"], unique=True
    )
    op.create_index("ix_enrollment_slack_user", "enrollment", ["slack_user"])

    op.create_table(
        "certificate",
        sa.Column("subject_cn", sa.String(length=64), nullable=False),
        sa.Column("subject_ous", sa.JSON(), nullable=False),
        sa.Column("subject_o", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=512), nullable=False),
        sa.Column("issuer", sa.String(length=512), nullable=False),
        sa.Column("not_before", UTC, nullable=False),
        sa.Column("not_after", UTC, nullable=False),
        sa.Column("fingerprint_sha256", sa.String(length=64), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("key_type", sa.String(length=32), nullable=False),
        sa.Column("profile", sa.String(length=32), nullable=False),
        sa.Column("delivery", sa.String(length=16), nullable=False),
        sa.Column("friendly_name", sa.String(length=128), nullable=True),
        sa.Column("owner_slack_user", sa.String(length=32), nullable=True),
        sa.Column("owner_email", sa.String(length=254), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("superseded_by", sa.String(length=64), nullable=True),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.Column("revocation_reason", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["enrollment_id"], ["enrollment.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fingerprint_sha256"),
    )
    op.create_index("ix_certificate_enrollment_id", "certificate", ["enrollment_id"])
    op.create_index("ix_certificate_not_after", "certificate", ["not_after"])
    op.create_index("ix_certificate_owner_slack_user", "certificate", ["owner_slack_user"])
    op.create_index("ix_certificate_serial", "certificate", ["serial"], unique=True)
    # The reminder pass's selection at 10^6 certificates.
    op.create_index("ix_certificate_status_not_after", "certificate", ["status", "not_after"])

    op.create_table(
        "one_time_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=True),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("owner_slack_user", sa.String(length=32), nullable=True),
        sa.Column("verification_code_hash", sa.String(length=64), nullable=True),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("used_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("failed_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificate.id"]),
        sa.ForeignKeyConstraint(["enrollment_id"], ["enrollment.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_one_time_link_certificate_id", "one_time_link", ["certificate_id"])
    op.create_index("ix_one_time_link_enrollment_id", "one_time_link", ["enrollment_id"])
    op.create_index("ix_one_time_link_token_hash", "one_time_link", ["token_hash"], unique=True)

    op.create_table(
        "reminder_sent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("threshold_days", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=False),
        sa.Column("claimed_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("sent_at", UTC, nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificate.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "certificate_id", "threshold_days", name="uq_reminder_sent_certificate_threshold"
        ),
    )

    op.create_table(
        "local_notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=True),
        sa.Column("certificate_serial", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_local_notification_created_at", "local_notification", ["created_at"])
    op.create_index("ix_local_notification_recipient", "local_notification", ["recipient"])

    op.create_table(
        "unanswered_question",
        sa.Column("question", sa.String(length=1000), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("best_id", sa.String(length=64), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asked_at", UTC, nullable=False),
        sa.Column("reviewed", sa.Boolean(), nullable=False),
        sa.Column("times_asked", sa.Integer(), server_default="1", nullable=False),
        sa.Column("last_asked_at", UTC, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_unanswered_question_asked_at", "unanswered_question", ["asked_at"])
    op.create_index("ix_unanswered_question_reviewed", "unanswered_question", ["reviewed"])

    op.create_table(
        "escalation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("user_channel", sa.String(length=32), nullable=False),
        sa.Column("ra_channel", sa.String(length=32), nullable=False),
        sa.Column("thread_ts", sa.String(length=32), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("resolved_at", UTC, nullable=True),
        sa.Column("resolved_by", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ra_channel", "thread_ts", name="uq_escalation_thread"),
    )
    op.create_index("ix_escalation_user_id", "escalation", ["user_id"])
    open_only = sa.text("status = 'open'")
    op.create_index(
        "uq_escalation_open_user",
        "escalation",
        ["user_id"],
        unique=True,
        sqlite_where=open_only,
        postgresql_where=open_only,
    )

    op.create_table(
        "revocation_list",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("this_update", UTC, nullable=False),
        sa.Column("next_update", UTC, nullable=False),
        sa.Column("revoked_count", sa.Integer(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("number"),
    )

    op.create_table(
        "slack_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("due_at", UTC, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("lease_until", UTC, nullable=True),
        sa.Column("replies", sa.Text(), nullable=False),
        sa.Column("done_at", UTC, nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("delivery_id"),
    )
    op.create_index("ix_slack_inbox_received_at", "slack_inbox", ["received_at"])
    pending = sa.text("done_at IS NULL")
    op.create_index(
        "ix_slack_inbox_pending",
        "slack_inbox",
        ["due_at"],
        sqlite_where=pending,
        postgresql_where=pending,
    )

    op.create_table(
        "mail_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("subject_cn", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", UTC, nullable=False),
        sa.Column("claimed_at", UTC, nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mail_queue_status", "mail_queue", ["status"])
    op.create_index("ix_mail_queue_not_before", "mail_queue", ["not_before"])


def downgrade() -> None:
    for table in (
        "mail_queue",
        "slack_inbox",
        "revocation_list",
        "escalation",
        "unanswered_question",
        "local_notification",
        "reminder_sent",
        "one_time_link",
        "certificate",
        "enrollment",
        "audit_event",
    ):
        op.drop_table(table)  # with its indexes
