"""The log's tree kept as tiles in the store: proofs equal the in-memory tree's for many sizes,
a restart keeps the root, tiles are written with the entries, and a log without tiles (the
migration's case, or entries written by hand) gets them at start. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import nacl.signing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.checkpoint import verify_checkpoint
from crypto.errors import ProofError
from crypto.merkle import MerkleTree, leaf_hash
from liaison.server.identity import ServerIdentity
from liaison.server.log import TransparencyLog
from liaison.store import Store, database_url

# Crosses the level-1 tile (65,536 leaves) so that every tile level the relay reads is used.
ENTRIES = 65_536 + 256 * 5 + 77
JOB = 3_001  # entries appended per write job: tiles complete inside jobs and across them


def _data(i: int) -> bytes:
    return b"entry %d" % i


IDENTITY = ServerIdentity(nacl.signing.SigningKey(b"\x07" * 32), "tiles.test", b"\x00" * 32)


class Backend:
    def __init__(self, url: str, connect_args: dict | None) -> None:
        self.url = url
        self.connect_args = connect_args

    def store(self) -> Store:
        return Store(self.url, connect_args=self.connect_args)


async def _fill(backend: Backend, count: int) -> None:
    async with backend.store() as store:
        for lo in range(0, count, JOB):

            async def job(tx, lo=lo):
                for i in range(lo, min(count, lo + JOB)):
                    await tx.append_log(_data(i), leaf_hash(_data(i)), at=i)

            await store.write(job)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    folder = tmp_path_factory.mktemp("tiles")
    schema = None
    if request.param == "sqlite":
        backend = Backend(database_url(folder), None)
    else:
        url = request.getfixturevalue("postgres_url")
        schema = f"t_{secrets.token_hex(6)}"

        async def create() -> None:
            conn = await asyncpg.connect(url)
            await conn.execute(f'CREATE SCHEMA "{schema}"')
            await conn.close()

        asyncio.run(create())
        backend = Backend(database_url(folder, url), {"server_settings": {"search_path": schema}})
    try:
        asyncio.run(_fill(backend, ENTRIES))
        yield backend
    finally:
        if schema is not None:

            async def drop() -> None:
                conn = await asyncpg.connect(request.getfixturevalue("postgres_url"))
                await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
                await conn.close()

            asyncio.run(drop())


@pytest.fixture(scope="module")
def reference() -> MerkleTree:
    return MerkleTree(leaf_hash(_data(i)) for i in range(ENTRIES))


async def _tile_count(store: Store) -> dict[int, int]:
    return (await store.log_size_and_tiles())[1]


def test_tiles_are_written_with_the_entries(backend: Backend, reference: MerkleTree) -> None:
    async def check() -> None:
        async with backend.store() as store:
            size, counts = await store.log_size_and_tiles()
            assert size == ENTRIES
            assert counts == {0: ENTRIES // 256, 1: 1}
            tiles = await store.tiles([(0, 3), (1, 0)])
            assert tiles[(0, 3)] == b"".join(reference.node(0, i) for i in range(768, 1024))
            assert tiles[(1, 0)] == b"".join(reference.node(8, i) for i in range(256))

    asyncio.run(check())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_proofs_from_tiles_equal_the_in_memory_tree(
    backend: Backend, reference: MerkleTree, data: st.DataObject
) -> None:
    boundaries = [1, 255, 256, 257, 65_535, 65_536, 65_537, ENTRIES]
    size = data.draw(st.one_of(st.sampled_from(boundaries), st.integers(1, ENTRIES)))
    indexes = data.draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=5))
    old = data.draw(st.integers(1, size))

    async def check() -> None:
        async with backend.store() as store:
            log = TransparencyLog(store, IDENTITY)
            await log.load()  # a restart: the edge from the tail and the tiles
            assert log.size == ENTRIES
            assert await log.root(size) == reference.root(size)
            assert await log.consistency_proof(old, size) == reference.consistency_proof(old, size)
            view = await log.view(indexes, size)
            for index in indexes:
                expected = reference.inclusion_proof(index, size)
                assert await log.inclusion_proof(index, size) == expected
                assert view.inclusion_proof(index, size) == expected
                assert view.leaf_hash_at(index) == await log.leaf_hash_at(index)
            assert view.root() == reference.root(size)

    asyncio.run(check())


def test_restart_keeps_the_root_and_appends_go_on(backend: Backend, tmp_path: Path) -> None:
    async def check() -> None:
        async with backend.store() as store:
            log = TransparencyLog(store, IDENTITY)
            await log.load()
            size, note = log.checkpoint()
            root = verify_checkpoint(
                note, key_name=IDENTITY.key_name, public_key=IDENTITY.public_key
            ).root_hash
        async with backend.store() as store:
            log = TransparencyLog(store, IDENTITY)
            await log.load()
            assert log.checkpoint() == (size, note)
            with pytest.raises(ProofError):
                await log.root(size + 1)

            # Appends through the writer move the edge (commit listener) and write tiles.
            async def job(tx):
                for i in range(size, size + 300):
                    await tx.append_log(_data(i), leaf_hash(_data(i)), at=i)

            await store.write(job)
            assert log.size == size + 300
            grown = MerkleTree(leaf_hash(_data(i)) for i in range(size + 300))
            assert await log.root() == grown.root()
            assert await log.root(size) == root
            assert (await _tile_count(store))[0] == (size + 300) // 256
            # Another process's view: a fresh log reads the same tree.
            other = TransparencyLog(store, IDENTITY)
            await other.load()
            assert other.checkpoint()[0] == size + 300
            assert await other.inclusion_proof(5, size + 300) == grown.inclusion_proof(5)

    asyncio.run(check())


async def test_a_log_without_tiles_gets_them_at_start(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    async with Store(url) as store:

        async def job(tx):
            for i in range(1000):
                await tx.append_log(_data(i), leaf_hash(_data(i)), at=i)

        await store.write(job)
    db = sqlite3.connect(url.split("///", 1)[1])
    db.execute("DELETE FROM merkle_tiles")
    db.commit()
    db.close()
    async with Store(url) as store:
        assert await _tile_count(store) == {}
        log = TransparencyLog(store, IDENTITY)
        await log.load()
        assert await _tile_count(store) == {0: 3}
        tree = MerkleTree(leaf_hash(_data(i)) for i in range(1000))
        assert await log.inclusion_proof(10) == tree.inclusion_proof(10)
        assert log.checkpoint()[0] == 1000


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_migration_0008_fills_the_tiles_of_an_existing_log(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from liaison.store.engine import _alembic_config

    count = 256 * 256 + 300
    schema = None
    if kind == "sqlite":
        url, connect_args = database_url(tmp_path), {}
    else:
        postgres_url = request.getfixturevalue("postgres_url")
        schema = f"t_{secrets.token_hex(6)}"
        admin = await asyncpg.connect(postgres_url)
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        await admin.close()
        url = database_url(tmp_path, postgres_url)
        connect_args = {"server_settings": {"search_path": schema}}

    def upgrade_to(revision: str):
        def run(connection) -> None:
            config = _alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

        return run

    engine = create_async_engine(url, connect_args=connect_args)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade_to("0006"))
            await conn.execute(
                text(
                    "INSERT INTO log_entries (idx, data, leaf_hash, created_at)"
                    " VALUES (:i, :d, :h, 0)"
                ),
                [{"i": i, "d": _data(i), "h": leaf_hash(_data(i))} for i in range(count)],
            )
            await conn.execute(text("UPDATE log_head SET size = :n"), {"n": count})
        async with engine.begin() as conn:
            await conn.run_sync(upgrade_to("0008"))
        async with engine.connect() as conn:
            found = await conn.execute(text("SELECT level, idx, hashes FROM merkle_tiles"))
            rows = {(level, idx): bytes(hashes) for level, idx, hashes in found}
        await engine.dispose()
        tree = MerkleTree(leaf_hash(_data(i)) for i in range(count))
        assert sorted(rows) == [(0, t) for t in range(257)] + [(1, 0)]
        assert rows[(0, 256)] == b"".join(tree.node(0, i) for i in range(65_536, 65_792))
        assert rows[(1, 0)] == b"".join(tree.node(8, i) for i in range(256))
        async with Store(url, connect_args=connect_args) as store:
            log = TransparencyLog(store, IDENTITY)
            await log.load()
            assert await log.root() == tree.root()
            assert await log.inclusion_proof(65_700) == tree.inclusion_proof(65_700)
    finally:
        await engine.dispose()
        if schema is not None:
            admin = await asyncpg.connect(request.getfixturevalue("postgres_url"))
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await admin.close()
