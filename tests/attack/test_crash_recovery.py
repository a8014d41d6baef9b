"""Crash test (issue 14, section 4): senders at full rate against a `liaison serve` process that
is killed with SIGKILL at random moments and restarted on the same data. Every message the relay
acknowledged (201) is then fetched by each recipient exactly once, and the log verifies, by
consistency proofs, from every checkpoint taken before a crash."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from crypto.checkpoint import verify_checkpoint
from crypto.encoding import b64d, b64e
from crypto.merkle import verify_consistency
from tests.e2e.e2e_relay import PROJECT_ROOT, free_port, pg_schema
from tests.server.factory import DeviceKit, china_agency, vietnam_agency

KILLS = 5
SENDERS = 3
# How long the relay runs between two kills: drawn at random, so a kill lands anywhere in a
# request (before, during or after the commit). Bounded: the whole test is well under a minute.
UP_SECONDS = (0.4, 1.6)


class RelayProcess:
    """`liaison serve` as the operator runs it, killed and started again on one data folder."""

    def __init__(self, data_dir: Path, db: list[str]) -> None:
        self.data_dir, self.db = data_dir, db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / "relay.log"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: ASYNC220 (a fresh process after each kill)
                [sys.executable, "-m", "liaison", "serve", "--data-dir", str(self.data_dir)]
                + ["--port", str(self.port), *self.db]
                # Senders at full rate: the test measures durability, not the rate limits.
                + ["--no-rate-limits"],
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    async def until_up(self, session: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()
            try:
                async with session.get(f"{self.url}/v1/health") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)  # the process is starting: poll its port
        raise AssertionError(f"relay did not start:\n{self.log.read_text()}")


@dataclass
class Sender:
    device: DeviceKit
    token: str
    acknowledged: list[str] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


async def _post(session, url, body, token=""):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.post(url, json=body, headers=headers) as answer:
        return answer.status, await answer.json()


async def _login(session, relay: RelayProcess, device: DeviceKit) -> str:
    async with session.get(f"{relay.url}/v1/server") as answer:
        log_key = b64d((await answer.json())["log_public_key"])
    status, challenge = await _post(
        session, f"{relay.url}/v1/auth/challenge", {"device_id": device.device_id}
    )
    assert status == 200, challenge
    signature = device.sign_challenge(log_key, b64d(challenge["challenge"]))
    status, token = await _post(
        session,
        f"{relay.url}/v1/auth/token",
        {
            "device_id": device.device_id,
            "challenge": challenge["challenge"],
            "signature": b64e(signature),
        },
    )
    assert status == 200, token
    return str(token["token"])


async def _send_until_stopped(
    session, relay: RelayProcess, sender: Sender, recipients, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        envelope = sender.device.seal(recipients, "crash test")
        body = {"envelope": b64e(envelope.to_bytes())}
        try:
            status, answer = await _post(session, f"{relay.url}/v1/messages", body, sender.token)
        except (aiohttp.ClientError, json.JSONDecodeError):
            await asyncio.sleep(0.02)  # the relay is down or restarting: try the next one soon
            continue
        if status == 201:
            sender.acknowledged.append(envelope.header.message_id)
        else:
            sender.refused.append((status, str(answer)))


async def _fetch_all(session, relay: RelayProcess, token: str) -> list[str]:
    ids, after = [], 0
    while True:
        async with session.get(
            f"{relay.url}/v1/messages",
            params={"after": after, "limit": 100, "all": 1},
            headers={"Authorization": f"Bearer {token}"},
        ) as answer:
            assert answer.status == 200
            page = await answer.json()
        ids += [m["message_id"] for m in page["messages"]]
        if page["next_cursor"] is None:
            return ids
        after = page["next_cursor"]


async def _checkpoint(session, relay: RelayProcess, server: dict) -> tuple[int, bytes]:
    async with session.get(f"{relay.url}/v1/log/checkpoint") as answer:
        note = (await answer.json())["checkpoint"]
    head = verify_checkpoint(
        note, key_name=server["log_key_name"], public_key=b64d(server["log_public_key"])
    )
    return head.size, head.root_hash


async def _crash_run(relay: RelayProcess, admin_token: str, rng: random.Random) -> None:
    vn, cn = vietnam_agency(), china_agency()
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        relay.start()
        await relay.until_up(session)
        for agency in (vn, cn):
            status, answer = await _post(
                session, f"{relay.url}/v1/agencies", agency.registration(), admin_token
            )
            assert status == 201, answer
        devices = [vn.device(f"sender{i}") for i in range(SENDERS)]
        recipients = [cn.device("wei"), vn.device("lan")]
        for device in devices + recipients:
            status, answer = await _post(session, f"{relay.url}/v1/certificates", device.upload())
            assert status == 201, answer
        senders = [Sender(d, await _login(session, relay, d)) for d in devices]
        async with session.get(f"{relay.url}/v1/server") as answer:
            server = await answer.json()
        checkpoints: list[tuple[int, bytes]] = []
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(_send_until_stopped(session, relay, s, recipients, stop))
            for s in senders
        ]
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(*UP_SECONDS))  # a random moment under load
            checkpoints.append(await _checkpoint(session, relay, server))
            await asyncio.sleep(rng.uniform(0, 0.2))
            relay.kill()
            relay.start()
            await relay.until_up(session)
        await asyncio.sleep(rng.uniform(*UP_SECONDS))
        stop.set()
        await asyncio.gather(*tasks)

        acknowledged = [m for s in senders for m in s.acknowledged]
        assert len(acknowledged) >= 10 * KILLS, "the senders hardly ran"
        assert not [r for s in senders for r in s.refused], senders[0].refused[:3]
        for recipient in recipients:
            fetched = await _fetch_all(session, relay, await _login(session, relay, recipient))
            assert len(fetched) == len(set(fetched)), "a message was delivered twice"
            missing = set(acknowledged) - set(fetched)
            assert not missing, f"{len(missing)} acknowledged messages lost"
        size, root = await _checkpoint(session, relay, server)
        for old_size, old_root in checkpoints:
            assert 0 < old_size <= size
            async with session.get(
                f"{relay.url}/v1/log/consistency", params={"from": old_size, "to": size}
            ) as answer:
                proof = [b64d(h) for h in (await answer.json())["proof"]]
            verify_consistency(old_size, size, old_root, root, proof)
        relay.kill()


def _with_known_admin_token(data_dir: Path) -> str:
    # The relay keeps only the token's hash; a token written to admin.token before the first
    # start is the operator's choice (the relay hashes it and removes the file).
    data_dir.mkdir(parents=True)
    token = os.urandom(32).hex()
    (data_dir / "admin.token").write_text(token + "\n")
    return token


@pytest.mark.slow
def test_acknowledged_messages_survive_kill_9_on_sqlite(tmp_path) -> None:
    data_dir = tmp_path / "data"
    token = _with_known_admin_token(data_dir)
    relay = RelayProcess(data_dir, [])
    try:
        asyncio.run(_crash_run(relay, token, random.Random()))
    finally:
        if relay.process is not None and relay.process.poll() is None:
            relay.kill()


@pytest.mark.slow
@pytest.mark.postgres
def test_acknowledged_messages_survive_kill_9_on_postgresql(tmp_path, postgres_url) -> None:
    data_dir = tmp_path / "data"
    token = _with_known_admin_token(data_dir)
    with pg_schema(postgres_url) as schema:
        relay = RelayProcess(data_dir, ["--db", postgres_url, "--db-schema", schema])
        try:
            asyncio.run(_crash_run(relay, token, random.Random()))
        finally:
            if relay.process is not None and relay.process.poll() is None:
                relay.kill()
