"""A relay that drops, changes or reorders a log entry is caught by `liaison audit verify`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from e2e_db import change_entry, drop_entry, swap_entries
from e2e_relay import Cli, RelayThread

from liaison.cli.demo import DEMO_PASSPHRASE, DemoContext, run_steps, steps_until


def exchange(relay: RelayThread, folder: Path) -> DemoContext:
    ctx = DemoContext(folder=folder, say=lambda line: None, url=relay.url)
    ctx.admin_token = relay.admin_token
    return asyncio.run(run_steps(ctx, steps_until("read")))


@pytest.mark.parametrize("tamper", [None, "drop", "change", "reorder"])
def test_audit_verify_catches_an_edited_database(
    relay: RelayThread, cli: Cli, tmp_path: Path, tamper: str | None
) -> None:
    ctx = exchange(relay, tmp_path / "world")
    held = ctx.sent["request"]
    relay.stop()
    with relay.database() as db:
        if tamper == "drop":
            drop_entry(db, 1)
        elif tamper == "change":
            change_entry(db, held.log_index)
        elif tamper == "reorder":
            swap_entries(db, held.log_index, held.log_index + 1)
    relay.start()

    result = cli(
        None,
        "audit",
        "verify",
        "--home",
        str(ctx.officers["li"].root),
        ok=False,
        LIAISON_PASSPHRASE=DEMO_PASSPHRASE,
    )
    if tamper is None:
        assert result.returncode == 0, result.stderr
        assert "Log verified" in result.stdout
        return
    assert result.returncode == 1
    assert "failed the audit" in result.stderr
    assert "the checkpoint this client stored" in result.stderr
    assert f"Message {held.message_id}" in result.stderr


def test_audit_json_report_lists_problems(relay: RelayThread, cli: Cli, tmp_path: Path) -> None:
    ctx = exchange(relay, tmp_path / "world")
    relay.stop()
    with relay.database() as db:
        change_entry(db, ctx.sent["reply"].log_index)
    relay.start()
    result = cli(
        None,
        "audit",
        "verify",
        "--json",
        "--home",
        str(ctx.officers["an-laptop"].root),
        ok=False,
        LIAISON_PASSPHRASE=DEMO_PASSPHRASE,
    )
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert report["ok"] is False
    assert any(ctx.sent["reply"].message_id in p for p in report["problems"])
