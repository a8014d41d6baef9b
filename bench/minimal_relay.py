"""Reference servers for bench/relay.py: the least a relay must do per message, and no more.

Not a relay: no directory, no revocation, no duplicate or counter checks, no Merkle tree, no
schema, no error handling beyond a 4xx. It exists to measure, on this machine and in the same
run as the relay, how fast a server can go that does only the work issue 3 makes mandatory for
every message, written as directly as aiohttp, PyNaCl and sqlite3 allow:

- `verify`: authenticate the bearer token (a dict look-up), parse the JSON body, decode the
  envelope and parse it with the project's strict parser, check its Ed25519 signature.
- `push`: the same, then one WebSocket notice to each of the envelope's recipients.
- `store`: the same, with the envelope, one delivery per recipient and a log row (its leaf
  hash) inserted and committed durably (SQLite WAL, synchronous=FULL, one group commit at a
  time in a thread) before the notices and the answer.

    python bench/minimal_relay.py PORT KEYS_JSON STAGE DATA_DIR

KEYS_JSON maps tokens to device ids and device ids to Ed25519 public keys (base64), as the
benchmark's relay run issued them: {"tokens": {token: device_id}, "keys": {device_id: key}}.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto.encoding import b64d, b64e  # noqa: E402
from crypto.envelope import Envelope  # noqa: E402
from crypto.errors import CryptoError  # noqa: E402
from crypto.merkle import leaf_hash  # noqa: E402

STAGES = ("verify", "push", "store")
SCHEMA = (
    "CREATE TABLE envelopes (message_id TEXT PRIMARY KEY, sender TEXT, envelope BLOB,"
    " log_index INTEGER)",
    'CREATE TABLE deliveries ("cursor" INTEGER PRIMARY KEY, message_id TEXT, device_id TEXT)',
    'CREATE INDEX deliveries_device ON deliveries (device_id, "cursor")',
    "CREATE TABLE log_entries (idx INTEGER PRIMARY KEY, leaf_hash BLOB)",
)


class GroupCommit:
    """Rows of every request queued in one loop turn, inserted together, then one COMMIT (and
    fsync) in a thread while the loop goes on; one COMMIT at a time."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        for statement in SCHEMA:
            self.db.execute(statement)
        self.thread = ThreadPoolExecutor(1)
        self.queue: list[tuple[tuple[Any, ...], list[str], asyncio.Future[int]]] = []
        self.wake = asyncio.Event()
        self.log_size = 0
        self.cursor = 0

    def close(self) -> None:
        self.thread.shutdown(wait=True)
        self.db.close()

    def add(self, envelope_row: tuple[Any, ...], recipients: list[str]) -> asyncio.Future[int]:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.queue.append((envelope_row, recipients, future))
        self.wake.set()
        return future

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            await asyncio.sleep(0)
            self.wake.clear()
            batch, self.queue = self.queue, []
            envelopes, deliveries, log = [], [], []
            for (message_id, sender, data, leaf), recipients, _ in batch:
                envelopes.append((message_id, sender, data, self.log_size))
                log.append((self.log_size, leaf))
                self.log_size += 1
                for device in recipients:
                    self.cursor += 1
                    deliveries.append((self.cursor, message_id, device))
            try:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany("INSERT INTO envelopes VALUES (?, ?, ?, ?)", envelopes)
                self.db.executemany("INSERT INTO deliveries VALUES (?, ?, ?)", deliveries)
                self.db.executemany("INSERT INTO log_entries VALUES (?, ?)", log)
                await loop.run_in_executor(self.thread, self.db.execute, "COMMIT")
            except sqlite3.Error as exc:  # a resent message id: the whole batch is refused
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                for _, _, future in batch:
                    future.set_exception(web.HTTPConflict(text=str(exc)))
                continue
            for (_, _, future), (index, _) in zip(batch, log, strict=True):
                future.set_result(index)


def make_app(keys_file: Path, stage: str, data_dir: Path) -> web.Application:
    known = json.loads(keys_file.read_text())
    tokens: dict[str, str] = known["tokens"]
    keys = {device: b64d(key) for device, key in known["keys"].items()}
    sockets: dict[str, list[web.WebSocketResponse]] = {}
    app = web.Application(client_max_size=4 << 20)
    store = GroupCommit(data_dir / "minimal.sqlite") if stage == "store" else None

    async def send(request: web.Request) -> web.Response:
        device = tokens.get(request.headers.get("Authorization", "").removeprefix("Bearer "))
        if device is None:
            raise web.HTTPUnauthorized()
        try:
            data = b64d(json.loads(await request.read())["envelope"])
            envelope = Envelope.from_bytes(data)
            if envelope.header.sender_device != device:
                raise web.HTTPForbidden()
            envelope.verify_signature(keys[device])
        except (CryptoError, ValueError, KeyError, TypeError):
            raise web.HTTPUnprocessableEntity() from None
        message_id = envelope.header.message_id
        recipients = list(envelope.header.recipients)
        index = 0
        if store is not None:
            leaf = leaf_hash(envelope.envelope_hash())
            index = await store.add((message_id, device, data, leaf), recipients)
        if stage != "verify":
            text = json.dumps({"type": "message", "message_id": message_id, "cursor": 0})
            for recipient in recipients:
                for ws in sockets.get(recipient, ()):
                    await ws.send_str(text)
        return web.json_response(
            {
                "message_id": message_id,
                "envelope_hash": b64e(envelope.envelope_hash()),
                "log_index": index,
            },
            status=201,
        )

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        device = tokens.get(request.query.get("token", ""))
        if device is None:
            raise web.HTTPUnauthorized()
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sockets.setdefault(device, []).append(ws)
        try:
            async for _ in ws:
                pass
        finally:
            sockets[device].remove(ws)
        return ws

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def start(app: web.Application) -> AsyncIterator[None]:
        writer = asyncio.create_task(store.run()) if store is not None else None
        yield
        if writer is not None and store is not None:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            store.close()

    async def close_sockets(app: web.Application) -> None:
        for group in list(sockets.values()):
            for ws in list(group):
                await ws.close()

    app.cleanup_ctx.append(start)
    app.on_shutdown.append(close_sockets)
    app.router.add_post("/v1/messages", send)
    app.router.add_get("/v1/ws", websocket)
    app.router.add_get("/v1/health", health)
    return app


def main() -> None:
    if len(sys.argv) != 5 or sys.argv[3] not in STAGES:
        sys.exit(f"usage: minimal_relay.py PORT KEYS_JSON {{{'|'.join(STAGES)}}} DATA_DIR")
    app = make_app(Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
