"""`liaison serve --workers N` (issue 17, section 2): real worker processes on one port.

Each request goes on a connection of its own, so the kernel hands it to whichever worker
accepts; the Liaison-Worker header says which one answered. PostgreSQL only: on SQLite the
command refuses more than one worker (tested here too, without a database server).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from crypto.checkpoint import verify_checkpoint
from crypto.encoding import b64d, b64e, canonical_json
from crypto.merkle import MerkleTree, leaf_hash
from liaison.server.push import CLOSE_REVOKED
from liaison.server.workers import WORKER_HEADER
from tests.e2e.e2e_relay import PROJECT_ROOT, free_port, pg_schema
from tests.server.factory import DeviceKit, china_agency, vietnam_agency
from tests.server.helpers import enrol, register, send
from tests.server.relay_api import Api

START_TIMEOUT = 90.0


class Workers:
    """`liaison serve --workers N` as a subprocess; its admin token read from its output."""

    def __init__(self, tmp: Path, url: str, schema: str, count: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LIAISON_", "LANG"))}
        env.update(LIAISON_LANG="en", PYTHONPATH=str(PROJECT_ROOT))
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "liaison",
                "serve",
                "--data-dir",
                str(tmp / "data"),
                "--db",
                url,
                "--db-schema",
                schema,
                "--port",
                str(self.port),
                "--no-rate-limits",
                "--workers",
                str(count),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.admin_token = ""
        assert self.process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        lines = []
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("  "):
                self.admin_token = line.strip()
            if "listening" in line:
                break
        assert self.admin_token and "listening" in lines[-1], lines

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        finally:
            if self.process.poll() is None:
                self.process.kill()


class Connections:
    """What `Api` needs of a client, with one connection per request; it notes which worker
    answered each request (and each WebSocket handshake)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.workers: list[str] = []
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(self._seen)
        self.session = aiohttp.ClientSession(
            base_url,
            connector=aiohttp.TCPConnector(force_close=True),
            trace_configs=[trace],
        )

    async def _seen(self, _session: Any, _context: Any, params: Any) -> None:
        self.workers.append(params.response.headers.get(WORKER_HEADER, ""))

    def request(self, method: str, path: str, **kw: Any) -> Any:
        return self.session.request(method, path, **kw)

    def ws_connect(self, path: str, **kw: Any) -> Any:
        return self.session.ws_connect(path, **kw)

    async def close(self) -> None:
        await self.session.close()


@pytest.fixture
def schema(postgres_url: str) -> Iterator[str]:
    with pg_schema(postgres_url) as name:
        yield name


@pytest.fixture
async def three(tmp_path: Path, postgres_url: str, schema: str) -> AsyncIterator[Workers]:
    relay = Workers(tmp_path, postgres_url, schema, 3)
    try:
        yield relay
    finally:
        assert relay.stop() == 0


@pytest.fixture
async def client(three: Workers) -> AsyncIterator[tuple[Api, Connections]]:
    connections = Connections(three.url)
    try:
        yield Api(connections, three.admin_token), connections  # type: ignore[arg-type]
    finally:
        await connections.close()


