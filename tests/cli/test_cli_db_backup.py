"""`liaison db backup` and `liaison db restore` on the command line (SQLite): the warning about
secret keys, progress on stderr, refusals of a non-empty target and `--force`."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from liaison.cli import main
from liaison.server.identity import ensure_server_identity


def test_backup_then_restore_into_a_fresh_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "relay"
    ensure_server_identity(source)
    assert main(["db", "upgrade", "--data-dir", str(source)]) == 0
    out = tmp_path / "relay.backup"
    capsys.readouterr()
    assert main(["db", "backup", str(out), "--data-dir", str(source)]) == 0
    captured = capsys.readouterr()
    assert "Backup written to" in captured.out
    assert "secret log signing key" in captured.err and "0600" in captured.err
    assert "Database copied" in captured.err  # progress goes to stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    target = tmp_path / "restored"
    assert main(["db", "restore", str(out), "--data-dir", str(target)]) == 0
    assert "Restored a log of 0 entries" in capsys.readouterr().out
    assert (target / "log-signing.key").read_bytes() == (source / "log-signing.key").read_bytes()

    assert main(["db", "restore", str(out), "--data-dir", str(target)]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["db", "restore", str(out), "--data-dir", str(target), "--force"]) == 0


def test_backup_refuses_a_folder_without_a_relay_and_restore_a_non_backup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "backup", str(tmp_path / "b"), "--data-dir", str(tmp_path / "none")]) == 1
    assert "holds no relay" in capsys.readouterr().err
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a tar")
    assert main(["db", "restore", str(junk), "--data-dir", str(tmp_path / "t")]) == 1
    assert "is not a Liaison backup" in capsys.readouterr().err
