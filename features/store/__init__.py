"""The ingest store: typed ORM tables, engine/session factories and Alembic migrations.

Submodules are imported by name (`features.store.database`, `features.store.migrate`, ...).
"""
