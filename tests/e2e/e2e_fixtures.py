"""End-to-end fixtures: a relay per test (SQLite, or its own PostgreSQL schema), cheap keystores,
the CLI runner. The e2e and audit conftests import them, so both folders share one definition."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.e2e_relay import PASSPHRASE, Cli, RelayThread, pg_schema


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayThread]:
    server = RelayThread(tmp_path / "relay")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayThread]:
    """One relay for a whole module, for tests that leave alone what the others rely on (its
    in-process keystores use the cheap KDF from the start)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIAISON_KDF_PROFILE", "test")
        server = RelayThread(tmp_path_factory.mktemp("relay"))
        server.start()
        yield server
        server.stop()


@pytest.fixture
def pg_relay(tmp_path: Path, postgres_url: str) -> Iterator[RelayThread]:
    with pg_schema(postgres_url) as schema:
        server = RelayThread(tmp_path / "relay", postgres_url, schema)
        server.start()
        yield server
        server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_relay(request: pytest.FixtureRequest) -> RelayThread:
    """The relay on each backend: `relay` (SQLite), then `pg_relay`."""
    name = "relay" if request.param == "sqlite" else "pg_relay"
    server: RelayThread = request.getfixturevalue(name)
    return server


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIAISON_KDF_PROFILE", "test")
    monkeypatch.setenv("LIAISON_PASSPHRASE", PASSPHRASE)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    folder = tmp_path / "homes"
    folder.mkdir()
    return Cli(folder)
