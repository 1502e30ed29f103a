"""Alembic environment: migrations run on the engine Carebridge hands over."""

from alembic import context

from engine.db.models import Base

config = context.config
connectable = config.attributes["engine"]

with connectable.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
