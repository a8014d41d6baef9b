"""The PostgreSQL writer with one or more processes on one database: does a second process add
throughput, or wait for the first one's `log_head` lock? (issue 17 §2)

Each process (as `liaison serve --workers N` runs them) opens its own `Store` on one schema and
runs the relay's send job (bench/store_writer.py's) in waves of `--concurrency` writes, each
process for its own sender; they start together. Printed: the messages per second of all the
processes together (messages / the span from the first start to the last end), the CPU per
message of the relay processes, the batches that found the log
head moved and ran again locked (`GroupCommitWriter.conflicts`), and a check that the log holds
every message once with no gap. No HTTP, signatures or pushes: the store's share alone, so the
figure says what the lock costs, not what the machine's other work does to a whole relay.

    .venv/bin/python bench/writer_processes.py [--processes 1 2] [--messages 3000]
                                               [--concurrency 32] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from bench.store_writer import RECIPIENTS, send_job  # noqa: E402
from liaison.store import SendCheck, Store, database_url  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


async def child(
    url: str, schema: str, sender: str, messages: int, concurrency: int, at: float
) -> None:
    """One process: wait for the common start, send, print its figures as JSON."""
    with tempfile.TemporaryDirectory(prefix="liaison-bench-") as tmp:
        store = Store(
            database_url(Path(tmp), url), connect_args={"server_settings": {"search_path": schema}}
        )
        await store.open()
        try:
            await asyncio.sleep(max(0.0, at - time.time()))
            began, cpu = time.time(), time.process_time()
            for start in range(0, messages, concurrency):
                wave = range(start, min(messages, start + concurrency))
                await asyncio.gather(
                    *(
                        store.write(
                            send_job(f"{sender}-{i}", i + 1, sender),
                            send_check=SendCheck(f"{sender}-{i}", sender, (sender, *RECIPIENTS)),
                        )
                        for i in wave
                    )
                )
            figures = {
                "began": began,
                "ended": time.time(),
                "cpu": time.process_time() - cpu,
                "conflicts": getattr(store.group_commit, "conflicts", 0),
            }
        finally:
            await store.close()
    print(json.dumps(figures))


async def one_run(url: str, processes: int, messages: int, concurrency: int) -> dict[str, float]:
    schema = f"bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(url)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        with tempfile.TemporaryDirectory(prefix="liaison-bench-") as tmp:
            store = Store(
                database_url(Path(tmp), url),
                connect_args={"server_settings": {"search_path": schema}},
            )
            await store.open()  # migrated once, before the processes start
            await store.close()
        at = time.time() + 3.0
        command = [sys.executable, __file__, "--child", url, schema]
        children = [
            await asyncio.create_subprocess_exec(
                *command,
                f"ag:p{n}:1",
                str(messages),
                str(concurrency),
                str(at),
                stdout=asyncio.subprocess.PIPE,
            )
            for n in range(processes)
        ]
        outputs = [(await asyncio.wait_for(c.communicate(), 600))[0].decode() for c in children]
        figures = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
        await admin.execute(f'SET search_path = "{schema}"')
        size = await admin.fetchval("SELECT size FROM log_head WHERE id = 1")
        entries, top = await admin.fetchrow("SELECT count(*), max(idx) FROM log_entries")
        envelopes = await admin.fetchval("SELECT count(*) FROM envelopes")
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
    total = processes * messages
    assert size == entries == top + 1 == envelopes == total, (size, entries, top, envelopes)
    span = max(f["ended"] for f in figures) - min(f["began"] for f in figures)
    return {
        "msg/s": total / span,
        "cpu ms/msg": sum(f["cpu"] for f in figures) * 1000 / total,
        "conflicts": sum(f["conflicts"] for f in figures),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--messages", type=int, default=3000, help="per process")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--postgres", default=os.environ.get("LIAISON_BENCH_DATABASE_URL", PG_DEFAULT)
    )
    args = parser.parse_args()
    runs: dict[int, list[dict[str, float]]] = {n: [] for n in args.processes}
    for i in range(args.repeat):
        for n in args.processes:
            load = os.getloadavg()[0]
            figures = await one_run(args.postgres, n, args.messages, args.concurrency)
            runs[n].append(figures)
            print(
                f"run {i + 1}, {n} process(es): {figures['msg/s']:.0f} msg/s, relay CPU"
                f" {figures['cpu ms/msg']:.3f} ms/msg, {figures['conflicts']:.0f} batches run"
                f" again locked (load average {load:.1f})",
                flush=True,
            )
    print(
        f"\nmedian of {args.repeat}, {args.messages} messages per process,"
        f" waves of {args.concurrency}"
    )
    for n, found in runs.items():
        rates = [f["msg/s"] for f in found]
        print(
            f"  {n} process(es): {statistics.median(rates):.0f} msg/s"
            f" (range {min(rates):.0f}–{max(rates):.0f}),"
            f" relay CPU {statistics.median(f['cpu ms/msg'] for f in found):.3f} ms/msg,"
            f" conflicts {statistics.median(f['conflicts'] for f in found):.0f}"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        url, schema, sender, messages, concurrency, at = sys.argv[2:8]
        asyncio.run(child(url, schema, sender, int(messages), int(concurrency), float(at)))
    else:
        asyncio.run(main())
