"""delivery: routes, dependency waits and operator retries on deliveries; attempt numbers in the sync log

Revision ID: 0004_delivery
Revises: 0003_files
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_delivery"
down_revision = "0003_files"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("route", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("waiting_for", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("operator_retries", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_index("ix_deliveries_waiting_for", ["waiting_for"], unique=False)
    with op.batch_alter_table("sync_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_log", schema=None) as batch_op:
        batch_op.drop_column("attempt")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_waiting_for")
        batch_op.drop_column("operator_retries")
        batch_op.drop_column("waiting_for")
        batch_op.drop_column("route")
