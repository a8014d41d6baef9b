"""End-to-end fixtures: a relay per test, cheap keystores, the CLI runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_relay import PASSPHRASE, Cli, RelayThread


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayThread]:
    server = RelayThread(tmp_path / "relay")
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIAISON_KDF_PROFILE", "test")
    monkeypatch.setenv("LIAISON_PASSPHRASE", PASSPHRASE)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    folder = tmp_path / "homes"
    folder.mkdir()
    return Cli(folder)
