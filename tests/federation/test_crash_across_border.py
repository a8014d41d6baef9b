"""The receiving relay killed with SIGKILL mid-traffic and restarted (issue 15 §4, §5): two
`liaison serve` processes peered with `liaison peer`, Vietnamese officers sending to a Chinese
officer at full rate while the Chinese relay is killed at random moments. Every message the
Vietnamese relay accepted (201) reaches the Chinese officer exactly once, each sender's in order.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys

import aiohttp
import pytest

from tests.attack.test_crash_recovery import (
    RelayProcess,
    Sender,
    _fetch_all,
    _login,
    _post,
    _send_until_stopped,
    _with_known_admin_token,
)
from tests.e2e.e2e_relay import PROJECT_ROOT, pg_schema
from tests.server.factory import china_agency, vietnam_agency

KILLS = 3
UP_SECONDS = (0.5, 1.5)


def cli(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "liaison", *args, "--json"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


def db_args(relay: RelayProcess) -> list[str]:
    return ["--data-dir", str(relay.data_dir), *relay.db]


async def _wait_drained(vn: RelayProcess, seconds: float = 120) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        [peer] = (await asyncio.to_thread(cli, "peer", "list", *db_args(vn)))["peers"]
        if peer["backlog"] == 0:
            return
        assert asyncio.get_running_loop().time() < deadline, f"backlog left: {peer}"
        await asyncio.sleep(0.5)


async def _run(vn: RelayProcess, cn: RelayProcess, tokens: dict[str, str], rng) -> None:
    vn_agency, cn_agency = vietnam_agency(), china_agency()
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for relay in (vn, cn):
            relay.start()
            await relay.until_up(session)
        # The operators peer their relays, each after reading the other's fingerprint.
        ids = {r: cli("peer", "identity", *db_args(r)) for r in (vn, cn)}
        cli("peer", "add", cn.url, ids[cn]["fingerprint"], *db_args(vn))
        cli("peer", "add", vn.url, ids[vn]["safety_number"], *db_args(cn))
        cli("peer", "home", cn_agency.code, ids[cn]["origin"], *db_args(vn))
        cli("peer", "home", vn_agency.code, ids[vn]["origin"], *db_args(cn))
        for relay, agency in ((vn, vn_agency), (cn, cn_agency)):
            status, answer = await _post(
                session, f"{relay.url}/v1/agencies", agency.registration(), tokens[relay.url]
            )
            assert status == 201, answer
        devices = [vn_agency.device(f"sender{i}") for i in range(2)]
        recipient = cn_agency.device("wei")
        for device in devices:
            assert (await _post(session, f"{vn.url}/v1/certificates", device.upload()))[0] == 201
        assert (await _post(session, f"{cn.url}/v1/certificates", recipient.upload()))[0] == 201
        senders = [Sender(d, await _login(session, vn, d)) for d in devices]
        await asyncio.sleep(2.5)  # the relays read the peer table every 2 s
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(_send_until_stopped(session, vn, s, [recipient], stop))
            for s in senders
        ]
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(*UP_SECONDS))
            cn.kill()
            await asyncio.sleep(rng.uniform(0, 0.5))
            cn.start()
            await cn.until_up(session)
        await asyncio.sleep(rng.uniform(*UP_SECONDS))
        stop.set()
        await asyncio.gather(*tasks)
        accepted = [m for s in senders for m in s.acknowledged]
        assert len(accepted) >= 10, "the senders hardly ran"
        assert not [r for s in senders for r in s.refused], senders[0].refused[:3]

        await _wait_drained(vn)
        fetched = await _fetch_all(session, cn, await _login(session, cn, recipient))
        assert len(fetched) == len(set(fetched)), "a message was delivered twice"
        missing = set(accepted) - set(fetched)
        assert not missing, f"{len(missing)} of {len(accepted)} accepted messages lost"
        for sender in senders:  # each sender's messages in the order they were sent
            mine = set(sender.acknowledged)
            assert [m for m in fetched if m in mine] == sender.acknowledged
        for relay in (vn, cn):
            relay.kill()


def _relays(tmp_path, cn_db: list[str]) -> tuple[RelayProcess, RelayProcess, dict[str, str]]:
    vn_dir, cn_dir = tmp_path / "vn" / "data", tmp_path / "cn" / "data"
    vn_dir.parent.mkdir()
    cn_dir.parent.mkdir()
    vn_token, cn_token = _with_known_admin_token(vn_dir), _with_known_admin_token(cn_dir)
    vn, cn = RelayProcess(vn_dir, []), RelayProcess(cn_dir, cn_db)
    return vn, cn, {vn.url: vn_token, cn.url: cn_token}


def _cleanup(*relays: RelayProcess) -> None:
    for relay in relays:
        if relay.process is not None and relay.process.poll() is None:
            relay.kill()


@pytest.mark.slow
def test_kill_9_of_the_receiving_relay_loses_nothing_and_duplicates_nothing(tmp_path) -> None:
    vn, cn, tokens = _relays(tmp_path, [])
    try:
        asyncio.run(_run(vn, cn, tokens, random.Random()))
    finally:
        _cleanup(vn, cn)


@pytest.mark.slow
@pytest.mark.postgres
def test_kill_9_of_the_receiving_relay_on_postgresql(tmp_path, postgres_url) -> None:
    with pg_schema(postgres_url) as schema:
        vn, cn, tokens = _relays(tmp_path, ["--db", postgres_url, "--db-schema", schema])
        try:
            asyncio.run(_run(vn, cn, tokens, random.Random()))
        finally:
            _cleanup(vn, cn)
