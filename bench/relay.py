"""Relay benchmark: accepted messages/s, send and delivery latency, against a bare aiohttp ceiling.

Starts `liaison serve` (SQLite, then PostgreSQL if one answers) on loopback, enrols 16 devices,
and has 16 concurrent clients send 2 KiB envelopes to 3 devices each while every device listens
on its WebSocket. Then, in the same run, measures a bare aiohttp route that parses the same JSON
body: the ceiling of this machine. Bounded in messages and seconds; loopback only.

    .venv/bin/python bench/relay.py [--clients 16] [--messages 800] [--seconds 15]
                                    [--repeat 3] [--no-postgres] [--no-minimal]
                                    [--workers 1 [2 ...]]

PostgreSQL runs `--repeat` times too, after each SQLite run, once for each `--workers` count
(`liaison serve --workers N`; 1 is the plain single process), and the last table puts the
medians side by side with the targets of issue 17: PostgreSQL accepted msg/s against SQLite's,
server CPU per message against SQLite's, delivery p99 at half load. Server CPU is the relay's
processes (the supervisor and its workers); the PostgreSQL backends serving the run's database
are printed apart (the server's shared background writers are not counted: other databases
share them). The load generator (this process) runs on the same cores: its own CPU per message
is printed, since on a 2-core machine it takes a large share of what the relay could use.

The ceiling moves with the machine's other load from one second to the next, so each SQLite
run is followed by its own ceiling run, and `--repeat` runs the pair several times and prints
the medians.

Between the two, the same clients load bench/minimal_relay.py, a server that does only the
work every relay must do per message, written as directly as the libraries allow, one stage
more at a time: check the token and the envelope's Ed25519 signature (`verify`), then push
three WebSocket notices (`push`), then store it durably first (`store`). Its rates say how
close to the ceiling any relay in one Python process can come on this machine, and the relay's
own rate against the `store` stage says what the rest of its work (directory, revocation,
duplicate and counter checks, Merkle log, schema) costs. `--no-minimal` skips them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crypto.encoding import b64d, b64e  # noqa: E402
from tests.server.factory import AgencyKit, DeviceKit  # noqa: E402

ENVELOPE_BYTES = 2048
FANOUT = 3
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
# bench/minimal_relay.py: what any relay must do per message, one more stage at a time.
MINIMAL_STAGES = ("verify", "push", "store")
MINIMAL_WORDS = {
    "verify": "token, JSON, envelope parse, Ed25519 check",
    "push": "the same and 3 WebSocket notices",
    "store": "the same, stored and fsynced first",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            if proc.poll() is not None:
                raise RuntimeError("server exited at start")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not start")


# --- the ceiling: a bare aiohttp route parsing the same JSON ---------------------------------

CEILING_SERVER = """
import json, sys
from aiohttp import web
async def handle(request):
    body = json.loads(await request.read())
    return web.json_response({"ok": isinstance(body.get("envelope"), str)}, status=201)
async def health(request):
    return web.json_response({"status": "ok"})
app = web.Application(client_max_size=4 << 20)
app.router.add_post("/v1/messages", handle)
app.router.add_get("/v1/health", health)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


# --- the relay run ---------------------------------------------------------------------------


@dataclass
class Client:
    device: DeviceKit
    token: str = ""
    envelopes: list[tuple[str, bytes]] = field(default_factory=list)  # (message id, body)


@dataclass
class Results:
    sent: int = 0
    errors: int = 0
    elapsed: float = 0.0
    send_latency: list[float] = field(default_factory=list)
    delivery_latency: list[float] = field(default_factory=list)


