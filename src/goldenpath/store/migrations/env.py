"""Alembic environment of goldenpath's store: always run programmatically by
:func:`goldenpath.store.engine.open_store` on a connection it passes in."""

from __future__ import annotations

from alembic import context

from goldenpath.store.schema import metadata

VERSION_TABLE = "gp_alembic_version"

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
