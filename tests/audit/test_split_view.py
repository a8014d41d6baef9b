"""A relay that signs two views of its log is caught, proved and refused from then on."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from crypto.checkpoint import verify_checkpoint
from crypto.encoding import b64d, canonical_json
from crypto.merkle import leaf_hash, verify_consistency
from liaison.cli.demo.tour import DEMO_PASSPHRASE, DemoContext, run_steps, steps_until
from liaison.client import audit as audit_ops
from liaison.client.misbehaviour import MISBEHAVIOUR_FILE
from liaison.client.transparency import ServerIdentity
from liaison.client.transport import ApiClient
from tests.e2e.e2e_db import change_entry
from tests.e2e.e2e_relay import Cli, RelayThread


def exchange(relay: RelayThread, folder: Path) -> DemoContext:
    ctx = DemoContext(folder=folder, say=lambda line: None, url=relay.url)
    ctx.admin_token = relay.admin_token
    return asyncio.run(run_steps(ctx, steps_until("read")))


def audit(ctx: DemoContext, home: str) -> audit_ops.AuditReport:
    async def go() -> audit_ops.AuditReport:
        async with ApiClient(ctx.url) as api:
            return await audit_ops.verify(ctx.officers[home], api)

    return asyncio.run(go())


@pytest.mark.slow
def test_same_size_other_root_is_proved_and_the_server_refused(
    relay: RelayThread, cli: Cli, tmp_path: Path
) -> None:
    ctx = exchange(relay, tmp_path / "world")
    home = ctx.officers["li"]
    assert audit(ctx, "li").ok  # stores the checkpoint at the log's current size
    stored = json.loads((home.root / "checkpoint.json").read_text())
    relay.stop()
    with relay.database() as db:  # the operator rewrites history, keeping the size
        change_entry(db, ctx.sent["request"].log_index)
    relay.start()

    result = cli(
        None,
        "audit",
        "verify",
        "--home",
        str(home.root),
        ok=False,
        LIAISON_PASSPHRASE=DEMO_PASSPHRASE,
    )
    assert result.returncode == 1
    assert "different root" in result.stderr
    proof = json.loads((home.root / MISBEHAVIOUR_FILE).read_text())
    assert proof["reason"] == "same_size_different_root"
    identity = ServerIdentity.from_dict(proof["server_identity"])
    first, second = (
        verify_checkpoint(proof[k], key_name=identity.key_name, public_key=identity.public_key)
        for k in ("first_checkpoint", "second_checkpoint")
    )
    # Both views carry the server's valid signature: the file proves it to anyone.
    assert first.size == second.size == stored["size"]
    assert first.root_hash != second.root_hash
    assert proof["first_checkpoint"] == stored["note"]

    for args in (
        ["audit", "verify"],
        ["inbox"],
        ["audit", "export", "--from", "2000-01-01", "--to", "2000-01-02", "-o", "x.bundle"],
    ):
        again = cli(
            None, *args, "--home", str(home.root), ok=False, LIAISON_PASSPHRASE=DEMO_PASSPHRASE
        )
        assert again.returncode == 1, args
        assert str(home.root / MISBEHAVIOUR_FILE) in again.stderr, args
        assert "refuses the server" in again.stderr


def test_inconsistent_larger_checkpoint_is_proved_with_the_failing_proof(
    relay: RelayThread, tmp_path: Path
) -> None:
    ctx = exchange(relay, tmp_path / "world")
    home = ctx.officers["an-laptop"]
    assert audit(ctx, "an-laptop").ok
    relay.stop()
    with relay.database() as db:  # rewrite the first entry, and let the log grow by one
        change_entry(db, 0)
        size = db.execute("SELECT size FROM log_head").fetchone()[0]
        data = canonical_json({"kind": "ack", "message_id": "0" * 32, "device_id": "x", "at": 0})
        db.execute(
            "INSERT INTO log_entries (idx, data, leaf_hash, created_at) VALUES (?, ?, ?, 0)",
            (size, data, leaf_hash(data)),
        )
        db.execute("UPDATE log_head SET size = ?", (size + 1,))
        db.commit()
    relay.start()

    report = audit(ctx, "an-laptop")
    assert not report.ok
    proof = json.loads((home.root / MISBEHAVIOUR_FILE).read_text())
    assert proof["reason"] == "not_consistent"
    identity = ServerIdentity.from_dict(proof["server_identity"])
    old, new = (
        verify_checkpoint(proof[k], key_name=identity.key_name, public_key=identity.public_key)
        for k in ("first_checkpoint", "second_checkpoint")
    )
    assert new.size > old.size
    hashes = [b64d(h) for h in proof["consistency_proof"]]
    try:
        verify_consistency(old.size, new.size, old.root_hash, new.root_hash, hashes)
    except Exception as exc:  # the recorded proof fails for anyone who checks it
        assert type(exc).__name__ == "ProofError"
    else:
        raise AssertionError("the recorded consistency proof verifies")
