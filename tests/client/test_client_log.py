"""Client log checks: checkpoints advance only by consistency proof; audit catches tampering."""

from __future__ import annotations

from pathlib import Path

import pytest

from crypto.encoding import b64e, canonical_json
from crypto.merkle import leaf_hash
from liaison.client import audit, transparency
from liaison.client.errors import LogInconsistent, VerificationError
from liaison.client.home import Home
from tests.client.client_fakelog import FakeLog


def envelope_entry(n: int) -> dict:
    return {
        "kind": "envelope",
        "message_id": f"{n:032x}",
        "envelope_hash": b64e(bytes([n]) * 32),
        "sender": "VN-QN-CA:an:d1",
        "recipients": ["CN-GX-DXGA:li:d1"],
        "size": 100 + n,
        "at": 1_700_000_000 + n,
    }


def hold(home: Home, log: FakeLog, index: int) -> None:
    entry = log.entries_list[index]
    home.save_message(
        {
            "message_id": entry["message_id"],
            "direction": "received",
            "envelope_hash": entry["envelope_hash"],
            "log_index": index,
            "leaf_hash": b64e(leaf_hash(canonical_json(entry))),
        }
    )


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home", passphrase=lambda confirm: "unused")


@pytest.fixture
def log() -> FakeLog:
    log = FakeLog()
    for n in range(5):
        log.append(envelope_entry(n))
    return log


async def test_checkpoint_is_stored_after_consistency_check(home: Home, log: FakeLog) -> None:
    first = await transparency.advance(home, log)
    assert first.size == 5
    log.append(envelope_entry(9))
    second = await transparency.advance(home, log)
    assert second.size == 6
    assert transparency.stored_checkpoint(home) == second


async def test_rewritten_history_is_refused_and_stored_checkpoint_kept(
    home: Home, log: FakeLog
) -> None:
    stored = await transparency.advance(home, log)
    log.entries_list[2] = envelope_entry(42)
    log.append(envelope_entry(7))
    with pytest.raises(LogInconsistent):
        await transparency.advance(home, log)
    assert transparency.stored_checkpoint(home) == stored


async def test_same_size_with_other_root_is_refused(home: Home, log: FakeLog) -> None:
    await transparency.advance(home, log)
    log.entries_list[0], log.entries_list[1] = log.entries_list[1], log.entries_list[0]
    with pytest.raises(LogInconsistent):
        await transparency.advance(home, log)


async def test_checkpoint_signed_by_another_key_is_refused(home: Home, log: FakeLog) -> None:
    await transparency.advance(home, log)
    import nacl.signing

    log.key = nacl.signing.SigningKey(bytes(32))
    with pytest.raises(VerificationError):
        await transparency.advance(home, log)


async def test_audit_passes_on_an_honest_log(home: Home, log: FakeLog) -> None:
    await transparency.advance(home, log)
    hold(home, log, 1)
    hold(home, log, 3)
    log.append(envelope_entry(8))
    report = await audit.verify(home, log)
    assert report.ok, report.problems
    assert report.messages_checked == 2
    assert report.checkpoint_size == 6


@pytest.mark.parametrize("tamper", ["drop", "change", "reorder"])
async def test_audit_catches_a_tampered_log(home: Home, log: FakeLog, tamper: str) -> None:
    await transparency.advance(home, log)
    hold(home, log, 3)
    if tamper == "drop":
        del log.entries_list[1]
    elif tamper == "change":
        log.entries_list[3] = {**log.entries_list[3], "size": 1}
    else:
        log.entries_list[3], log.entries_list[4] = log.entries_list[4], log.entries_list[3]
    report = await audit.verify(home, log)
    assert not report.ok
    assert any(
        "not consistent" in p or "different root" in p or "shrank" in p for p in report.problems
    )
    assert any(p.startswith(f"Message {3:032x}") for p in report.problems)


async def test_audit_catches_a_changed_envelope_hash_even_without_checkpoint(
    home: Home, log: FakeLog
) -> None:
    hold(home, log, 2)
    home.save_message({**home.load_message(f"{2:032x}"), "envelope_hash": b64e(b"x" * 32)})
    report = await audit.verify(home, log)
    assert [p for p in report.problems if "envelope hash differs" in p]
