"""Revocation: the relay refuses a revoked device, and clients refuse its envelopes logged after
the revocation even when a dishonest relay delivers them; earlier envelopes still open."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from liaison.cli.demo.tour import DEMO_PASSPHRASE
from liaison.client import officer
from tests.e2e.e2e_db import inject_envelope, seal_outside
from tests.e2e.e2e_relay import Cli, RelayThread, demo_world


@pytest.mark.slow
def test_envelopes_of_a_revoked_device_are_refused_from_its_revocation_on(
    relay: RelayThread, cli: Cli, tmp_path: Path
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "send")
    before = ctx.sent["request"]
    phone = ctx.officers["an-phone"]
    li_home = ctx.officers["li"]
    phone_id = officer.own_certificate(phone).device_id

    revoked = cli.at(
        ctx.admins["VN-QN-CA"], "agency", "revoke", phone_id, "--reason", "lost", "--json"
    )
    revocation_index = json.loads(revoked.stdout)["log_index"]
    assert revocation_index > before.log_index

    # The revoked device can no longer send.
    refused = cli.at(phone, "send", "--to", "CN-GX-DXGA", "--text", "after revocation", ok=False)
    assert refused.returncode == 1
    assert "revoked" in refused.stderr

    # A dishonest relay logs and delivers a later envelope from the stolen device anyway.
    forged = seal_outside(
        relay.url,
        phone,
        li_home,
        "Forged after revocation",
        counter=99,
        log_size=revocation_index + 1,
    )
    with relay.offline() as db:
        forged_index = inject_envelope(db, forged.to_bytes())
    assert forged_index > revocation_index

    inbox = {m["message_id"]: m for m in json.loads(cli.at(li_home, "inbox", "--json").stdout)}
    forged_id = forged.header.message_id
    assert inbox[forged_id]["status"] == "refused"
    assert inbox[forged_id]["problem"] == "sender_revoked"
    rejected = cli.at(li_home, "read", forged_id, ok=False)
    assert rejected.returncode == 1
    assert "revoked" in rejected.stderr
    assert "Forged" not in rejected.stdout

    # Logged before the revocation: still opens.
    earlier = cli.at(li_home, "read", before.message_id, "--json")
    assert json.loads(earlier.stdout)["text"].startswith("Đề nghị xác minh")


def test_an_envelope_whose_counter_does_not_advance_is_refused_as_a_replay(
    relay: RelayThread, cli: Cli, tmp_path: Path
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "reply")
    phone, li_home = ctx.officers["an-phone"], ctx.officers["li"]
    # Signed by the real sender, but with a counter below the one Li already saw: an envelope
    # withheld and delivered late, or replayed, by the relay.
    late = seal_outside(relay.url, phone, li_home, "late", counter=0, log_size=1)
    with relay.offline() as db:
        inject_envelope(db, late.to_bytes())

    inbox = json.loads(cli.at(li_home, "inbox", "--json").stdout)
    status = {m["message_id"]: (m["status"], m.get("problem")) for m in inbox}
    assert status[late.header.message_id] == ("refused", "replay")
    assert status[ctx.sent["request"].message_id][0] == "read"
    refused = cli.at(li_home, "read", late.header.message_id, ok=False)
    assert refused.returncode == 1 and "replays an earlier one" in refused.stderr


def test_watch_stops_with_an_error_when_its_device_is_revoked(
    relay: RelayThread, cli: Cli, tmp_path: Path
) -> None:
    ctx = demo_world(relay, tmp_path / "world", "officers")
    laptop = ctx.officers["an-laptop"]
    watcher = cli.popen(
        None, "watch", "--home", str(laptop.root), LIAISON_PASSPHRASE=DEMO_PASSPHRASE
    )
    try:
        assert "Watching" in watcher.stderr.readline()
        device_id = officer.own_certificate(laptop).device_id
        cli.at(ctx.admins["VN-QN-CA"], "agency", "revoke", device_id)
        _out, err = watcher.communicate(timeout=60)
    finally:
        watcher.kill()
    assert watcher.returncode == 1
    assert "device_revoked" in err
