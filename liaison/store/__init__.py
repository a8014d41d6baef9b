"""Relay storage: tables, Alembic migrations, engines and the repository (SQLite, PostgreSQL)."""

from liaison.store.engine import database_url, upgrade
from liaison.store.repository import Store, WriteTx

__all__ = ["Store", "WriteTx", "database_url", "upgrade"]
