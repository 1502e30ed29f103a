"""console: the ACK sent for each message, the resources each message wrote, and the indexes the
message browser searches by (channel and status, a message's resources, a resource's messages)

Messages stored before this revision get their links from the history (the versions they made);
their ACK was not kept.

Revision ID: 0007_console
Revises: 0006_access
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_console"
down_revision = "0006_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("ack", sa.Text()))
    op.create_index("ix_messages_channel_status", "messages", ["channel", "status", "id"])
    op.create_index("ix_resource_versions_message_id", "resource_versions", ["message_id"])
    op.create_table(
        "message_resources",
        sa.Column("message_id", sa.BigInteger(), primary_key=True),
        sa.Column("resource_type", sa.String(64), primary_key=True),
        sa.Column("resource_id", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_index("ix_message_resources_resource", "message_resources",
                    ["resource_type", "resource_id", "message_id"])
    op.execute(
        "INSERT INTO message_resources (message_id, resource_type, resource_id, version_id, changed) "
        "SELECT message_id, resource_type, id, MAX(version_id), true FROM resource_versions "
        "WHERE message_id IS NOT NULL GROUP BY message_id, resource_type, id")


def downgrade() -> None:
    op.drop_index("ix_message_resources_resource", "message_resources")
    op.drop_table("message_resources")
    op.drop_index("ix_resource_versions_message_id", "resource_versions")
    op.drop_index("ix_messages_channel_status", "messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("ack")