class Bench:
    def __init__(self, base: str, clients: int, messages: int, seconds: float) -> None:
        self.base = base
        self.n_clients = clients
        self.messages = messages
        self.seconds = seconds
        self.clients: list[Client] = []
        self.sent_at: dict[str, float] = {}
        self.delivered: list[float] = []
        self.expect = 0
        self.all_delivered = asyncio.Event()

    async def setup(self, session: aiohttp.ClientSession, admin_token: str) -> None:
        vn = AgencyKit("VN-QN-CA", "Công an tỉnh Quảng Ninh", "广宁省公安厅")
        cn = AgencyKit("CN-GX-DX", "Công an thành phố Đông Hưng", "东兴市公安局")
        for agency in (vn, cn):
            await self._post(session, "/v1/agencies", agency.registration(), admin_token)
        server = await (await session.get(f"{self.base}/v1/server")).json()
        log_key = b64d(server["log_public_key"])
        for i in range(self.n_clients):
            agency = vn if i % 2 == 0 else cn
            device = agency.device(f"officer{i}")
            await self._post(session, "/v1/certificates", device.upload())
            challenge = await self._post(
                session, "/v1/auth/challenge", {"device_id": device.device_id}
            )
            signature = device.sign_challenge(log_key, b64d(challenge["challenge"]))
            token = await self._post(
                session,
                "/v1/auth/token",
                {
                    "device_id": device.device_id,
                    "challenge": challenge["challenge"],
                    "signature": b64e(signature),
                },
            )
            self.clients.append(Client(device, token["token"]))
        padding = self._padding()
        for i, client in enumerate(self.clients):
            recipients = [self.clients[(i + k) % self.n_clients].device for k in (1, 2, 3)]
            for _ in range(self.messages):
                envelope = client.device.seal(recipients, "", padding=padding)
                body = json.dumps({"envelope": b64e(envelope.to_bytes())}).encode()
                client.envelopes.append((envelope.header.message_id, body))

    def _padding(self) -> int:
        devices = [c.device for c in self.clients[:4]]
        probe = devices[0].seal(devices[1:4], "", padding=0, counter=0)
        return max(0, ENVELOPE_BYTES - len(probe.to_bytes()))

    async def _post(
        self, session: aiohttp.ClientSession, path: str, body: dict, token: str = ""
    ) -> dict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with session.post(f"{self.base}{path}", json=body, headers=headers) as response:
            answer = await response.json()
            if response.status >= 300:
                raise RuntimeError(f"{path}: {response.status} {answer}")
            return answer

    async def listen(
        self, session: aiohttp.ClientSession, client: Client, ready: asyncio.Event
    ) -> None:
        async with session.ws_connect(f"{self.base}/v1/ws", params={"token": client.token}) as ws:
            ready.set()
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                notice = json.loads(message.data)
                started = self.sent_at.get(notice["message_id"])
                if started is not None:
                    self.delivered.append(time.perf_counter() - started)
                    if len(self.delivered) >= self.expect:
                        self.all_delivered.set()

    async def listen_all(self, session: aiohttp.ClientSession) -> list[asyncio.Task[None]]:
        """Every client listening on its WebSocket; returns once all are connected."""
        readies = [asyncio.Event() for _ in self.clients]
        listeners = [
            asyncio.create_task(self.listen(session, c, r))
            for c, r in zip(self.clients, readies, strict=True)
        ]
        await asyncio.gather(*(r.wait() for r in readies))
        return listeners

    async def run_phase(
        self, session: aiohttp.ClientSession, *, rate: float | None, offset: int, count: int
    ) -> Results:
        """Closed loop when `rate` is None; otherwise each client paces to rate/clients."""
        results = Results()
        self.delivered = []
        self.all_delivered = asyncio.Event()
        deadline = time.perf_counter() + self.seconds
        interval = None if rate is None else self.n_clients / rate

        async def one(client: Client, index: int) -> None:
            next_at = time.perf_counter() + (
                secrets.randbelow(1000) / 1000 * interval if interval else 0
            )
            for message_id, body in client.envelopes[offset : offset + count]:
                if time.perf_counter() > deadline:
                    break
                if interval is not None:
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    next_at += interval
                started = time.perf_counter()
                self.sent_at[message_id] = started
                async with session.post(
                    f"{self.base}/v1/messages",
                    data=body,
                    headers={
                        "Authorization": f"Bearer {client.token}",
                        "Content-Type": "application/json",
                    },
                ) as response:
                    await response.read()
                    ok = response.status in (200, 201)
                results.send_latency.append(time.perf_counter() - started)
                if ok:
                    results.sent += 1
                else:
                    results.errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(one(c, i) for i, c in enumerate(self.clients)))
        results.elapsed = time.perf_counter() - began
        self.expect = results.sent * FANOUT
        if len(self.delivered) < self.expect:
            try:
                await asyncio.wait_for(self.all_delivered.wait(), timeout=10)
            except TimeoutError:
                pass
        results.delivery_latency = list(self.delivered)
        return results


