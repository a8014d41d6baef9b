"""`liaison review list|read` and `liaison audit log` as commands, against a relay on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from review_world import World

from liaison.cli.demo import DEMO_PASSPHRASE


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
