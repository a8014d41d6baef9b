"""Every hot read of the store is served by an index on PostgreSQL (issue 17 §3).

The store's own queries are captured as it runs them (the SQL and parameters SQLAlchemy hands
the driver), plus the writer's asyncpg statements, and each is explained on a store filled with
a history of a few tens of thousands of rows. The explanations run with `enable_seqscan = off`:
a table this small is still cheaper to read whole, so the planner would rightly pick a
sequential scan even where an index exists, and a test of the planner's choice at this size
would prove nothing. With sequential scans priced out, a `Seq Scan` that remains in a plan means
that no index can serve the query, which is what this test must catch; whether the planner
prefers the index at ten million rows is bench/scale.py's to measure.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event

from liaison.store import Store, database_url
from liaison.store.mailbox import _SEND_PRECHECK_PG

pytestmark = pytest.mark.postgres

ENVELOPES = 20_000
START = 1_700_000_000  # received_at of the first envelope; one envelope a minute after it
DAY = 86_400
# Tables that grow with the traffic: a sequential scan of one of them is a failure. (The
# cosignatures table holds one row per registered witness and key, not one per checkpoint:
# it does not grow with the traffic.)
LARGE_TABLES = {"log_entries", "envelopes", "deliveries", "case_tags", "merkle_tiles"}

_FILL = f"""
INSERT INTO log_entries (idx, data, leaf_hash, created_at)
  SELECT i, '\\x00'::bytea, decode(md5('leaf' || i), 'hex'), {START} + i * 60
  FROM generate_series(0, {ENVELOPES}) AS i;
UPDATE log_head SET size = {ENVELOPES + 1} WHERE id = 1;
INSERT INTO envelopes (message_id, envelope_hash, sender_device, counter, envelope, size,
                       log_index, received_at)
  SELECT md5('m' || i), decode(md5('h' || i), 'hex'),
         'ag' || (i % 3) || ':off' || (i % 100) || ':d1', i, '\\x00'::bytea, 1, i,
         {START} + i * 60
  FROM generate_series(1, {ENVELOPES}) AS i;
INSERT INTO deliveries (message_id, device_id, acknowledged_at, ack_log_index, received_at)
  SELECT md5('m' || i), 'ag' || ((i + r) % 3) || ':off' || ((i * 7 + r) % 100) || ':d1',
         CASE WHEN i < {ENVELOPES - 500} THEN {START} + i * 60 + 5 END,
         CASE WHEN i < {ENVELOPES - 500} THEN i END, {START} + i * 60
  FROM generate_series(1, {ENVELOPES}) AS i, generate_series(0, 2) AS r
  ORDER BY i, r;
INSERT INTO case_tags (message_id, tag)
  SELECT md5('m' || i), decode(md5('tag' || (i % 500)), 'hex')
  FROM generate_series(1, {ENVELOPES}) AS i;
