"""Alembic migrations of the qhall store, applied by ``server.store.Store``.

There is no ``alembic.ini``: ``Store`` builds the Alembic configuration in
code and hands its own connection to ``env.py``, so the whole upgrade runs
inside the one transaction that holds the migration lock.
"""
