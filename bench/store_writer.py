"""The send path's store work alone, SQLite against PostgreSQL: CPU and wall time per message.

Runs the relay's send job (the send check, a log entry, an envelope, three deliveries and on
PostgreSQL the push NOTIFY) through `Store.write`, in waves of `--concurrency` writes, first on
SQLite then on PostgreSQL, alternating `--repeat` times, and prints the medians: the part of
bench/relay.py's per-message CPU that the store takes, without HTTP, signatures or pushes
around it. `--profile` adds a cProfile of one PostgreSQL run (top functions by own time).

    .venv/bin/python bench/store_writer.py [--messages 3000] [--concurrency 32] [--repeat 3]
                                           [--postgres URL] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import itertools
import os
import pstats
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from liaison.store import SendCheck, Store, database_url  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
ENVELOPE = secrets.token_bytes(2048)
RECIPIENTS = ("ag:b:1", "ag:c:1", "ag:d:1")
COUNTERS = itertools.count(1)  # the sender's counter, rising across runs


def send_job(message_id: str, counter: int, sender: str = "ag:a:1") -> Any:
    """The store part of liaison/server/mailbox.py's `store_and_log` job."""
    envelope_hash = hashlib.sha256(message_id.encode()).digest()
    leaf = hashlib.sha256(b"leaf" + envelope_hash).digest()

    async def job(tx: Any) -> int:
        check = await tx.send_precheck(
            message_id=message_id, sender_device=sender, devices=(sender, *RECIPIENTS)
        )
        assert check.existing is None and not check.revoked
        index: int = await tx.append_log(envelope_hash * 4, leaf, at=counter)
        tx.insert_envelope(
            message_id=message_id,
            envelope_hash=envelope_hash,
            sender_device=sender,
            counter=counter,
            envelope=ENVELOPE,
            log_index=index,
            received_at=counter,
            recipients=RECIPIENTS,
        )
        tx.announce("liaison_bench", lambda: [[d, c] for d, c in tx.cursors(message_id).items()])
        return index

    return job


def send_check(message_id: str, batched: bool) -> SendCheck | None:
    """What the relay gives with a send job: its send check, read with the batch's others."""
    return SendCheck(message_id, "ag:a:1", ("ag:a:1", *RECIPIENTS)) if batched else None


async def run(
    store: Store, messages: int, concurrency: int, *, batched: bool = True
) -> tuple[float, float]:
    """(CPU ms per message, wall ms per message) for `messages` sends; `batched`: the send
    checks given with the jobs (read once per batch on PostgreSQL), else asked by each job."""
    prefix = secrets.token_hex(4)
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, messages, concurrency):
        wave = range(start, min(messages, start + concurrency))
        ids = [f"{prefix}{i:024x}" for i in wave]
        await asyncio.gather(
            *(
                store.write(send_job(m, next(COUNTERS)), send_check=send_check(m, batched))
                for m in ids
            )
        )
    return (
        (time.process_time() - cpu) * 1000 / messages,
        (time.perf_counter() - wall) * 1000 / messages,
    )


async def open_postgres(url: str, data_dir: Path) -> tuple[Store, str]:
    schema = f"bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(url)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.close()
    store = Store(
        database_url(data_dir, url), connect_args={"server_settings": {"search_path": schema}}
    )
    await store.open()
    return store, schema


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--postgres", default=os.environ.get("LIAISON_BENCH_DATABASE_URL", PG_DEFAULT)
    )
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    figures: dict[str, list[tuple[float, float]]] = {
        "SQLite": [],
        "PostgreSQL": [],
        "PostgreSQL, checks per job": [],
    }
    with tempfile.TemporaryDirectory(prefix="liaison-bench-") as tmp:
        sqlite = Store(database_url(Path(tmp)))
        await sqlite.open()
        postgres, schema = await open_postgres(args.postgres, Path(tmp))
        try:
            for _ in range(args.repeat):
                figures["SQLite"].append(await run(sqlite, args.messages, args.concurrency))
                figures["PostgreSQL"].append(await run(postgres, args.messages, args.concurrency))
                figures["PostgreSQL, checks per job"].append(
                    await run(postgres, args.messages, args.concurrency, batched=False)
                )
            if args.profile:
                profile = cProfile.Profile()
                profile.enable()
                await run(postgres, args.messages, args.concurrency)
                profile.disable()
        finally:
            await sqlite.close()
            await postgres.close()
            conn = await asyncpg.connect(args.postgres)
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await conn.close()
    print(
        f"store send job, {args.messages} messages in waves of {args.concurrency}, "
        f"median of {args.repeat} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    for name, runs in figures.items():
        cpus, walls = [c for c, _ in runs], [w for _, w in runs]
        print(
            f"{name:<27} CPU {statistics.median(cpus):.3f} ms/message "
            f"(range {min(cpus):.3f}–{max(cpus):.3f}), wall {statistics.median(walls):.3f} ms "
            f"({1000 / statistics.median(walls):.0f} msg/s)"
        )
    if args.profile:
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    asyncio.run(main())