INSERT INTO merkle_tiles (level, idx, hashes)
  SELECT 0, i, '\\x00'::bytea FROM generate_series(0, {ENVELOPES // 256 - 1}) AS i;
INSERT INTO cosignatures (size, witness, witness_key, line, created_at)
  SELECT {ENVELOPES}, 'witness' || w, '\\x00'::bytea, 'line', {START} + w
  FROM generate_series(1, 3) AS w;
"""


@pytest.fixture
async def filled(tmp_path: Path, postgres_url: str) -> AsyncIterator[tuple[Store, str]]:
    """A migrated store in a fresh schema, filled and analysed, and the schema's name."""
    schema = f"t_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(postgres_url)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        store = Store(
            database_url(tmp_path, postgres_url),
            connect_args={"server_settings": {"search_path": schema}},
        )
        async with store:
            await conn.execute(f'SET search_path = "{schema}"')
            await conn.execute(_FILL)
            await conn.execute("ANALYZE")
            yield store, schema
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


def _index_names(plan: dict[str, Any]) -> set[str]:
    """The indexes a plan reads."""
    names = {plan["Index Name"]} if "Index Name" in plan else set()
    for child in plan.get("Plans", []):
        names |= _index_names(child)
    return names


def _scans(plan: dict[str, Any]) -> list[tuple[str, str]]:
    """(node type, relation or index) of every node of a plan that reads one."""
    found = []
    if "Relation Name" in plan or "Index Name" in plan:
        found.append((plan["Node Type"], plan.get("Relation Name") or plan["Index Name"]))
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


async def _captured(store: Store, reads: dict[str, Any]) -> dict[str, list[tuple[str, Any]]]:
    """The statements (SQL, parameters) each of `reads` sent to PostgreSQL."""
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    target = store.reader.sync_engine
    event.listen(target, "before_cursor_execute", capture)
    captured: dict[str, list[tuple[str, Any]]] = {}
    try:
        for name, read in reads.items():
            sent.clear()
            assert await read() is not None
            captured[name] = list(sent)
    finally:
        event.remove(target, "before_cursor_execute", capture)
    return captured


async def test_every_hot_query_is_served_by_an_index(
    filled: tuple[Store, str], postgres_url: str
) -> None:
    store, schema = filled
    device, message = "ag1:off7:d1", None
    # A message delivered to `device` and still waiting (the last 500 are unacknowledged).
    for i in range(ENVELOPES - 400, ENVELOPES):
        if device in {f"ag{(i + r) % 3}:off{(i * 7 + r) % 100}:d1" for r in range(3)}:
            message = hashlib.md5(f"m{i}".encode()).hexdigest()
            break
    assert message is not None
    month = (START + 5 * DAY, START + 35 * DAY)
    reads = {
        "inbox of a device": lambda: store.deliveries(
            device, after=0, limit=100, include_acknowledged=False
        ),
        "envelope by id": lambda: store.envelope(message),
        "delivery by device and message": lambda: store.delivery(device, message),
        "log entries range": lambda: store.log_entries(1000, 1100),
        "leaf hashes range": lambda: store.leaf_hashes(1000, 1100),
        "log size": store.log_size,
        "newest cosignatures": store.newest_cosignatures,
        "review list of an officer for a month": lambda: store.agency_traffic(
            "ag1", officer_prefix="ag1:off7:", start=month[0], end=month[1], limit=500
        ),
        "audit records of an agency for a day": lambda: store.agency_traffic(
            "ag2", officer_prefix=None, start=START + 3 * DAY, end=START + 4 * DAY, limit=5000
        ),
        "retention purge candidates": lambda: store.envelopes_received_before(START + DAY),
        "retention purge, next slice": lambda: store.envelopes_received_before(
            START + 30 * DAY, after=(START + 3 * DAY, "0" * 32), limit=1000
        ),
        "tiles by key (proofs)": lambda: store.tiles([(0, 3), (0, 40), (1, 0)]),
        "tile range (start)": lambda: store.tile_range(0, 10, 60),
        "held envelope": lambda: store.held_envelope(message),
    }
    statements = await _captured(store, reads)
    # The writer's hot statements go to asyncpg directly.
    statements["send check: envelope, last counter, revocations"] = [
        (_SEND_PRECHECK_PG, (message, "ag1:off7:d1", [device, "ag0:off1:d1"]))
    ]
    assert all(statements.values()), statements

    conn = await asyncpg.connect(postgres_url, server_settings={"search_path": schema})
    try:
        await conn.execute("SET enable_seqscan = off")
        failures: list[tuple[str, str]] = []
        plans: dict[str, list[tuple[str, str]]] = {}
        indexes: dict[str, set[str]] = {}
        for name, sent in statements.items():
            for sql, parameters in sent:
                args = tuple(parameters or ())
                explained = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
                plan = json.loads(explained)[0]["Plan"]
                scans = _scans(plan)
                plans.setdefault(name, []).extend(scans)
                indexes.setdefault(name, set()).update(_index_names(plan))
                failures += [
                    (name, relation)
                    for node, relation in scans
                    if node == "Seq Scan" and relation in LARGE_TABLES
                ]
    finally:
        await conn.close()
    assert not failures, f"sequential scans of large tables: {failures}\nplans: {plans}"
    # The officer's review list reads the officer's devices' ranges (revision 0010), not the
    # month's envelopes one by one.
    assert {"ix_deliveries_device_received", "ix_envelopes_sender_received"} <= indexes[
        "review list of an officer for a month"
    ], indexes["review list of an officer for a month"]
    # The test saw the index scans it is about, not empty plans.
    assert ("Index Scan", "deliveries") in plans["inbox of a device"] or (
        "Bitmap Heap Scan",
        "deliveries",
    ) in plans["inbox of a device"]
