"""certificate (status, not_after) index: the reminder pass's selection at 10^6 certificates"""

from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_index(
        "ix_certificate_status_not_after", "certificate", ["status", "not_after"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_certificate_status_not_after", table_name="certificate")
