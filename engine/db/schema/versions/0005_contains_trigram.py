"""contains: on PostgreSQL with pg_trgm, a trigram index makes :contains (LIKE '%x%') an index search

Creating the extension needs privileges a deployment's role may lack, and some servers do
not ship it: then the migration leaves :contains as it was (it reads the parameter's rows
of the lookup index) and says so in the log. SQLite has no index for LIKE '%x%'.

Revision ID: 0005_contains_trigram
Revises: 0004_delivery
"""
import logging

import sqlalchemy as sa
from alembic import op

revision = "0005_contains_trigram"
down_revision = "0004_delivery"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

#: The trigram index over normalised string values.
INDEX = "ix_search_strings_value_trigram"


def _trigrams_available(bind) -> bool:
    """pg_trgm is installed, or this role can install it now."""
    if bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).scalar():
        return True
    if not bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar():
        log.info("pg_trgm is not available on this server: :contains stays a scan of a parameter's rows")
        return False
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        savepoint.rollback()
        log.info("this role may not CREATE EXTENSION pg_trgm: :contains stays a scan of a parameter's rows "
                 "(a superuser can create it, then run the migration again)")
        return False
    savepoint.commit()
    return True


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and _trigrams_available(bind):
        op.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON search_strings USING gin (value gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
