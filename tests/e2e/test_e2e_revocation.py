"""Revocation: the relay refuses a revoked device, and clients refuse its envelopes logged after
the revocation even when a dishonest relay delivers them; earlier envelopes still open."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from e2e_db import inject_envelope
from e2e_relay import Cli, RelayThread

from crypto.envelope import RecipientDevice, seal
from liaison.cli.demo import DEMO_PASSPHRASE, DemoContext, run_steps, steps_until
from liaison.client import directory, officer
from liaison.client.payload import Payload
from liaison.client.transport import ApiClient


def test_envelopes_of_a_revoked_device_are_refused_from_its_revocation_on(
    relay: RelayThread, cli: Cli, tmp_path: Path
) -> None:
    ctx = DemoContext(folder=tmp_path / "world", say=lambda line: None, url=relay.url)
    ctx.admin_token = relay.admin_token
    asyncio.run(run_steps(ctx, steps_until("send")))
    before = ctx.sent["request"]
    phone = ctx.officers["an-phone"]
    li_home = ctx.officers["li"]
    env = {"LIAISON_PASSPHRASE": DEMO_PASSPHRASE}
    phone_id = officer.own_certificate(phone).device_id

    revoked = cli(
        None,
        "agency",
        "revoke",
        phone_id,
        "--reason",
        "lost",
        "--json",
        "--home",
        str(ctx.admins["VN-QN-CA"].root),
        **env,
    )
    revocation_index = json.loads(revoked.stdout)["log_index"]
    assert revocation_index > before.log_index

    # The revoked device can no longer send.
    refused = cli(
        None,
        "send",
        "--to",
        "CN-GX-DXGA",
        "--text",
        "after revocation",
        "--home",
        str(phone.root),
        ok=False,
        **env,
    )
    assert refused.returncode == 1
    assert "revoked" in refused.stderr

    # A dishonest relay logs and delivers a later envelope from the stolen device anyway.
    li_cert = officer.own_certificate(li_home)

    async def review_keys() -> list:
        async with ApiClient(relay.url) as api:
            return [
                await directory.current_review_key(phone, api, code)
                for code in ("CN-GX-DXGA", "VN-QN-CA")
            ]

    forged = seal(
        sender=officer.device_keys(phone),
        sender_cert=officer.own_certificate(phone),
        recipients=[RecipientDevice(li_cert.device_id, li_cert.encryption_key)],
        review=asyncio.run(review_keys()),
        plaintext=Payload.text("Forged after revocation").to_bytes(),
        counter=99,
        sent_at=int(time.time()),
        log_size=revocation_index + 1,
    )
    relay.stop()
    with relay.database() as db:
        forged_index = inject_envelope(db, forged.to_bytes())
    relay.start()
    assert forged_index > revocation_index

    inbox = {
        m["message_id"]: m
        for m in json.loads(cli(None, "inbox", "--json", "--home", str(li_home.root), **env).stdout)
    }
    forged_id = forged.header.message_id
    assert inbox[forged_id]["status"] == "refused"
    assert inbox[forged_id]["problem"] == "sender_revoked"
    rejected = cli(None, "read", forged_id, "--home", str(li_home.root), ok=False, **env)
    assert rejected.returncode == 1
    assert "revoked" in rejected.stderr
    assert "Forged" not in rejected.stdout

    # Logged before the revocation: still opens.
    earlier = cli(None, "read", before.message_id, "--json", "--home", str(li_home.root), **env)
    assert json.loads(earlier.stdout)["text"].startswith("Đề nghị xác minh")


def test_an_envelope_whose_counter_does_not_advance_is_refused_as_a_replay(
    relay: RelayThread, cli: Cli, tmp_path: Path
) -> None:
    ctx = DemoContext(folder=tmp_path / "world", say=lambda line: None, url=relay.url)
    ctx.admin_token = relay.admin_token
    asyncio.run(run_steps(ctx, steps_until("reply")))
    phone, li_home = ctx.officers["an-phone"], ctx.officers["li"]
    env = {"LIAISON_PASSPHRASE": DEMO_PASSPHRASE}
    li_cert = officer.own_certificate(li_home)

    async def review_keys() -> list:
        async with ApiClient(relay.url) as api:
            return [
                await directory.current_review_key(phone, api, code)
                for code in ("CN-GX-DXGA", "VN-QN-CA")
            ]

    # Signed by the real sender, but with a counter below the one Li already saw: an envelope
    # withheld and delivered late, or replayed, by the relay.
    late = seal(
        sender=officer.device_keys(phone),
        sender_cert=officer.own_certificate(phone),
        recipients=[RecipientDevice(li_cert.device_id, li_cert.encryption_key)],
        review=asyncio.run(review_keys()),
        plaintext=Payload.text("late").to_bytes(),
        counter=0,
        sent_at=int(time.time()),
        log_size=1,
    )
    relay.stop()
    with relay.database() as db:
        inject_envelope(db, late.to_bytes())
    relay.start()

    inbox = json.loads(cli(None, "inbox", "--json", "--home", str(li_home.root), **env).stdout)
    status = {m["message_id"]: (m["status"], m.get("problem")) for m in inbox}
    assert status[late.header.message_id] == ("refused", "replay")
    assert status[ctx.sent["request"].message_id][0] == "read"
    refused = cli(
        None, "read", late.header.message_id, "--home", str(li_home.root), ok=False, **env
    )
    assert refused.returncode == 1 and "replays an earlier one" in refused.stderr


def test_watch_stops_with_an_error_when_its_device_is_revoked(
    relay: RelayThread, cli: Cli, tmp_path: Path
) -> None:
    ctx = DemoContext(folder=tmp_path / "world", say=lambda line: None, url=relay.url)
    ctx.admin_token = relay.admin_token
    asyncio.run(run_steps(ctx, steps_until("officers")))
    laptop = ctx.officers["an-laptop"]
    env = {"LIAISON_PASSPHRASE": DEMO_PASSPHRASE}
    watcher = cli.popen(None, "watch", "--home", str(laptop.root), **env)
    try:
        assert "Watching" in watcher.stderr.readline()
        device_id = officer.own_certificate(laptop).device_id
        admin = str(ctx.admins["VN-QN-CA"].root)
        cli(None, "agency", "revoke", device_id, "--home", admin, **env)
        _out, err = watcher.communicate(timeout=60)
    finally:
        watcher.kill()
    assert watcher.returncode == 1
    assert "device_revoked" in err
