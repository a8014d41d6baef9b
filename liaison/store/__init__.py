"""Relay storage: tables, Alembic migrations, engines and the repository (SQLite, PostgreSQL)."""

from liaison.store.engine import database_url, upgrade
from liaison.store.repository import Store, WriteTx
from liaison.store.writer import SendCheck

__all__ = ["SendCheck", "Store", "WriteTx", "database_url", "upgrade"]
