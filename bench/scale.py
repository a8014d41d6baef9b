"""The relay's store at scale: a large history against a 10,000-message one, in the same run.

Fills a store (SQLite, then PostgreSQL if one answers) by bulk insertion (COPY on PostgreSQL)
with a history of `--entries` log entries (default 10 million) over five years: one envelope
per five entries (2 million at 10 million) from 300 devices, two recipients each; every
delivery acknowledged but a few, and the last 100 of one device waiting; a retention of one
year for the three agencies, so envelopes older than a year are purged (ciphertext gone), but
those under a legal hold (one case tag in 50,000 envelopes) are kept; the Merkle tree's tiles
as the relay writes them (liaison/store/tiles.py). The small store is the same history's last
50,000 entries (10,000 messages): the same traffic per day, a short past.

Then, for each store, what the relay does (the real code, on the store, without HTTP):
- start: `open_relay` in a fresh process (migrations check, server keys, tiles and the log's
  right edge, the envelope quota's count), its time and that process's resident memory;
- send p99: the store part of one send (precheck, log entry, envelope, two deliveries), one
  group commit each, one at a time;
- inbox fetch p99: the device with 100 waiting (`Store.deliveries`);
- checkpoint p99 (root of the current size, signed) and inclusion proof p99 (a random leaf of
  the whole log) and consistency proof p99 (from a random earlier size), from tiles with the
  relay's tile cache, and again with the cache emptied before each ("cold": every tile read
  from the store; the small store's tiles all fit in the cache);
- review list of one officer for the last month, audit export (an agency's traffic) of the
  last day (`Store.agency_traffic`);
- retention purge of a month: `liaison.server.retention.purge` with a clock a month past the
  first live envelopes' year (the small store: all of its envelopes, fewer than a month's);
  figures per request and per purged envelope.

Every request figure is the p99 of `--samples` requests; the two stores are measured in turns,
`--rounds` times, and the median of the rounds is printed with the ratio to the small store
beside it (the purge runs once per store, at the end of the last round: it purges all of the
small store's envelopes, whose inbox would be empty in the rounds after). Filling is bounded by
`--fill-timeout` seconds: a run that reaches it stops filling and says how many entries it
measured.

    .venv/bin/python bench/scale.py --entries 2000000 --no-sqlite
    .venv/bin/python bench/scale.py --entries 10000000 --no-sqlite
    .venv/bin/python bench/scale.py --entries 200000          # both stores, a few minutes
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import itertools
import json
import os
import random
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # bench/crypto.py would shadow the crypto package

import asyncpg  # noqa: E402

from crypto.merkle import TileEdge  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
DEVICES = 300
DAY = 86_400
FIVE_YEARS = 5 * 365 * DAY
END = 1_798_761_600  # 2027-01-01: the history ends here
RETENTION_DAYS = 365
SMALL = 50_000  # entries: 10,000 messages
CHUNK = 50_000
WAITING = 100
HELD_CASE = hashlib.sha256(b"case 0").digest()[:16]
AGENCIES = ("VN-A0", "CN-A1", "VN-A2")


def device(k: int) -> str:
    k %= DEVICES
    return f"{AGENCIES[k % 3]}:off{k % 100}:d{k // 100}"


WAITING_DEVICE = device(0)
SEND_COUNTER = itertools.count(10**9)  # counters of the measured sends, above the history's


class History:
    """The rows of entries [lo, hi) of a history of `entries` ending at END, `step` s apart."""

    def __init__(self, entries: int, step: float) -> None:
        self.entries = entries
        self.step = step
        self.first_at = END - int(entries * step)
        self.edge = TileEdge()
        envelopes = (entries + 4) // 5
        # The last WAITING envelopes delivered to WAITING_DEVICE stay unacknowledged.
        waiting = [
            k
            for k in range(envelopes - 1, max(-1, envelopes - 20 * WAITING), -1)
            if WAITING_DEVICE in (device(k + 1), device(k + 7))
            or (k % 10 == 0 and device(k) != WAITING_DEVICE)
        ][:WAITING]
        self.waiting_from = min(waiting) if waiting else envelopes

    def at(self, i: int) -> int:
        return self.first_at + int(i * self.step)

    def rows(self, lo: int, hi: int) -> dict[str, list[tuple[Any, ...]]]:
        logs, envs, dels, tags, tiles = [], [], [], [], []
        purge_before = END - RETENTION_DAYS * DAY
        sha256 = hashlib.sha256
        for i in range(lo, hi):
            at = self.at(i)
            data = b'{"at":%d,"i":%d,"kind":"bench","pad":"%s"}' % (at, i, b"x" * 40)
            h = sha256(b"\x00" + data).digest()
            logs.append((i, data, h, at))
            tiles += self.edge.append(h)
            if i % 5:
                continue
            k = i // 5
            message_id = hashlib.md5(b"m%d" % k).hexdigest()  # noqa: S324 (an id, not a MAC)
            sender = device(k)
            held = k % 1000 == 0 and (k // 1000) % 50 == 0
            if held:
                tags.append((message_id, HELD_CASE))
            purged = at < purge_before and not held
            envs.append(
                (
                    message_id,
                    sha256(b"e%d" % k).digest(),
                    sender,
                    k // DEVICES,
                    b"" if purged else b"\x00" * 200,
                    200,
                    i,
                    at,
                    at + RETENTION_DAYS * DAY if purged else None,
                )
            )
            recipients = [device(k + 1), device(k + 7)]
            if k % 10 == 0 and WAITING_DEVICE not in recipients and sender != WAITING_DEVICE:
                recipients.append(WAITING_DEVICE)  # a duty desk: a tenth of the traffic
            for recipient in recipients:
                waiting = recipient == WAITING_DEVICE and k >= self.waiting_from
                unread = waiting or (recipient != WAITING_DEVICE and k % 97 == 0)
                dels.append(
                    (
                        message_id,
                        recipient,
                        None if unread else at + 60,
                        None if unread else i + 1,
                        at,
                    )
                )
        return {
            "log_entries": logs,
            "envelopes": envs,
            "deliveries": dels,
            "case_tags": tags,
            "merkle_tiles": tiles,
        }


COLUMNS = {
    "log_entries": ("idx", "data", "leaf_hash", "created_at"),
    "envelopes": (
        "message_id",
        "envelope_hash",
        "sender_device",
        "counter",
        "envelope",
        "size",
        "log_index",
        "received_at",
        "purged_at",
    ),
    "deliveries": ("message_id", "device_id", "acknowledged_at", "ack_log_index", "received_at"),
    "case_tags": ("message_id", "tag"),
    "merkle_tiles": ("level", "idx", "hashes"),
}


def _static_rows(first_at: int) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "agencies": [(code, code[:2], code, code, b"\x00" * 32, 0, first_at) for code in AGENCIES],
        "retention_periods": [(code, RETENTION_DAYS, 0, first_at) for code in AGENCIES],
        "legal_holds": [("VN-A0", HELD_CASE, "VN-A0:off3:d0", b"\x00" * 32, first_at, 0)],
    }


STATIC_COLUMNS = {
    "agencies": ("code", "country", "name_vi", "name_zh", "root_key", "log_index", "created_at"),
    "retention_periods": ("agency", "days", "log_index", "updated_at"),
    "legal_holds": ("agency", "tag", "placed_by", "reason_hash", "placed_at", "log_index"),
}


def _insert_sql(table: str, names: tuple[str, ...]) -> str:
    quoted = ", ".join(f'"{n}"' for n in names)
    return f"INSERT INTO {table} ({quoted}) VALUES ({', '.join('?' * len(names))})"


async def fill(
    history: History, sqlite_path: Path | None, pg: tuple[str, str] | None, fill_limit: float
) -> tuple[int, float]:
    """Bulk-insert the history; (entries filled, seconds). Stops at a chunk boundary at the
    timeout (the log head says how many entries there are)."""
    began = time.perf_counter()
    filled = 0
    last_report = began
    if sqlite_path is not None:
        conn = sqlite3.connect(sqlite_path, isolation_level=None)
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        for table, rows in _static_rows(history.first_at).items():
            conn.executemany(_insert_sql(table, STATIC_COLUMNS[table]), rows)
    else:
        url, schema = pg
        conn = await asyncpg.connect(url, server_settings={"search_path": schema})
        tx = conn.transaction()
        await tx.start()
        for table, rows in _static_rows(history.first_at).items():
            await conn.copy_records_to_table(
                table, records=rows, columns=STATIC_COLUMNS[table], schema_name=schema
            )
    for lo in range(0, history.entries, CHUNK):
        hi = min(history.entries, lo + CHUNK)
        for table, rows in history.rows(lo, hi).items():
            if not rows:
                continue
            if sqlite_path is not None:
                conn.executemany(_insert_sql(table, COLUMNS[table]), rows)
            else:
                await conn.copy_records_to_table(
                    table, records=rows, columns=COLUMNS[table], schema_name=schema
                )
        filled = hi
        now = time.perf_counter()
        if now - last_report > 15:
            print(f"  filled {filled:,} entries in {now - began:.0f} s", flush=True)
            last_report = now
        if now - began > fill_limit and hi < history.entries:
            print(f"  fill timeout: stopping at {filled:,} entries", flush=True)
            break
    if sqlite_path is not None:
        conn.execute("UPDATE log_head SET size = ? WHERE id = 1", (filled,))
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.close()
    else:
        await conn.execute("UPDATE log_head SET size = $1 WHERE id = 1", filled)
        await tx.commit()
        await conn.execute("VACUUM ANALYZE")  # as autovacuum would: statistics, visibility map
        await conn.close()
    return filled, time.perf_counter() - began


# --- measurements -------------------------------------------------------------------------


def _settings(data_dir: Path, pg: tuple[str, str] | None) -> Any:
    from liaison.server.relay import Settings

    if pg is None:
        return Settings(data_dir=data_dir, origin="scale.bench")
    return Settings(data_dir=data_dir, database_url=pg[0], db_schema=pg[1], origin="scale.bench")


def probe_start(data_dir: str, url: str | None, schema: str | None) -> None:
    """In a fresh process: open the relay as `liaison serve` does; print seconds and RSS."""
    from liaison.server.relay import open_relay

    settings = _settings(Path(data_dir), None if url is None else (url, schema or ""))

    async def run() -> dict[str, float]:
        began = time.perf_counter()
        async with open_relay(settings) as relay:
            took = time.perf_counter() - began
            size, _note = relay.log.checkpoint()
        return {"start_s": took, "size": size}

    figures = asyncio.run(run())
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                figures[line.split(":")[0]] = int(line.split()[1]) / 1024
    print(json.dumps(figures))


def start_figures(data_dir: Path, pg: tuple[str, str] | None, runs: int) -> dict[str, float]:
    found = []
    for _ in range(runs):
        command = [sys.executable, __file__, "--probe-start", str(data_dir)]
        if pg is not None:
            command += ["--probe-url", pg[0], "--probe-schema", pg[1]]
        out = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
        if out.returncode:
            raise RuntimeError(f"the start probe failed:\n{out.stderr}")
        found.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "start s": statistics.median(f["start_s"] for f in found),
        "RSS MiB": statistics.median(f["VmHWM"] for f in found),
    }


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


async def _timed(samples: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(samples):
        t = time.perf_counter()
        result = await call()
        times.append(time.perf_counter() - t)
    return p99(times) * 1000, result


async def measure(
    data_dir: Path, pg: tuple[str, str] | None, samples: int, purge: bool
) -> dict[str, Any]:
    from liaison.server import retention
    from liaison.server.relay import open_relay

    figures: dict[str, Any] = start_figures(data_dir, pg, 3)
    async with open_relay(_settings(data_dir, pg)) as relay:
        store, log = relay.store, relay.log
        size = log.size
        rng = random.Random(7)

        # send: the store part, one group commit per message, one at a time

        async def send() -> int:
            k = next(SEND_COUNTER)
            message_id = secrets.token_hex(16)
            sender = device(k)
            recipients = [device(k + 1), device(k + 7)]

            async def job(tx: Any) -> int:
                await tx.send_precheck(
                    message_id=message_id, sender_device=sender, devices=recipients
                )
                data = b'{"kind":"bench-send","m":"%s"}' % message_id.encode()
                index = await tx.append_log(data, hashlib.sha256(b"\x00" + data).digest(), at=END)
                tx.insert_envelope(
                    message_id=message_id,
                    envelope_hash=hashlib.sha256(message_id.encode()).digest(),
                    sender_device=sender,
                    counter=k,
                    envelope=b"\x00" * 200,
                    log_index=index,
                    received_at=END,
                    recipients=recipients,
                )
                return index

            return await store.write(job)

        figures["send p99 ms"], _ = await _timed(samples, send)

        async def inbox() -> Any:
            return await store.deliveries(
                WAITING_DEVICE, after=0, limit=100, include_acknowledged=False
            )

        figures["inbox p99 ms"], found = await _timed(samples, inbox)
        figures["inbox rows"] = len(found)

        async def checkpoint() -> Any:
            await log.catch_up()
            log._signed = None  # sign afresh: the root of the current size each time
            return log.checkpoint()

        figures["checkpoint p99 ms"], _ = await _timed(samples, checkpoint)
        size = log.size

        async def inclusion() -> Any:
            return await log.inclusion_proof(rng.randrange(size), size)

        figures["inclusion p99 ms"], _ = await _timed(samples * 5, inclusion)

        async def consistency() -> Any:
            return await log.consistency_proof(rng.randrange(1, size), size)

        figures["consistency p99 ms"], _ = await _timed(samples * 5, consistency)

        async def inclusion_cold() -> Any:
            log._tiles.clear()  # every tile read from the store
            return await log.inclusion_proof(rng.randrange(size), size)

        figures["inclusion cold p99 ms"], _ = await _timed(samples, inclusion_cold)

        async def consistency_cold() -> Any:
            log._tiles.clear()
            return await log.consistency_proof(rng.randrange(1, size), size)

        figures["consistency cold p99 ms"], _ = await _timed(samples, consistency_cold)

        async def review() -> Any:
            return await store.agency_traffic(
                "CN-A1", officer_prefix="CN-A1:off7:", start=END - 30 * DAY, end=END, limit=500
            )

        figures["review month p99 ms"], found = await _timed(samples, review)
        figures["review rows"] = len(found)

        async def audit() -> Any:
            return await store.agency_traffic(
                "VN-A2", officer_prefix=None, start=END - DAY, end=END, limit=5000
            )

        figures["audit day p99 ms"], found = await _timed(samples, audit)
        figures["audit rows"] = len(found)

        figures["size"] = size
        if not purge:
            return figures
        # Retention: the first month of live envelopes falls due.
        first_live = max(END - RETENTION_DAYS * DAY, (await _first_at(store)))
        purge_at = first_live + RETENTION_DAYS * DAY + 30 * DAY
        relay.clock = lambda: purge_at
        t = time.perf_counter()
        report = await retention.purge(relay, now=purge_at)
        took = time.perf_counter() - t
        figures["purge s"] = took
        figures["purged"] = len(report.purged)
        figures["held"] = len(report.held)
        figures["purge ms/envelope"] = took * 1000 / max(1, len(report.purged))
    return figures


async def _first_at(store: Any) -> int:
    from sqlalchemy import func, select

    from liaison.store.tables import envelopes

    async with store.read_connection() as conn:
        return int((await conn.execute(select(func.min(envelopes.c.received_at)))).scalar_one())


async def one_store(
    label: str, entries: int, url: str | None, samples: int, fill_limit: float, rounds: int
) -> list[dict[str, Any]]:
    """Fill the small and the large store, then measure them in turns, `rounds` times (the
    purge at the end of the last round only: it changes the store); each figure is the median
    of the rounds, so that a burst of load on this shared machine does not fall on one store."""
    from liaison.server.relay import open_relay

    step = FIVE_YEARS / entries
    stores: list[tuple[Path, tuple[str, str] | None, int, float]] = []
    with contextlib.ExitStack() as folders:
        try:
            for count in (SMALL, entries):
                data_dir = Path(folders.enter_context(tempfile.TemporaryDirectory()))
                pg = None
                if url is not None:
                    pg = (url, f"scale_{secrets.token_hex(4)}")
                    admin = await asyncpg.connect(url)
                    await admin.execute(f'CREATE SCHEMA "{pg[1]}"')
                    await admin.close()
                stores.append((data_dir, pg, 0, 0.0))
                async with open_relay(_settings(data_dir, pg)):
                    pass  # migrated, keys made
                history = History(count, step)
                sqlite_path = None if pg else data_dir / "liaison.db"
                print(f"{label}: filling {count:,} entries", flush=True)
                filled, seconds = await fill(history, sqlite_path, pg, fill_limit)
                print(f"{label}: filled {filled:,} entries in {seconds:.0f} s", flush=True)
                stores[-1] = (data_dir, pg, filled, seconds)
            runs: list[list[dict[str, Any]]] = [[], []]
            for turn in range(rounds):
                for which, (data_dir, pg, filled, seconds) in enumerate(stores):
                    gc.collect()
                    figures = await measure(data_dir, pg, samples, purge=turn == rounds - 1)
                    figures["fill s"] = seconds
                    runs[which].append(figures)
                    shown = "  ".join(
                        f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in figures.items()
                    )
                    print(f"{label} round {turn + 1}, {filled:,} entries: {shown}", flush=True)
        finally:
            for _dir, pg, _n, _s in stores:
                if pg is not None:
                    admin = await asyncpg.connect(url)
                    await admin.execute(f'DROP SCHEMA "{pg[1]}" CASCADE')
                    await admin.close()
    results = []
    for per_store in runs:
        merged = dict(per_store[-1])  # the purge's figures come from the last round
        for key, value in per_store[0].items():
            if isinstance(value, float) and not key.startswith(("purge", "fill")):
                merged[key] = statistics.median(f[key] for f in per_store)
        results.append(merged)
    small, large = results
    print(
        f"\n{label}: {large['size']:,} entries against {small['size']:,}"
        " (median of the rounds; ratio large/small)"
    )
    for key in (
        "start s",
        "RSS MiB",
        "send p99 ms",
        "inbox p99 ms",
        "checkpoint p99 ms",
        "inclusion p99 ms",
        "consistency p99 ms",
        "inclusion cold p99 ms",
        "consistency cold p99 ms",
        "review month p99 ms",
        "audit day p99 ms",
        "purge ms/envelope",
    ):
        ratio = large[key] / small[key] if small[key] else float("inf")
        print(f"  {key:<22} {small[key]:>10.2f} {large[key]:>10.2f}   {ratio:5.2f}x")
    print(
        f"  rows (small/large): review {small['review rows']}/{large['review rows']},"
        f" audit {small['audit rows']}/{large['audit rows']},"
        f" purged {small['purged']}/{large['purged']}, held {small['held']}/{large['held']}",
        flush=True,
    )
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fill-timeout", type=float, default=3600)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument(
        "--postgres", default=os.environ.get("LIAISON_BENCH_DATABASE_URL", PG_DEFAULT)
    )
    args = parser.parse_args()
    print(
        f"bench/scale.py --entries {args.entries} (load average {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    if not args.no_sqlite:
        await one_store("SQLite", args.entries, None, args.samples, args.fill_timeout, args.rounds)
    if not args.no_postgres:
        await one_store(
            "PostgreSQL", args.entries, args.postgres, args.samples, args.fill_timeout, args.rounds
        )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--probe-start":
        args = sys.argv[2:]
        url = args[args.index("--probe-url") + 1] if "--probe-url" in args else None
        schema = args[args.index("--probe-schema") + 1] if "--probe-schema" in args else None
        probe_start(args[0], url, schema)
    else:
        asyncio.run(main())
