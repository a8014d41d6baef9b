"""`liaison review list|read` and `liaison audit log` as commands, against a relay on loopback;
`review read` renders notices with their handling banner and refuses to export H2."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from liaison.cli.demo.tour import DEMO_PASSPHRASE
from liaison.client import messages as message_ops
from liaison.client import notices as notice_ops
from liaison.domain.notices import Notice, parse_notice
from liaison.i18n.render import AUTONYMS, handling_banner
from tests.review.review_world import World


async def _liaison(home: Any, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "LIAISON_PASSPHRASE": DEMO_PASSPHRASE, "LIAISON_LANG": "en"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "liaison",
        *args,
        "--home",
        str(home.root),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def test_commands_list_review_and_show_the_review_to_the_officer(world: World) -> None:
    message_id = world.ctx.sent["request"].message_id
    code, out, err = await _liaison(world.supervisor, "review", "list", "--json")
    assert code == 0, err
    assert message_id in [m["message_id"] for m in json.loads(out)]

    code, out, err = await _liaison(
        world.supervisor, "review", "read", message_id[:8], "--reason", "routine check"
    )
    assert code == 0, err
    assert "verified before decryption" in out
    assert "Đề nghị xác minh" in out

    code, out, err = await _liaison(world.officer("an-phone"), "audit", "log", "--json")
    assert code == 0, err
    reviews = [row for row in json.loads(out) if row["entry"]["kind"] == "review"]
    assert [r["entry"]["message_id"] for r in reviews] == [message_id]
    assert reviews[0]["signed"] is True


async def test_review_read_by_an_officer_fails_with_exit_status_1(world: World) -> None:
    message_id = world.ctx.sent["request"].message_id
    code, _out, err = await _liaison(
        world.officer("binh"), "review", "read", message_id, "--reason", "curious"
    )
    assert code == 1
    assert "supervisor" in err


GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "notices"


async def _send_notice(world: World, handling: str) -> tuple[str, Notice]:
    """An officer of VN-QN-CA sends the golden verification request to Dongxing."""
    value = json.loads((GOLDEN / "verification_request.json").read_text(encoding="utf-8"))
    value["header"]["handling"] = handling
    # Sent without files: the golden's attachment indexes would point at nothing.
    for person in value["fields"]["persons"]:
        person.pop("photo", None)
    value["fields"].pop("photos", None)
    value["fields"].pop("attachments", None)
    notice = parse_notice(value)
    sent = await message_ops.send(
        world.officer("an-phone"), world.api, ["CN-GX-DXGA"], notice_ops.notice_payload(notice)
    )
    return sent.message_id, notice


async def test_review_read_renders_an_h2_notice_but_refuses_to_export_it(
    world: World, tmp_path: Path
) -> None:
    message_id, _notice = await _send_notice(world, "H2")
    code, out, err = await _liaison(
        world.supervisor, "review", "read", message_id, "--reason", "routine check", "--lang", "vi"
    )
    assert code == 0, err
    for line in handling_banner("H2", "vi"):
        assert f"!! {line}" in out
    assert f"=== {AUTONYMS['vi']} ===" in out and AUTONYMS["zh_Hans_CN"] not in out
    assert "Lò Thị Mai" in out and message_id in out
    assert "bytes: use -o FILE" not in out

    exported = tmp_path / "notice.json"
    code, out, err = await _liaison(
        world.supervisor, "review", "read", message_id, "--reason", "file", "-o", str(exported)
    )
    assert code == 1
    assert "H2" in err and "Lò Thị Mai" not in out + err
    assert not exported.exists()


async def test_review_read_exports_an_h1_notice_as_sent(world: World, tmp_path: Path) -> None:
    message_id, notice = await _send_notice(world, "H1")
    exported = tmp_path / "notice.json"
    code, _out, err = await _liaison(
        world.supervisor, "review", "read", message_id, "--reason", "file", "-o", str(exported)
    )
    assert code == 0, err
    assert parse_notice(exported.read_bytes()) == notice