async def ceiling(clients: int, messages: int, seconds: float, body: bytes) -> float:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", CEILING_SERVER, str(port)])  # noqa: ASYNC220
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_up(f"{base}/v1/health", proc)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            deadline = time.perf_counter() + seconds
            done = 0

            async def one() -> None:
                nonlocal done
                for _ in range(messages):
                    if time.perf_counter() > deadline:
                        break
                    async with session.post(
                        f"{base}/v1/messages",
                        data=body,
                        headers={"Content-Type": "application/json"},
                    ) as response:
                        await response.read()
                    done += 1

            began = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(clients)))
            return done / (time.perf_counter() - began)
    finally:
        proc.terminate()
        proc.wait()


async def minimal_rates(bench: Bench, args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    """Full-load rate of each stage of bench/minimal_relay.py, with the relay run's clients,
    tokens and envelopes: how fast a server doing only the mandatory work per message goes."""
    rates: dict[str, tuple[float, float]] = {}
    data_dir = Path(tempfile.mkdtemp(prefix="liaison-bench-minimal-"))
    try:
        keys = data_dir / "keys.json"
        keys.write_text(
            json.dumps(
                {
                    "tokens": {c.token: c.device.device_id for c in bench.clients},
                    "keys": {
                        c.device.device_id: b64e(c.device.keys.signing_public)
                        for c in bench.clients
                    },
                }
            )
        )
        for stage in MINIMAL_STAGES:
            rates[stage] = await minimal_rate(bench, args, keys, stage, data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return rates


async def minimal_rate(
    bench: Bench, args: argparse.Namespace, keys: Path, stage: str, data_dir: Path
) -> tuple[float, float]:
    """Messages/s at full load, and how busy the server's event-loop thread was."""
    port = free_port()
    server = ROOT / "bench" / "minimal_relay.py"
    command = [sys.executable, str(server), str(port), str(keys), stage, str(data_dir)]
    proc = subprocess.Popen(command)  # noqa: ASYNC220 (started once, before any load)
    try:
        bench.base = f"http://127.0.0.1:{port}"
        await wait_up(f"{bench.base}/v1/health", proc)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            listeners = await bench.listen_all(session)
            loop_before = process_cpu(proc.pid, thread=proc.pid)
            run = await bench.run_phase(session, rate=None, offset=0, count=args.messages // 2)
            loop_cpu = process_cpu(proc.pid, thread=proc.pid) - loop_before
            for task in listeners:
                task.cancel()
    finally:
        proc.terminate()
        proc.wait()
    if run.errors:
        raise RuntimeError(f"minimal relay, stage {stage}: {run.errors} requests refused")
    return run.sent / run.elapsed, loop_cpu / run.elapsed


async def bench_relay(
    label: str, db: str | None, args: argparse.Namespace, workers: int = 1
) -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix="liaison-bench-"))
    # The relay keeps only the admin token's hash: hand it a known token to hash on first start.
    admin = secrets.token_hex(32)
    (data_dir / "admin.token").write_text(admin + "\n")
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "liaison",
        "serve",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--no-rate-limits",  # the benchmark measures the relay at full rate, not its limits
    ]
    if db:
        command += ["--db", db]
    if workers > 1:
        command += ["--workers", str(workers)]
    database = db.rsplit("/", 1)[1] if db else ""
    proc = subprocess.Popen(  # noqa: ASYNC220 (started once, before any load)
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_up(f"{base}/v1/health", proc)
        bench = Bench(base, args.clients, args.messages, args.seconds)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            await bench.setup(session, admin)
            listeners = await bench.listen_all(session)
            half = args.messages // 2
            cpu_before = tree_cpu(proc.pid)
            pg_before = postgres_cpu(database) if database else 0.0
            loop_before = process_cpu(proc.pid, thread=proc.pid)
            own_before = time.process_time()
            full = await bench.run_phase(session, rate=None, offset=0, count=half)
            own_cpu = time.process_time() - own_before
            full_cpu = tree_cpu(proc.pid) - cpu_before
            pg_cpu = (postgres_cpu(database) - pg_before) if database else 0.0
            loop_cpu = process_cpu(proc.pid, thread=proc.pid) - loop_before
            rate = full.sent / full.elapsed
            paced = await bench.run_phase(
                session, rate=rate / 2, offset=half, count=args.messages - half
            )
            for task in listeners:
                task.cancel()
        body = bench.clients[0].envelopes[0][1]
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
    minimal = {} if db or args.no_minimal else await minimal_rates(bench, args)
    return {
        "minimal": minimal,
        "label": label,
        "full": full,
        "paced": paced,
        "rate": rate,
        "body": body,
        "cpu_per_message": full_cpu / max(1, full.sent),
        "pg_cpu_per_message": pg_cpu / max(1, full.sent),
        "client_cpu_per_message": own_cpu / max(1, full.sent),
        "loop_busy": loop_cpu / full.elapsed if full.elapsed and workers == 1 else None,
        "workers": workers,
    }


async def postgres_database(url: str) -> str | None:
    """A fresh database for the run on the server at `url`, or None when none answers."""
    try:
        import asyncpg

        conn = await asyncpg.connect(url, timeout=3)
    except (OSError, Exception):
        return None
    name = f"liaison_bench_{secrets.token_hex(4)}"
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return url.rsplit("/", 1)[0] + f"/{name}"


async def drop_database(url: str, db_url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    await conn.execute(f'DROP DATABASE IF EXISTS "{db_url.rsplit("/", 1)[1]}" WITH (FORCE)')
    await conn.close()


def proc_status_kib(pid: int, field: str) -> int:
    """A size from /proc/PID/status in KiB (Linux): `VmRSS` now, `VmHWM` its peak."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (the supervisor's workers)."""
    total = process_cpu(pid)
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(tree_cpu(int(child)) for child in children)


def postgres_cpu(database: str) -> float:
    """CPU seconds of the PostgreSQL backends connected to `database` (their command lines
    name it); 0 when the server is not on this machine or not readable."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(b"postgres: ") and f" {database} ".encode() in cmdline:
            total += process_cpu(int(proc.name))
    return total


def process_cpu(pid: int, thread: int | None = None) -> float:
    """User + system CPU seconds of a process, or of one of its threads (Linux /proc; 0
    elsewhere). The main thread's id is the process id: it runs the relay's event loop."""
    stat = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    try:
        fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> None:
    """The machine's other load skews every figure, the ceiling most: print it with them."""
    if hasattr(os, "getloadavg"):
        one, five, _ = os.getloadavg()
        print(f"load average    {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs")


def ms(value: float) -> str:
    return f"{value * 1000:.1f} ms"


def report(run: dict, ceiling_rate: float) -> None:
    full, paced = run["full"], run["paced"]
    print(f"\n== {run['label']} ==")
    print(
        f"accepted        {run['rate']:.0f} msg/s  ({full.sent} messages, {full.errors} errors, "
        f"{full.elapsed:.1f} s, {FANOUT} recipients each)"
    )
    print(f"ceiling         {ceiling_rate:.0f} req/s  (bare aiohttp JSON route)")
    print(f"ratio           {run['rate'] / ceiling_rate:.0%}")
    minimal = run.get("minimal", {})
    for stage, (rate, busy) in minimal.items():
        print(
            f"minimal {stage:<7} {rate:.0f} msg/s  ({rate / ceiling_rate:.0%} of the ceiling; "
            f"{MINIMAL_WORDS[stage]}; event loop {busy:.0%} busy)"
        )
    if "store" in minimal:
        print(
            f"relay/minimal   {run['rate'] / minimal['store'][0]:.0%} of the minimal durable relay"
        )
    loop = "" if run["loop_busy"] is None else f"; event-loop thread {run['loop_busy']:.0%} busy"
    print(
        f"server CPU      {ms(run['cpu_per_message'])} per accepted message (relay processes, "
        f"all threads){loop}"
    )
    if run["pg_cpu_per_message"]:
        print(f"PostgreSQL CPU  {ms(run['pg_cpu_per_message'])} per message (its backends)")
    print(
        f"load generator  {ms(run['client_cpu_per_message'])} CPU per message (this process, "
        f"same cores)"
    )
    print(
        f"send latency    p50 {ms(percentile(full.send_latency, 0.5))}  "
        f"p99 {ms(percentile(full.send_latency, 0.99))}  (full load)"
    )
    print(
        f"delivery        p50 {ms(percentile(full.delivery_latency, 0.5))}  "
        f"p99 {ms(percentile(full.delivery_latency, 0.99))}  (full load, "
        f"{len(full.delivery_latency)}/{full.sent * FANOUT} pushes)"
    )
    print(
        f"half load       {paced.sent / paced.elapsed:.0f} msg/s offered, send p50 "
        f"{ms(percentile(paced.send_latency, 0.5))} p99 {ms(percentile(paced.send_latency, 0.99))}"
    )
    print(
        f"delivery @half  p50 {ms(percentile(paced.delivery_latency, 0.5))}  "
        f"p99 {ms(percentile(paced.delivery_latency, 0.99))}  "
        f"({len(paced.delivery_latency)}/{paced.sent * FANOUT} pushes)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--messages", type=int, default=800, help="per client, both phases")
    parser.add_argument("--seconds", type=float, default=15.0, help="cap per phase")
    parser.add_argument(
        "--repeat", type=int, default=3, help="SQLite and ceiling runs (medians printed)"
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--no-minimal",
        action="store_true",
        help="skip the reference servers of bench/minimal_relay.py",
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="PostgreSQL runs with each of these worker counts (liaison serve --workers N)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("LIAISON_BENCH_DATABASE_URL", PG_DEFAULT),
        help="server to create a throw-away database on",
    )
    args = parser.parse_args()
    if args.repeat < 1 or args.clients < 1 or args.messages < 2:
        parser.error("--repeat and --clients must be at least 1, --messages at least 2")
    print(
        f"Liaison relay benchmark: {args.clients} clients, {ENVELOPE_BYTES}-byte envelopes to "
        f"{FANOUT} devices, WebSocket receive, {os.cpu_count()} CPUs, loopback"
    )
    load_average()
    sqlite_label = "SQLite (synchronous=FULL, WAL, group commit)"
    rates, ceilings, ratios = [], [], []
    minimal_ratios: dict[str, list[float]] = {}
    of_minimal: list[float] = []
    pg_url = None if args.no_postgres else await postgres_database(args.postgres)
    if not args.no_postgres and pg_url is None:
        print("\nPostgreSQL: not reachable, skipped")
    side_by_side: dict[str, list[dict]] = {"SQLite": []}
    for i in range(args.repeat):
        run = await bench_relay(sqlite_label, None, args)
        top = await ceiling(args.clients, args.messages, args.seconds, run["body"])
        if args.repeat > 1:
            run["label"] = f"{sqlite_label}, run {i + 1} of {args.repeat}"
        report(run, top)
        load_average()
        rates.append(run["rate"])
        ceilings.append(top)
        ratios.append(run["rate"] / top)
        for stage, (rate, _) in run["minimal"].items():
            minimal_ratios.setdefault(stage, []).append(rate / top)
        if "store" in run["minimal"]:
            of_minimal.append(run["rate"] / run["minimal"]["store"][0])
        side_by_side["SQLite"].append(run)
        for workers in args.workers if pg_url else []:
            # A fresh database each run: every run starts from the same empty store.
            db = await postgres_database(args.postgres)
            assert db is not None
            name = "PostgreSQL" + (f", {workers} workers" if workers > 1 else "")
            try:
                pg_run = await bench_relay(
                    f"{name}, run {i + 1} of {args.repeat}", db, args, workers
                )
            finally:
                await drop_database(args.postgres, db)
            report(pg_run, top)
            side_by_side.setdefault(name, []).append(pg_run)
    if args.repeat > 1:
        print(
            f"\n== SQLite, median of {args.repeat} runs ==\n"
            f"accepted        {statistics.median(rates):.0f} msg/s  "
            f"(range {min(rates):.0f}–{max(rates):.0f})\n"
            f"ceiling         {statistics.median(ceilings):.0f} req/s  "
            f"(range {min(ceilings):.0f}–{max(ceilings):.0f})\n"
            f"ratio           {statistics.median(ratios):.0%}  "
            f"(range {min(ratios):.0%}–{max(ratios):.0%}; each run against its own ceiling)"
        )
        for stage, values in minimal_ratios.items():
            print(
                f"minimal {stage:<7} {statistics.median(values):.0%} of the ceiling  "
                f"(range {min(values):.0%}–{max(values):.0%}; {MINIMAL_WORDS[stage]})"
            )
        if of_minimal:
            print(
                f"relay/minimal   {statistics.median(of_minimal):.0%} of the minimal durable "
                f"relay  (range {min(of_minimal):.0%}–{max(of_minimal):.0%})"
            )
    if pg_url is not None:
        await drop_database(args.postgres, pg_url)
    compare(side_by_side, args.repeat)
    load_average()


def compare(side_by_side: dict[str, list[dict]], repeat: int) -> None:
    """Medians of every store and worker count, side by side, against issue 17's targets."""
    print(f"\n== Side by side, median of {repeat} ==")
    sqlite = side_by_side["SQLite"]
    base_rate = statistics.median(r["rate"] for r in sqlite)
    base_cpu = statistics.median(r["cpu_per_message"] for r in sqlite)
    print(
        f"{'':<26}{'accepted':>10}{'vs SQLite':>11}{'CPU/msg':>10}{'vs SQLite':>11}"
        f"{'+PG CPU':>9}{'gen CPU':>9}{'p99 @half':>11}"
    )
    for name, runs in side_by_side.items():
        rate = statistics.median(r["rate"] for r in runs)
        cpu = statistics.median(r["cpu_per_message"] for r in runs)
        pg = statistics.median(r["pg_cpu_per_message"] for r in runs)
        gen = statistics.median(r["client_cpu_per_message"] for r in runs)
        p99 = statistics.median(percentile(r["paced"].delivery_latency, 0.99) for r in runs)
        print(
            f"{name:<26}{rate:>6.0f}/s{rate / base_rate:>11.0%}{cpu * 1000:>7.2f} ms"
            f"{cpu / base_cpu:>10.2f}x{pg * 1000:>6.2f} ms{gen * 1000:>6.2f} ms{ms(p99):>11}"
        )
    print("targets: PostgreSQL accepted >= 80 % of SQLite; CPU/msg <= 1.10x; p99 @half <= 20 ms")


if __name__ == "__main__":
    asyncio.run(main())
