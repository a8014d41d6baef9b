"""`--db-schema`: the relay's tables in a named PostgreSQL schema, for a database it shares."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest


def _liaison(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "liaison", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "LIAISON_LANG": "en"},
    )


def test_db_schema_needs_a_postgresql_database(tmp_path: Path) -> None:
    result = _liaison("db", "upgrade", "--data-dir", str(tmp_path), "--db-schema", "relay")
    assert result.returncode == 1
    assert "--db-schema needs a PostgreSQL --db" in result.stderr
    assert not (tmp_path / "liaison.db").exists()


def test_db_schema_must_be_a_plain_name(tmp_path: Path) -> None:
    result = _liaison("db", "upgrade", "--data-dir", str(tmp_path), "--db-schema", 'x"; drop')
    assert result.returncode == 2
    assert "schema name" in result.stderr


@pytest.mark.postgres
@pytest.mark.slow
async def test_db_upgrade_and_purge_use_the_named_schema(tmp_path: Path, postgres_url: str) -> None:
    schema = f"t_{secrets.token_hex(6)}"
    missing = _liaison(
        "db", "upgrade", "--data-dir", str(tmp_path), "--db", postgres_url, "--db-schema", schema
    )
    assert missing.returncode == 1
    assert f"Schema {schema} does not exist" in missing.stderr
    conn = await asyncpg.connect(postgres_url)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        upgraded = _liaison(
            "db",
            "upgrade",
            "--data-dir",
            str(tmp_path),
            "--db",
            postgres_url,
            "--db-schema",
            schema,
        )
        assert upgraded.returncode == 0, upgraded.stderr
        tables = {
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = $1", schema
            )
        }
        assert {"envelopes", "deliveries", "log_entries", "alembic_version"} <= tables
        purged = _liaison(
            "db", "purge", "--data-dir", str(tmp_path), "--db", postgres_url, "--db-schema", schema
        )
        assert purged.returncode == 0, purged.stderr
        assert "Purged the ciphertext of 0 envelopes" in purged.stdout
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()
