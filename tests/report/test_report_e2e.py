"""`liaison report` over a real relay: the demo's completed handover counted by both sides, a
statistics notice sent and compared by the Chinese side, and its reply compared back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from liaison.cli.demo.tour import DEMO_PASSPHRASE
from tests.e2e.e2e_relay import Cli, RelayThread, demo_world


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """The demo up to its countersigned handover record: three agencies, four officer homes."""
    monkeypatch.setenv("LIAISON_KDF_PROFILE", "test")
    relay = RelayThread(tmp_path / "relay")
    relay.start()
    try:
        demo_world(relay, tmp_path / "world", "handover-record")
        yield Cli(tmp_path / "world" / "homes")
    finally:
        relay.stop()


def sh(cli: Cli, home: str, line: str) -> Any:
    result = cli.sh(home, line, LIAISON_PASSPHRASE=DEMO_PASSPHRASE)
    return json.loads(result.stdout) if "--json" in line else result.stdout


def test_both_sides_count_the_demo_handover_and_agree_over_the_relay(world: Cli) -> None:
    # The demo's notices are sent today and its handover takes place in five days: a period
    # around them holds every one in both countries' zones.
    today = datetime.now(UTC).date()
    period = f"--from {today - timedelta(days=2)} --to {today + timedelta(days=30)}"

    figures = sh(world, "an-phone", f"report {period} --json")
    counts = {f["figure"]: f["persons"] for f in figures["figures"]}
    assert counts["received"] >= 1
    assert counts["received"] == counts["handed_over.cn_to_vn"] == counts["identified"]
    assert counts["handed_over.at.mong-cai--dongxing"] == counts["received"]
    explained = sh(world, "an-phone", f"report {period} --offline --explain received --json")
    (case,) = sh(world, "an-phone", "cases --offline --json")
    assert explained["cases"] == [{"case_ref": case["case_ref"], "persons": counts["received"]}]

    sh(world, "an-phone", f"report {period} --offline --notice q.json --recipient CN-GX-DXGA")
    sent = sh(world, "an-phone", "send --to CN-GX-DXGA --notice q.json --json")

    # Dongxing counts in Beijing time from the same cases: every figure agrees.
    compared = sh(world, "li", f"report --compare {sent['message_id'][:16]} --json")
    assert compared["state"] == "agreed" and compared["coverage_known"]
    assert {f["state"] for f in compared["figures"]} <= {"agreed"}
    assert not compared["only_ours"] and not compared["only_theirs_unknown"]

    sh(world, "li", f"report --compare {sent['message_id'][:16]} --offline --notice reply.json")
    reply = json.loads((world.folder / "reply.json").read_text(encoding="utf-8"))
    assert reply["fields"]["reconciliation"] == "agreed"
    assert reply["fields"]["in_reply_to"] == sent["message_id"]
    answered = sh(world, "li", "send --to VN-QN-CA --notice reply.json --json")
    back = sh(world, "an-phone", f"report --compare {answered['message_id'][:16]} --json")
    assert back["state"] == "agreed" and back["counterpart"] == "CN-GX-DXGA"
