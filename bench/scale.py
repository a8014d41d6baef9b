"""The relay's store at scale: a large history against a 10,000-message one, in the same run.

Fills a store (SQLite, then PostgreSQL if one answers) by bulk insertion: `--entries` log
entries, one envelope per five entries from 300 devices over five years, three deliveries each,
all but the last 100 of one device acknowledged. Then, for that store and for one of 10,000
entries, measures what grows with the log:

- start: reading every leaf hash and rebuilding the in-memory Merkle tree (what
  `liaison serve` does before it listens, liaison/server/log.py), its time and the resident
  memory it adds;
- inbox fetch p99 for the device with 100 waiting (`Store.deliveries`);
- inclusion proof p99 (`MerkleTree.inclusion_proof` at a random index of the full tree).

Part of issue 17 §3: the HTTP send p99, consistency proofs, review list, audit export and
retention purge at scale are not measured here yet. The ten-million run is for a bigger box:

    .venv/bin/python bench/scale.py --entries 10000000

Default (`--entries 200000`) finishes in minutes on a 2-vCPU machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import os
import random
import resource
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # bench/crypto.py would shadow the crypto package

import asyncpg  # noqa: E402

from crypto.merkle import MerkleTree  # noqa: E402
from liaison.store import Store, database_url  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
DEVICES = 300
FIVE_YEARS = 5 * 365 * 86_400
START = 1_640_995_200  # 2022-01-01
WAITING_DEVICE = "ag0:off0:d0"
CHUNK = 20_000


def device(i: int) -> str:
    return f"ag{i % 3}:off{i % 100}:d{i % DEVICES // 100}"


def history(entries: int, chunk_start: int, chunk_end: int) -> tuple[list, list, list]:
    """Rows of entries [chunk_start, chunk_end): log entries, envelopes, deliveries."""
    logs, envs, dels = [], [], []
    step = FIVE_YEARS / max(1, entries)
    waiting_from = entries - 5 * 100 * 3  # the last envelopes leave WAITING_DEVICE 100 unread
    for i in range(chunk_start, chunk_end):
        at = START + int(i * step)
        data = i.to_bytes(8, "big") * 8
        logs.append((i, data, hashlib.sha256(b"\x00" + data).digest(), at))
        if i % 5:
            continue
        message_id = hashlib.md5(data).hexdigest()
        sender = device(i // 5)
        envs.append((message_id, hashlib.sha256(data).digest(), sender, i, b"\x00" * 64, 64, i, at))
        recipients = [device(i // 5 + 1), device(i // 5 + 2), WAITING_DEVICE]
        for recipient in dict.fromkeys(recipients):
            if recipient == sender:
                continue
            waiting = recipient == WAITING_DEVICE and i >= waiting_from
            dels.append(
                (message_id, recipient, None if waiting else at + 60, None if waiting else i)
            )
    return logs, envs, dels


_INSERTS = (
    "INSERT INTO log_entries (idx, data, leaf_hash, created_at) VALUES ({})",
    "INSERT INTO envelopes (message_id, envelope_hash, sender_device, counter, envelope, size,"
    " log_index, received_at) VALUES ({})",
    "INSERT INTO deliveries (message_id, device_id, acknowledged_at, ack_log_index) VALUES ({})",
)


async def fill(store: Store, entries: int, schema: str | None, url: str | None) -> float:
    """Bulk-insert the history; seconds taken."""
    began = time.perf_counter()
    if url is None:
        import sqlite3

        conn = sqlite3.connect(store.url.split("///", 1)[1], isolation_level=None)
        conn.execute("BEGIN")
        for lo in range(0, entries, CHUNK):
            for sql, rows in zip(
                _INSERTS, history(entries, lo, min(entries, lo + CHUNK)), strict=True
            ):
                if rows:
                    conn.executemany(sql.format(",".join("?" * len(rows[0]))), rows)
        conn.execute("UPDATE log_head SET size = ? WHERE id = 1", (entries,))
        conn.execute("COMMIT")
        conn.close()
    else:
        conn = await asyncpg.connect(url, server_settings={"search_path": schema})
        columns = (
            ("log_entries", ("idx", "data", "leaf_hash", "created_at")),
            (
                "envelopes",
                (
                    "message_id",
                    "envelope_hash",
                    "sender_device",
                    "counter",
                    "envelope",
                    "size",
                    "log_index",
                    "received_at",
                ),
            ),
            ("deliveries", ("message_id", "device_id", "acknowledged_at", "ack_log_index")),
        )
        async with conn.transaction():
            for lo in range(0, entries, CHUNK):
                for (table, names), rows in zip(
                    columns, history(entries, lo, min(entries, lo + CHUNK)), strict=True
                ):
                    if rows:
                        await conn.copy_records_to_table(
                            table, records=rows, columns=names, schema_name=schema
                        )
            await conn.execute("UPDATE log_head SET size = $1 WHERE id = 1", entries)
        await conn.execute("ANALYZE")
        await conn.close()
    return time.perf_counter() - began


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


async def measure(store: Store, samples: int) -> dict[str, float]:
    gc.collect()
    before = rss_mib()
    began = time.perf_counter()
    leaves = await store.leaf_hashes(0)
    read = time.perf_counter() - began
    tree = MerkleTree(leaves)
    built = time.perf_counter() - began - read
    del leaves
    gc.collect()
    grown = rss_mib() - before
    inbox = []
    for _ in range(samples):
        t = time.perf_counter()
        found = await store.deliveries(
            WAITING_DEVICE, after=0, limit=100, include_acknowledged=False
        )
        inbox.append(time.perf_counter() - t)
    assert found, "the waiting device has no deliveries"
    proofs = []
    for _ in range(samples * 10):
        index = random.randrange(tree.size)
        t = time.perf_counter()
        tree.inclusion_proof(index)
        proofs.append(time.perf_counter() - t)
    return {
        "size": tree.size,
        "leaf read s": read,
        "tree build s": built,
        "RSS added MiB": grown,
        "inbox p99 ms": p99(inbox) * 1000,
        "inclusion proof p99 ms": p99(proofs) * 1000,
    }


async def one_store(label: str, entries: int, url: str | None, samples: int) -> None:
    for size in (10_000, entries):
        schema = None
        with tempfile.TemporaryDirectory(prefix="liaison-scale-") as tmp:
            if url is None:
                store = Store(database_url(Path(tmp)))
            else:
                schema = f"scale_{secrets.token_hex(4)}"
                admin = await asyncpg.connect(url)
                await admin.execute(f'CREATE SCHEMA "{schema}"')
                await admin.close()
                store = Store(
                    database_url(Path(tmp), url),
                    connect_args={"server_settings": {"search_path": schema}},
                )
            try:
                await store.open()
                filled = await fill(store, size, schema, url)
                figures = await measure(store, samples)
                await store.close()
            finally:
                if schema is not None:
                    admin = await asyncpg.connect(url)
                    await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
                    await admin.close()
        shown = "  ".join(
            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()
        )
        print(f"{label:<10} {size:>10} entries (filled in {filled:.1f} s): {shown}", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--postgres", default=os.environ.get("LIAISON_BENCH_DATABASE_URL", PG_DEFAULT)
    )
    args = parser.parse_args()
    print(f"bench/scale.py --entries {args.entries} (load average {os.getloadavg()[0]:.1f})")
    await one_store("SQLite", args.entries, None, args.samples)
    if not args.no_postgres:
        await one_store("PostgreSQL", args.entries, args.postgres, args.samples)


if __name__ == "__main__":
    asyncio.run(main())