def test_more_than_one_worker_is_refused_on_sqlite(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIAISON_", "LANG"))}
    env.update(LIAISON_LANG="en", PYTHONPATH=str(PROJECT_ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "liaison", "serve", "--data-dir", str(tmp_path), "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "--workers above 1 needs PostgreSQL" in result.stderr
    assert not (tmp_path / "liaison.db").exists()  # refused before anything was made


async def _world(api: Api) -> tuple[list[DeviceKit], DeviceKit]:
    vn, cn = vietnam_agency(), china_agency()
    await register(api, vn, cn)
    senders = [vn.device(f"sender{i}") for i in range(3)]
    receiver = cn.device("wei")
    await enrol(api, *senders, receiver)
    return senders, receiver


async def _checkpoints(api: Api, connections: Connections, workers: int) -> dict[str, dict]:
    """The checkpoint as each worker answers it (asked until every worker has answered)."""
    answers: dict[str, dict] = {}
    for _ in range(200):
        body = (await api.get("/v1/log/checkpoint")).body
        answers[connections.workers[-1].split(".")[0]] = body
        if len(answers) == workers:
            break
    assert len(answers) == workers, f"only workers {sorted(answers)} answered"
    return answers


async def _verified_log(api: Api, checkpoint: dict) -> list[dict]:
    """Every entry up to the checkpoint, indexes gapless, leaves hashing to its signed root."""
    server = (await api.get("/v1/server")).body
    cp = verify_checkpoint(
        checkpoint["checkpoint"],
        key_name=server["log_key_name"],
        public_key=b64d(server["log_public_key"]),
        origin=server["origin"],
    )
    items: list[dict] = []
    for start in range(0, cp.size, 1000):
        end = min(cp.size, start + 1000)
        page = (await api.get("/v1/log/entries", params={"start": start, "end": end})).body
        items += page["entries"]
    assert [e["index"] for e in items] == list(range(cp.size))
    tree = MerkleTree([leaf_hash(canonical_json(e["entry"])) for e in items])
    assert tree.root() == cp.root_hash
    return [e["entry"] for e in items]


@pytest.mark.postgres
@pytest.mark.slow
async def test_three_workers_deliver_each_message_once_in_one_log(
    three: Workers, client: tuple[Api, Connections]
) -> None:
    api, connections = client
    senders, receiver = await _world(api)
    tokens = [await api.login(s) for s in senders]
    receiver_token = await api.login(receiver)
    async with connections.ws_connect("/v1/ws", params={"token": receiver_token}) as ws:
        socket_worker = connections.workers[-1]
        answered_by: set[str] = set()

        async def burst(sender: DeviceKit, token: str) -> list[Any]:
            answers = []
            for i in range(12):
                answers.append(await send(api, token, sender.seal([receiver], f"m{i}")))
                answered_by.add(connections.workers[-1])
            return answers

        # Three devices send at once through whichever workers accept their connections.
        bursts = await asyncio.gather(*(burst(s, t) for s, t in zip(senders, tokens, strict=True)))
        answers = [a for b in bursts for a in b]
        assert [a.status for a in answers] == [201] * 36, [a.body for a in answers]
        sent = {a.body["message_id"] for a in answers}
        assert len(answered_by) == 3, f"sends answered only by {answered_by}"
        assert answered_by - {socket_worker}  # pushes came from other workers than the socket's
        pushed: list[str] = []
        while len(pushed) < len(sent):
            notice = await asyncio.wait_for(ws.receive_json(), timeout=15)
            pushed.append(notice["message_id"])
    assert sorted(pushed) == sorted(sent)  # every message pushed once, none twice
    page = (await api.get("/v1/messages", params={"limit": 100}, token=receiver_token)).body[
        "messages"
    ]
    assert sorted(m["message_id"] for m in page) == sorted(sent)  # delivered once each
    # One log: every worker signs the same checkpoint, which covers every entry in order.
    checkpoints = await _checkpoints(api, connections, 3)
    assert len({c["checkpoint"] for c in checkpoints.values()}) == 1
    logged = await _verified_log(api, next(iter(checkpoints.values())))
    indexes = sorted(a.body["log_index"] for a in answers)
    assert len(set(indexes)) == 36
    assert {logged[i]["message_id"] for i in indexes} == sent


@pytest.mark.postgres
@pytest.mark.slow
async def test_a_revocation_closes_the_devices_sockets_on_every_worker(
    three: Workers, client: tuple[Api, Connections]
) -> None:
    api, connections = client
    vn = vietnam_agency()
    await register(api, vn)
    alice = vn.device("alice")
    await enrol(api, alice)
    token = await api.login(alice)
    sockets: dict[str, Any] = {}  # one socket on each worker
    for _ in range(60):
        ws = await connections.ws_connect("/v1/ws", params={"token": token})
        worker = connections.workers[-1].split(".")[0]
        if worker in sockets:
            await ws.close()
        else:
            sockets[worker] = ws
        if len(sockets) == 3:
            break
    assert len(sockets) == 3, f"sockets only on workers {sorted(sockets)}"
    answer = await api.post(
        "/v1/revocations", json={"revocation": b64e(vn.revoke(alice).to_bytes())}
    )
    assert answer.status == 201
    for ws in sockets.values():
        frame = await asyncio.wait_for(ws.receive(), timeout=15)
        assert frame.type == aiohttp.WSMsgType.CLOSE and frame.data == CLOSE_REVOKED
        await ws.close()


@pytest.mark.postgres
@pytest.mark.slow
async def test_a_rolling_restart_fails_no_request(
    three: Workers, client: tuple[Api, Connections]
) -> None:
    """SIGHUP: each worker replaced in turn while three devices send and others read; not one
    request fails, every message is delivered once, and the new workers answer afterwards."""
    api, connections = client
    senders, receiver = await _world(api)
    tokens = [await api.login(s) for s in senders]
    receiver_token = await api.login(receiver)
    failures: list[str] = []
    answers: list[Any] = []
    restarted = asyncio.Event()

    async def sending(sender: DeviceKit, token: str) -> None:
        for i in range(400):  # bounded; ends soon after every worker was replaced
            try:
                answer = await send(api, token, sender.seal([receiver], f"m{i}"))
            except aiohttp.ClientError as exc:
                failures.append(repr(exc))
                continue
            answers.append(answer)
            if answer.status != 201:
                failures.append(str(answer.body))
            if restarted.is_set() and i >= 20:
                return

    async def reading() -> None:
        for _ in range(2000):
            try:
                answer = await api.get("/v1/log/checkpoint")
            except aiohttp.ClientError as exc:
                failures.append(repr(exc))
                continue
            if answer.status != 200:
                failures.append(str(answer.body))
            if restarted.is_set():
                return

    async def restart() -> None:
        await asyncio.sleep(1.0)
        three.signal(signal.SIGHUP)
        for _ in range(600):  # until every worker answering is of the new generation
            await asyncio.sleep(0.1)
            recent = connections.workers[-30:]
            if len(recent) == 30 and all(w.endswith(".1") for w in recent):
                break
        restarted.set()

    await asyncio.wait_for(
        asyncio.gather(
            *(sending(s, t) for s, t in zip(senders, tokens, strict=True)), reading(), restart()
        ),
        timeout=240,
    )
    assert restarted.is_set()
    assert not failures, failures[:5]
    seen = set(connections.workers)
    assert {"0.0", "1.0", "2.0"} <= seen and {"0.1", "1.1", "2.1"} <= seen, seen
    sent = {a.body["message_id"] for a in answers}
    assert len(sent) == len(answers) > 60
    fetched: list[str] = []
    after = 0
    while True:
        page = (
            await api.get(
                "/v1/messages", params={"after": after, "limit": 100}, token=receiver_token
            )
        ).body
        fetched += [m["message_id"] for m in page["messages"]]
        if page["next_cursor"] is None:
            break
        after = page["next_cursor"]
    assert sorted(fetched) == sorted(sent)
    checkpoints = await _checkpoints(api, connections, 3)
    assert len({c["checkpoint"] for c in checkpoints.values()}) == 1
    await _verified_log(api, next(iter(checkpoints.values())))
