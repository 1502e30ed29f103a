"""FHIR API: exact string values, prefix and paging indexes

Revision ID: 0002_api
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_api"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("search_strings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("exact", sa.String(length=255), nullable=True))
        batch_op.create_index("ix_search_strings_prefix", ["resource_type", "param", "value", "resource_id"],
                              unique=False, postgresql_ops={"value": "varchar_pattern_ops"})
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.create_index("ix_resources_type_updated_id", ["resource_type", "last_updated", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.drop_index("ix_resources_type_updated_id")
    with op.batch_alter_table("search_strings", schema=None) as batch_op:
        batch_op.drop_index("ix_search_strings_prefix")
        batch_op.drop_column("exact")
