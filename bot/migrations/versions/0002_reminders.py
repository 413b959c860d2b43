"""reminders: reminder_sent (one row per claimed reminder) and the local outbox"""

import sqlalchemy as sa
from alembic import op

import enrollment.types

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table('reminder_sent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('certificate_id', sa.Integer(), nullable=False),
    sa.Column('threshold_days', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sa.String(length=128), nullable=False),
    sa.Column('claimed_at', enrollment.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', enrollment.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', enrollment.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificate.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('certificate_id', 'threshold_days', name='uq_reminder_sent_certificate_threshold')
    )

    op.create_table('local_notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=254), nullable=True),
    sa.Column('certificate_serial', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', enrollment.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('local_notification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_local_notification_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_local_notification_recipient'), ['recipient'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('local_notification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_local_notification_recipient'))
        batch_op.drop_index(batch_op.f('ix_local_notification_created_at'))

    op.drop_table('local_notification')
    op.drop_table('reminder_sent')
