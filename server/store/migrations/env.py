"""Alembic environment for the qhall store.

Run only through ``server.store`` (``Store(url)``), which passes an open
connection, already inside a transaction that holds the migration lock, in
``config.attributes["connection"]``. Offline (``--sql``) mode is not used.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - guards against a stray `alembic upgrade`
    raise RuntimeError("qhall migrations run through server.store.Store(url), not the alembic CLI")

context.configure(connection=connection, target_metadata=None, render_as_batch=True)
# The caller's transaction is the migration transaction: Alembic sees an
# external transaction and neither begins nor commits one of its own.
with context.begin_transaction():
    context.run_migrations()
