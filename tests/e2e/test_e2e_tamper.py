"""A relay that drops, changes or reorders a log entry is caught by `liaison audit verify`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.e2e_db import change_entry, drop_entry, swap_entries
from tests.e2e.e2e_relay import Cli, RelayThread, demo_world


@pytest.mark.parametrize("tamper", [None, "drop", "change", "reorder"])
def test_audit_verify_catches_an_edited_database(
    relay: RelayThread, cli: Cli, tmp_path: Path, tamper: str | None
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "read")
    held = ctx.sent["request"]
    with relay.offline() as db:
        if tamper == "drop":
            drop_entry(db, 1)
        elif tamper == "change":
            change_entry(db, held.log_index)
        elif tamper == "reorder":
            swap_entries(db, held.log_index, held.log_index + 1)

    result = cli.at(ctx.officers["li"], "audit", "verify", ok=False)
    if tamper is None:
        assert result.returncode == 0, result.stderr
        assert "Log verified" in result.stdout
        return
    assert result.returncode == 1
    assert "failed the audit" in result.stderr
    assert "the checkpoint this client stored" in result.stderr
    assert f"Message {held.message_id}" in result.stderr


def test_audit_json_report_lists_problems(relay: RelayThread, cli: Cli, tmp_path: Path) -> None:
    ctx = demo_world(relay, tmp_path / "world", "read")
    with relay.offline() as db:
        change_entry(db, ctx.sent["reply"].log_index)
    result = cli.at(ctx.officers["an-laptop"], "audit", "verify", "--json", ok=False)
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert report["ok"] is False
    assert any(ctx.sent["reply"].message_id in p for p in report["problems"])
