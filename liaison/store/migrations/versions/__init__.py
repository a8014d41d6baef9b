"""Alembic revisions of the relay schema."""
