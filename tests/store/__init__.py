"""Store contract tests run against SQLite and PostgreSQL."""
