"""Alembic environment: the guard hands over an open connection (``AuditLog.upgrade``)."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
