"""The home folder: private atomic files, passphrase-locked keystores, message look-up by prefix."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from liaison.client.errors import HomeError, PassphraseError
from liaison.client.home import Home


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIAISON_KDF_PROFILE", "test")


def test_files_are_private_to_the_user(tmp_path: Path) -> None:
    home = Home(tmp_path / "h", passphrase=lambda confirm: "pw")
    path = home.write_json("pins.json", {"a": 1})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.root.stat().st_mode) == 0o700
    assert home.read_json("pins.json") == {"a": 1}


def test_keystore_round_trip_and_wrong_passphrase(tmp_path: Path) -> None:
    Home(tmp_path, passphrase=lambda confirm: "correct horse").lock_secret("k.key", b"s" * 32)
    assert b"s" * 32 not in (tmp_path / "k.key").read_bytes()
    assert Home(tmp_path, passphrase=lambda c: "correct horse").unlock_secret("k.key") == b"s" * 32
    with pytest.raises(PassphraseError):
        Home(tmp_path, passphrase=lambda c: "wrong").unlock_secret("k.key")


def test_passphrase_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIAISON_PASSPHRASE", "from env")
    Home(tmp_path).lock_secret("k.key", b"x")
    assert Home(tmp_path, passphrase=lambda c: "from env").unlock_secret("k.key") == b"x"


def test_no_passphrase_without_terminal_or_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIAISON_PASSPHRASE", raising=False)
    with pytest.raises(PassphraseError, match="LIAISON_PASSPHRASE"):
        Home(tmp_path).lock_secret("k.key", b"x")


def test_message_found_by_unique_prefix_only(tmp_path: Path) -> None:
    home = Home(tmp_path)
    home.save_message({"message_id": "ab" + "0" * 30, "log_index": 1})
    home.save_message({"message_id": "ac" + "0" * 30, "log_index": 2})
    assert home.find_message("ab")["log_index"] == 1
    with pytest.raises(HomeError, match="several"):
        home.find_message("a")
    with pytest.raises(HomeError):
        home.find_message("ff")
    with pytest.raises(HomeError):
        home.find_message("../etc")
    assert [m["log_index"] for m in home.messages()] == [1, 2]
