"""messages keep the name of the file they came in

Revision ID: 0003_files
Revises: 0002_api
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_files"
down_revision = "0002_api"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("file_name", sa.String(length=255), nullable=True))
        # A file resumed after a crash is found by channel, content hash and name.
        batch_op.create_index("ix_messages_file", ["channel", "sha256", "file_name"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_file")
        batch_op.drop_column("file_name")
