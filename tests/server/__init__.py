"""Server route tests against a real loopback server (SQLite and PostgreSQL)."""
