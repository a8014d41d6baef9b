"""End-to-end helpers: a real relay on a loopback port (own thread and loop), and the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import secrets
import shlex
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import asyncpg
from aiohttp import web

from liaison.cli.demo.tour import DEMO_PASSPHRASE, DemoContext, run_steps, steps_until
from liaison.client.home import Home
from liaison.server.app import Settings, create_app
from liaison.store.engine import SQLITE_FILENAME

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "test passphrase"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RelayThread:
    """`liaison serve` in-process: an aiohttp relay on its own event loop in a thread, so that
    CLI subprocesses and the test body can both talk to it. It can stop and restart on the same
    port and data folder (to edit the database in between, as a dishonest operator would)."""

    def __init__(
        self, data_dir: Path, database_url: str | None = None, db_schema: str | None = None
    ) -> None:
        self.data_dir = data_dir
        self.database_url, self.db_schema = database_url, db_schema
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    def start(self) -> None:
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop

            async def up() -> None:
                settings = Settings(
                    data_dir=self.data_dir,
                    database_url=self.database_url,
                    db_schema=self.db_schema,
                )
                runner = web.AppRunner(create_app(settings))
                await runner.setup()
                await web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True).start()
                self._runner = runner

            try:
                loop.run_until_complete(up())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self._loop = self._thread = self._runner = None

    @property
    def admin_token(self) -> str:
        return (self.data_dir / "admin.token").read_text("ascii").strip()

    def database(self) -> sqlite3.Connection:
        """The SQLite database, to edit while the relay is stopped."""
        assert self.database_url is None, "only the SQLite relay is edited in place"
        return sqlite3.connect(self.data_dir / SQLITE_FILENAME)

    @contextlib.contextmanager
    def offline(self) -> Iterator[sqlite3.Connection]:
        """Stop the relay, hand out its database to edit (committed on exit), start it again."""
        self.stop()
        db = self.database()
        try:
            with db:
                yield db
        finally:
            db.close()
        self.start()

    def dump(self) -> bytes:
        """Every byte the relay's database holds: the SQLite files, or each table of its
        PostgreSQL schema copied in binary form (text and bytea values as they are stored)."""
        if self.database_url is None:
            return b"".join(p.read_bytes() for p in self.data_dir.glob(f"{SQLITE_FILENAME}*"))
        return asyncio.run(_pg_dump(self.database_url, self.db_schema or "public"))


async def _pg_dump(url: str, schema: str) -> bytes:
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename", schema
        )
        assert tables, f"no tables in schema {schema}"
        out = io.BytesIO()
        for row in tables:
            await conn.copy_from_table(
                row["tablename"], schema_name=schema, output=out, format="binary"
            )
        return out.getvalue()
    finally:
        await conn.close()


@contextlib.contextmanager
def pg_schema(url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards (each relay run gets its own)."""
    schema = f"t_{secrets.token_hex(6)}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        asyncio.run(run(f'DROP SCHEMA "{schema}" CASCADE'))


def demo_world(relay: RelayThread, folder: Path, until: str) -> DemoContext:
    """The demo's steps up to `until`, in-process against `relay`: setup the tests build on (the
    walk-through proves the same steps on the command line)."""
    ctx = DemoContext(
        folder=folder, say=lambda line: None, url=relay.url, admin_token=relay.admin_token
    )
    return asyncio.run(run_steps(ctx, steps_until(until)))


class Cli:
    """Runs `python -m liaison` as a subprocess with a given home folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def env(self, home: str | None, **extra: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("LIAISON_", "LANG", "LC_"))
        }
        env.update(
            LIAISON_KDF_PROFILE="test",
            LIAISON_PASSPHRASE=PASSPHRASE,
            LIAISON_LANG="en",
            PYTHONPATH=str(PROJECT_ROOT),
        )
        if home is not None:
            env["LIAISON_HOME"] = str(self.folder / home)
        env.update(extra)
        return env

    def __call__(
        self, home: str | None, *args: str, ok: bool = True, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "liaison", *args],
            env=self.env(home, **extra),
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if ok and result.returncode != 0:
            raise AssertionError(
                f"liaison {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    def at(
        self, home: Home, *args: str, ok: bool = True, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        """`liaison ARGS --home HOME` for a demo world's home (with the demo passphrase)."""
        extra.setdefault("LIAISON_PASSPHRASE", DEMO_PASSPHRASE)
        return self(None, *args, "--home", str(home.root), ok=ok, **extra)

    def sh(
        self, home: str | None, line: str, *, ok: bool = True, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        """`liaison` with arguments written as on a shell line (after the program name)."""
        return self(home, *shlex.split(line), ok=ok, **extra)

    def popen(self, home: str | None, *args: str, **extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "liaison", *args],
            env=self.env(home, **extra),
            cwd=self.folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
