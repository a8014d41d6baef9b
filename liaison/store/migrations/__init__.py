"""Alembic migrations of the relay database, applied at start and by `liaison db upgrade`."""
