"""Retention deletes ciphertext (log kept and still verified); a legal hold blocks it."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from liaison.cli.demo.tour import DEMO_PASSPHRASE, DemoContext, run_steps, steps_until
from liaison.client import holds as hold_ops
from liaison.client import messages as message_ops
from liaison.client import officer as officer_ops
from liaison.client.errors import ServerError
from liaison.client.payload import NOTICE, Payload
from liaison.client.transport import ApiClient
from tests.e2e.e2e_relay import Cli, RelayThread

DAY = 86400
CASE = "QN-2026-0042"


def call(ctx: DemoContext, make: Any) -> Any:
    async def go() -> Any:
        async with ApiClient(ctx.url) as api:
            return await make(api)

    return asyncio.run(go())


def ciphertext(relay: RelayThread, message_id: str) -> tuple[int, int | None]:
    with relay.database() as db:
        size, purged = db.execute(
            "SELECT length(envelope), purged_at FROM envelopes WHERE message_id = ?",
            (message_id,),
        ).fetchone()
    return size, purged


def log_kinds(relay: RelayThread) -> list[dict[str, Any]]:
    with relay.database() as db:
        return [json.loads(data) for (data,) in db.execute("SELECT data FROM log_entries")]


def purge(cli: Cli, relay: RelayThread, now: int) -> dict[str, Any]:
    relay.stop()
    try:
        out = cli(
            None, "db", "purge", "--data-dir", str(relay.data_dir), "--now", str(now), "--json"
        )
    finally:
        relay.start()
    return json.loads(out.stdout)


@pytest.fixture
def world(relay: RelayThread, tmp_path: Path) -> DemoContext:
    ctx = DemoContext(folder=tmp_path / "world", say=lambda line: None, url=relay.url)
    ctx.admin_token = relay.admin_token
    wanted = {"agencies", "officers", "pins", "send", "review"}  # a message and a supervisor
    return asyncio.run(run_steps(ctx, [s for s in steps_until("review") if s.name in wanted]))


@pytest.mark.slow
def test_hold_blocks_purge_release_lets_it_proceed_and_audit_still_passes(
    relay: RelayThread, cli: Cli, world: DemoContext, tmp_path: Path
) -> None:
    ctx = world
    supervisor, an = ctx.officers["supervisor"], ctx.officers["an-phone"]
    secret_file = tmp_path / "case.secret"
    cli(
        None,
        "hold",
        "secret",
        "--create",
        str(secret_file),
        "--home",
        str(supervisor.root),
        LIAISON_PASSPHRASE=DEMO_PASSPHRASE,
    )
    cli(
        None,
        "hold",
        "secret",
        "--import",
        str(secret_file),
        "--home",
        str(an.root),
        LIAISON_PASSPHRASE=DEMO_PASSPHRASE,
    )
    notice = Payload(NOTICE, json.dumps({"header": {"case_ref": CASE}}).encode())
    tagged = call(ctx, lambda api: message_ops.send(an, api, ["CN-GX-DXGA"], notice))
    with relay.database() as db:
        (tag,) = db.execute(
            "SELECT tag FROM case_tags WHERE message_id = ?", (tagged.message_id,)
        ).fetchone()
    assert CASE.encode() not in bytes(tag)  # the relay holds only the keyed hash

    for code, days in (("VN-QN-CA", 30), ("VN-QN-BP", 10), ("CN-GX-DXGA", 10)):
        cli(
            None,
            "agency",
            "retention",
            code,
            "--days",
            str(days),
            "--server",
            relay.url,
            "--admin-token",
            relay.admin_token,
        )
    placed = cli(
        None,
        "hold",
        "place",
        CASE,
        "--reason",
        "court order 12/2026",
        "--home",
        str(supervisor.root),
        LIAISON_PASSPHRASE=DEMO_PASSPHRASE,
    )
    assert "Hold placed" in placed.stdout
    listed = cli(
        None,
        "hold",
        "list",
        "--json",
        "--home",
        str(supervisor.root),
        LIAISON_PASSPHRASE=DEMO_PASSPHRASE,
    )
    assert [h["case_ref"] for h in json.loads(listed.stdout)["holds"]] == [CASE]

    now = int(time.time())
    request = ctx.sent["request"].message_id
    early = purge(cli, relay, now + 11 * DAY)  # past 10 days, not past the longest (30)
    assert early == {"purged": [], "held": []}
    assert ciphertext(relay, request)[0] > 0

    later = purge(cli, relay, now + 31 * DAY)
    assert request in later["purged"]
    assert later["held"] == [tagged.message_id]
    assert ciphertext(relay, request) == (0, now + 31 * DAY)
    assert ciphertext(relay, tagged.message_id)[0] > 0

    cli(
        None,
        "hold",
        "release",
        CASE,
        "--home",
        str(supervisor.root),
        LIAISON_PASSPHRASE=DEMO_PASSPHRASE,
    )
    final = purge(cli, relay, now + 32 * DAY)
    assert final["purged"] == [tagged.message_id]
    assert ciphertext(relay, tagged.message_id)[0] == 0

    entries = log_kinds(relay)
    kinds = [e["kind"] for e in entries]
    assert kinds.count("retention") == 3
    assert kinds.index("hold") < kinds.index("hold_release")
    purged = {e["message_id"]: e for e in entries if e["kind"] == "purge"}
    assert set(purged) >= {request, tagged.message_id}
    assert purged[request]["envelope_index"] == ctx.sent["request"].log_index
    assert purged[tagged.message_id]["agencies"] == ["CN-GX-DXGA", "VN-QN-CA"]

    for home in ("li", "an-laptop", "an-phone"):
        result = cli(
            None,
            "audit",
            "verify",
            "--home",
            str(ctx.officers[home].root),
            LIAISON_PASSPHRASE=DEMO_PASSPHRASE,
        )
        assert "Log verified" in result.stdout
    cli(None, "inbox", "--home", str(ctx.officers["li"].root), LIAISON_PASSPHRASE=DEMO_PASSPHRASE)


def test_agency_without_retention_keeps_ciphertext(
    relay: RelayThread, cli: Cli, world: DemoContext
) -> None:
    cli(
        None,
        "agency",
        "retention",
        "VN-QN-CA",
        "--days",
        "1",
        "--server",
        relay.url,
        "--admin-token",
        relay.admin_token,
    )
    report = purge(cli, relay, int(time.time()) + 400 * DAY)
    assert report == {"purged": [], "held": []}  # every message has a party with no period


def test_only_a_supervisor_of_the_agency_places_holds(world: DemoContext, tmp_path: Path) -> None:
    ctx = world
    an = ctx.officers["an-phone"]
    secret = tmp_path / "s"
    secret.write_bytes(hold_ops.create_case_secret(ctx.officers["supervisor"]))
    hold_ops.import_case_secret(an, secret.read_bytes())
    with pytest.raises(ServerError) as refused:
        call(ctx, lambda api: hold_ops.place(an, api, CASE, "no"))
    assert (refused.value.status, refused.value.code) == (403, "not_supervisor")
    supervisor = ctx.officers["supervisor"]
    call(ctx, lambda api: hold_ops.place(supervisor, api, CASE, "yes"))
    with pytest.raises(ServerError) as twice:
        call(ctx, lambda api: hold_ops.place(supervisor, api, CASE, "again"))
    assert twice.value.code == "hold_exists"

    async def entries(api: ApiClient) -> Any:
        await officer_ops.authenticate(supervisor, api)  # log reads: enrolled devices only
        return await api.entries(0, 1000)

    kinds = [e["entry"]["kind"] for e in call(ctx, entries)["entries"]]
    assert kinds.count("hold") == 1


def test_recipient_agency_tags_a_notice_once_read(relay: RelayThread, world: DemoContext) -> None:
    ctx = world
    an, li = ctx.officers["an-phone"], ctx.officers["li"]
    hold_ops.import_case_secret(an, hold_ops.create_case_secret(ctx.officers["supervisor"]))
    hold_ops.create_case_secret(li)  # Dongxing's own secret: its tags differ from Vietnam's
    notice = Payload(NOTICE, json.dumps({"header": {"case_ref": CASE}}).encode())
    sent = call(ctx, lambda api: message_ops.send(an, api, ["CN-GX-DXGA"], notice))

    def tags() -> set[bytes]:
        with relay.database() as db:
            rows = db.execute("SELECT tag FROM case_tags WHERE message_id = ?", (sent.message_id,))
            return {bytes(t) for (t,) in rows}

    assert len(tags()) == 1
    call(ctx, lambda api: message_ops.sync(li, api))
    call(ctx, lambda api: message_ops.read(li, api, sent.message_id))
    assert tags() == {
        hold_ops.case_tag(hold_ops.case_secret(an), "VN-QN-CA", CASE),
        hold_ops.case_tag(hold_ops.case_secret(li), "CN-GX-DXGA", CASE),
    }
    size = len(log_kinds(relay))
    call(ctx, lambda api: message_ops.read(li, api, sent.message_id))  # once only, unlogged
    assert len(tags()) == 2 and len(log_kinds(relay)) == size


def test_retention_deletes_an_attachment_with_its_envelope_and_a_hold_keeps_one(
    relay: RelayThread, cli: Cli, world: DemoContext, tmp_path: Path
) -> None:
    from liaison.client import OfficerSession
    from liaison.client.home import Home
    from liaison.server.blobs import BLOBS_DIR

    ctx = world
    supervisor, an = ctx.officers["supervisor"], ctx.officers["an-phone"]
    secret_file = tmp_path / "case.secret"
    for home, option in ((supervisor, "--create"), (an, "--import")):
        cli(None, "hold", "secret", option, str(secret_file), "--home", str(home.root),
            LIAISON_PASSPHRASE=DEMO_PASSPHRASE)  # fmt: skip
    held_file, free_file = tmp_path / "held.jpg", tmp_path / "free.jpg"
    held_file.write_bytes(b"held " * 50_000)
    free_file.write_bytes(b"free " * 50_001)
    notice = Payload(NOTICE, json.dumps({"header": {"case_ref": CASE}}).encode())

    async def send() -> tuple[str, str]:
        home = Home(an.root, passphrase=lambda c: DEMO_PASSPHRASE)
        async with OfficerSession.open(home) as session:
            held = await session.send(["CN-GX-DXGA"], notice, files=[held_file])
            free = await session.send(["CN-GX-DXGA"], Payload.text("x"), files=[free_file])
        return held.message_id, free.message_id

    held_id, free_id = asyncio.run(send())

    def blob_of(message_id: str) -> Path:
        with relay.database() as db:
            (blob_id,) = db.execute(
                "SELECT blob_id FROM envelope_blobs WHERE message_id = ?", (message_id,)
            ).fetchone()
        return relay.data_dir / BLOBS_DIR / blob_id[:2] / blob_id

    held_blob, free_blob = blob_of(held_id), blob_of(free_id)
    assert held_blob.is_file() and free_blob.is_file()
    for code in ("VN-QN-CA", "VN-QN-BP", "CN-GX-DXGA"):
        cli(None, "agency", "retention", code, "--days", "10", "--server", relay.url,
            "--admin-token", relay.admin_token)  # fmt: skip
    cli(None, "hold", "place", CASE, "--reason", "court order", "--home", str(supervisor.root),
        LIAISON_PASSPHRASE=DEMO_PASSPHRASE)  # fmt: skip
    report = purge(cli, relay, int(time.time()) + 11 * DAY)
    assert free_id in report["purged"] and held_id not in report["purged"]
    assert not free_blob.exists() and held_blob.is_file()
    with relay.database() as db:
        left = {blob_id for (blob_id,) in db.execute("SELECT blob_id FROM blobs")}
    assert left == {held_blob.name}
