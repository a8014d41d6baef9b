"""Federation benchmark (issue 15 §5): cross-border delivery latency against the same on one
relay, in the same run, and forwarding throughput.

Starts two `liaison serve` processes on loopback (a Vietnamese and a Chinese relay, SQLite),
peers them with `liaison peer`, enrols Vietnamese senders and two recipients, one on each
relay, each listening on its relay's WebSocket. Then:
1. throughput: the senders send as fast as they can (closed loop), first to the local
   recipient, then across the border; the rate counts messages accepted *and* delivered to
   the recipient's socket;
2. latency at half load: the senders pace to half the lower of the two rates, every other
   message to the local recipient and the others across the border (so both kinds meet the
   same load, interleaved); the latency is from the start of the send to the recipient's push
   notice, on its own relay.
With --stages, the relays note each stage of a forwarded envelope (liaison/server/federation/
trace.py) and the bench prints where the time of the latency phase goes, stage by stage.
Bounded in messages and seconds; loopback only.

    .venv/bin/python bench/federation.py [--senders 8] [--messages 150] [--repeat 3] [--stages]

With `--blob-mib N` it measures instead one attachment blob of N MiB crossing (PROTOCOL.md
§16.6): the time from the send to the recipient seeing the message, and each relay's peak
resident memory above its size just before (the peak is reset through /proc/PID/clear_refs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
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

from bench.relay import free_port, percentile, proc_status_kib  # noqa: E402
from crypto.encoding import b64d, b64e  # noqa: E402
from tests.server.factory import AgencyKit, DeviceKit  # noqa: E402

ENVELOPE_BYTES = 2048


def ms(value: float) -> str:
    return f"{value * 1000:.1f} ms"


TRACE_ENV = "LIAISON_FEDERATION_TRACE"  # liaison/server/federation/trace.py
# A forwarded envelope's stages in order: the bench's own around the relays' (trace.py).
CROSS_STAGES = (
    "sent",
    "accepted",
    "out_committed",
    "out_batch",
    "out_posted",
    "in_received",
    "in_authenticated",
    "in_verified",
    "in_writing",
    "in_written",
    "in_committed",
    "delivered",
)
LOCAL_STAGES = ("sent", "accepted", "delivered")


class Relay:
    def __init__(self, folder: Path, *, trace: bool = False) -> None:
        self.data_dir = folder / "data"
        self.data_dir.mkdir(parents=True)
        self.token = secrets.token_hex(32)
        (self.data_dir / "admin.token").write_text(self.token + "\n")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (folder / "relay.log").open("wb")
        self.trace = folder / "stages.txt" if trace else None
        self.collections: list[float] = []  # seconds of each full garbage collection
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if self.trace is not None:
            env[TRACE_ENV] = str(self.trace)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "liaison", "serve", "--data-dir", str(self.data_dir)]
            + ["--port", str(self.port), "--no-rate-limits"],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def stages(self) -> dict[str, dict[str, float]]:
        """message id -> stage -> time, as this relay noted them (empty without --stages)."""
        out: dict[str, dict[str, float]] = {}
        if self.trace is None or not self.trace.exists():
            return out
        for line in self.trace.read_text().splitlines():
            mid, stage, at = line.split()
            if mid == "-":
                self.collections.append(float(at))
                continue
            out.setdefault(mid, {}).setdefault(stage, float(at))  # the first attempt's
        return out

    def cli(self, *args: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "liaison", *args, "--data-dir", str(self.data_dir), "--json"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=60,
            check=True,
        )
        return json.loads(done.stdout)

    async def wait_up(self, session: aiohttp.ClientSession) -> None:
        for _ in range(400):
            if self.proc.poll() is not None:
                raise RuntimeError("relay exited at start")
            try:
                async with session.get(f"{self.url}/v1/health") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise RuntimeError("relay did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


async def post(session, url: str, body: dict, token: str = "") -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.post(url, json=body, headers=headers) as answer:
        data = await answer.json()
        if answer.status >= 300:
            raise RuntimeError(f"{url}: {answer.status} {data}")
        return data


async def login(session, relay: Relay, device: DeviceKit) -> str:
    server = await (await session.get(f"{relay.url}/v1/server")).json()
    challenge = await post(
        session, f"{relay.url}/v1/auth/challenge", {"device_id": device.device_id}
    )
    signature = device.sign_challenge(b64d(server["log_public_key"]), b64d(challenge["challenge"]))
    answer = await post(
        session,
        f"{relay.url}/v1/auth/token",
        {
            "device_id": device.device_id,
            "challenge": challenge["challenge"],
            "signature": b64e(signature),
        },
    )
    return str(answer["token"])


@dataclass
class Sender:
    device: DeviceKit
    token: str
    queue: list[tuple[str, str, bytes]] = field(default_factory=list)  # (kind, id, body)


class World:
    def __init__(self, vn: Relay, cn: Relay) -> None:
        self.vn, self.cn = vn, cn
        self.sent_at: dict[str, float] = {}
        self.latency: dict[str, list[float]] = {"local": [], "cross": []}
        self.kind: dict[str, str] = {}
        self.waiting = 0
        self.done = asyncio.Event()
        self.stamps: dict[str, dict[str, float]] | None = None  # the bench's stages, when kept

    async def setup(self, session, senders: int) -> None:
        vn_agency = AgencyKit("VN-QN-CA", "Công an tỉnh Quảng Ninh", "广宁省公安厅")
        cn_agency = AgencyKit("CN-GX-DX", "Công an thành phố Đông Hưng", "东兴市公安局")
        ids = {r: r.cli("peer", "identity") for r in (self.vn, self.cn)}
        self.vn.cli("peer", "add", self.cn.url, ids[self.cn]["fingerprint"])
        self.cn.cli("peer", "add", self.vn.url, ids[self.vn]["fingerprint"])
        self.vn.cli("peer", "home", cn_agency.code, ids[self.cn]["origin"])
        self.cn.cli("peer", "home", vn_agency.code, ids[self.vn]["origin"])
        await post(session, f"{self.vn.url}/v1/agencies", vn_agency.registration(), self.vn.token)
        await post(session, f"{self.cn.url}/v1/agencies", cn_agency.registration(), self.cn.token)
        self.local = vn_agency.device("local.recipient")
        self.foreign = cn_agency.device("foreign.recipient")
        await post(session, f"{self.vn.url}/v1/certificates", self.local.upload())
        await post(session, f"{self.cn.url}/v1/certificates", self.foreign.upload())
        self.senders = []
        for i in range(senders):
            device = vn_agency.device(f"sender{i}")
            await post(session, f"{self.vn.url}/v1/certificates", device.upload())
            self.senders.append(Sender(device, await login(session, self.vn, device)))
        probe = self.senders[0].device.seal([self.foreign], "", padding=0, counter=0)
        self.padding = max(0, ENVELOPE_BYTES - len(probe.to_bytes()))
        self.local_token = await login(session, self.vn, self.local)
        self.foreign_token = await login(session, self.cn, self.foreign)
        await asyncio.sleep(2.5)  # the relays read their peer tables every 2 s

    def seal(self, sender: Sender, kind: str) -> tuple[str, str, bytes]:
        recipient = self.local if kind == "local" else self.foreign
        envelope = sender.device.seal([recipient], "", padding=self.padding)
        mid = envelope.header.message_id
        self.kind[mid] = kind
        return kind, mid, json.dumps({"envelope": b64e(envelope.to_bytes())}).encode()

    async def listen(self, session, relay: Relay, token: str, ready: asyncio.Event) -> None:
        async with session.ws_connect(f"{relay.url}/v1/ws", params={"token": token}) as ws:
            ready.set()
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                notice = json.loads(message.data)
                started = self.sent_at.pop(notice.get("message_id"), None)
                if started is not None:
                    self._stamp(notice["message_id"], "delivered")
                    kind = self.kind[notice["message_id"]]
                    self.latency[kind].append(time.perf_counter() - started)
                    self.waiting -= 1
                    if self.waiting == 0:
                        self.done.set()

    def _stamp(self, mid: str, stage: str) -> None:
        if self.stamps is not None:
            self.stamps.setdefault(mid, {})[stage] = time.perf_counter()

    async def phase(self, session, plan: list[list[tuple[str, str, bytes]]], rate: float | None):
        """Each sender sends its list (closed loop, or paced to rate/senders); answers the
        seconds until every message is both accepted and delivered."""
        self.latency = {"local": [], "cross": []}
        self.waiting = sum(len(p) for p in plan)
        self.done = asyncio.Event()
        interval = None if rate is None else len(plan) / rate

        async def one(sender: Sender, items: list[tuple[str, str, bytes]]) -> None:
            next_at = time.perf_counter() + (
                secrets.randbelow(1000) / 1000 * interval if interval else 0
            )
            for _kind, mid, body in items:
                if interval is not None:
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    next_at += interval
                self.sent_at[mid] = time.perf_counter()
                self._stamp(mid, "sent")
                async with session.post(
                    f"{self.vn.url}/v1/messages",
                    data=body,
                    headers={
                        "Authorization": f"Bearer {sender.token}",
                        "Content-Type": "application/json",
                    },
                ) as answer:
                    await answer.read()
                    self._stamp(mid, "accepted")
                    if answer.status != 201:
                        raise RuntimeError(f"send: {answer.status}")

        began = time.perf_counter()
        await asyncio.gather(*(one(s, p) for s, p in zip(self.senders, plan, strict=True)))
        self.accepted_in = time.perf_counter() - began
        try:
            await asyncio.wait_for(self.done.wait(), timeout=60)
        except TimeoutError:
            missing = {self.kind[m] for m in self.sent_at}
            peers = self.vn.cli("peer", "list")["peers"]
            raise RuntimeError(f"not delivered: {len(self.sent_at)} {missing} {peers}") from None
        return time.perf_counter() - began


def _reset_peak(pid: int) -> bool:
    """Start the process's peak resident size (VmHWM) afresh (Linux, same user); False when
    the kernel refuses, and the peak then counts since the relay started."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def _write_blob(path: Path, size_mib: int) -> str:
    """The blob of `size_mib` MiB of random plaintext, written a mebibyte at a time; its id."""
    from crypto.attachments import AttachmentEncryptor

    encryptor = AttachmentEncryptor()
    with open(path, "wb") as out:
        for _ in range(size_mib):
            out.write(encryptor.update(os.urandom(1 << 20)))
        out.write(encryptor.finish())
    return encryptor.reference(name="statement.mp4", media_type="video/mp4").blob_id


async def blob_across(session, world: World, size_mib: int, folder: Path) -> None:
    """One blob of `size_mib` MiB uploaded to the VN relay, declared by an envelope to the CN
    recipient, crossing to the CN relay (PROTOCOL.md §16.6): the seconds from the send to the
    recipient seeing the message (the blob crosses first), each relay's peak resident memory
    above its size just before, and the blob fetched back from the CN relay and checked."""
    from crypto.attachments import new_blob_hasher

    path = folder / "blob"
    blob_id = await asyncio.to_thread(_write_blob, path, size_mib)
    size = path.stat().st_size
    sender = world.senders[0]
    auth = {"Authorization": f"Bearer {sender.token}"}
    opened = await post(session, f"{world.vn.url}/v1/uploads", {"size": size}, sender.token)

    async def chunks():  # noqa: ANN202
        with await asyncio.to_thread(open, path, "rb") as handle:
            while block := await asyncio.to_thread(handle.read, 1 << 20):
                yield block

    headers = {**auth, "Content-Type": "application/octet-stream", "Content-Length": str(size)}
    url = f"{world.vn.url}/v1/uploads/{opened['upload_id']}"
    async with session.put(url, params={"offset": 0}, data=chunks(), headers=headers) as answer:
        if answer.status != 200:
            raise RuntimeError(f"upload: {answer.status} {await answer.text()}")
    await post(session, f"{url}/complete", {"blob": blob_id}, sender.token)

    relays = {"VN": world.vn, "CN": world.cn}
    reset = all(_reset_peak(r.proc.pid) for r in relays.values())
    before = {name: proc_status_kib(r.proc.pid, "VmRSS") for name, r in relays.items()}
    envelope = sender.device.seal([world.foreign], "")
    began = time.perf_counter()
    await post(
        session,
        f"{world.vn.url}/v1/messages",
        {"envelope": b64e(envelope.to_bytes()), "blobs": [blob_id]},
        sender.token,
    )
    foreign = {"Authorization": f"Bearer {world.foreign_token}"}
    deadline = began + 600
    while True:
        async with session.get(
            f"{world.cn.url}/v1/messages", params={"all": 1}, headers=foreign
        ) as answer:
            found = {m["message_id"] for m in (await answer.json())["messages"]}
        if envelope.header.message_id in found:
            break
        if time.perf_counter() > deadline:
            raise RuntimeError("the blob did not cross within 600 s")
        await asyncio.sleep(0.02)
    seconds = time.perf_counter() - began
    peak = {name: proc_status_kib(r.proc.pid, "VmHWM") for name, r in relays.items()}
    hasher = new_blob_hasher()
    fetched = 0
    async with session.get(f"{world.cn.url}/v1/blobs/{blob_id}", headers=foreign) as answer:
        async for block in answer.content.iter_chunked(1 << 20):
            hasher.update(block)
            fetched += len(block)
    if fetched != size or hasher.digest().hex() != blob_id:
        raise RuntimeError("the blob fetched from the CN relay is not the one sent")
    mib = size / (1 << 20)
    print(f"federation blob bench: one {mib:.1f} MiB blob, SQLite, loopback")
    print(
        f"  VN relay to CN relay, from the send to the recipient seeing the message: "
        f"{seconds:.2f} s ({mib / seconds:.1f} MiB/s); fetched back from the CN relay, verified"
    )
    what = "since the crossing began" if reset else "since the relay started (peak not reset)"
    for name in relays:
        grown = (peak[name] - before[name]) / 1024
        print(f"  {name} relay: peak resident memory {grown:.1f} MiB above the size before, {what}")
    print(f"  load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def _folder():  # noqa: ANN202
    if os.environ.get("LIAISON_BENCH_KEEP"):
        import contextlib

        return contextlib.nullcontext(tempfile.mkdtemp(prefix="liaison-fed-bench-"))
    return tempfile.TemporaryDirectory(prefix="liaison-fed-bench-")


async def run(args: argparse.Namespace) -> None:
    with _folder() as tmp:
        vn = Relay(Path(tmp) / "vn", trace=args.stages)
        cn = Relay(Path(tmp) / "cn", trace=args.stages)
        try:
            timeout = aiohttp.ClientTimeout(total=120)
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
                await vn.wait_up(session)
                await cn.wait_up(session)
                world = World(vn, cn)
                await world.setup(session, args.senders)
                readies = [asyncio.Event(), asyncio.Event()]
                listeners = [
                    asyncio.create_task(world.listen(session, vn, world.local_token, readies[0])),
                    asyncio.create_task(world.listen(session, cn, world.foreign_token, readies[1])),
                ]
                await asyncio.gather(*(r.wait() for r in readies))
                if args.blob_mib:
                    await blob_across(session, world, args.blob_mib, Path(tmp))
                    for task in listeners:
                        task.cancel()
                    return
                # Warm-up: both paths once per sender.
                warm = [[world.seal(s, "local"), world.seal(s, "cross")] for s in world.senders]
                await world.phase(session, warm, None)

                rates: dict[str, list[float]] = {"local": [], "cross": []}
                accepted: dict[str, list[float]] = {"local": [], "cross": []}
                p50: dict[str, list[float]] = {"local": [], "cross": []}
                p99: dict[str, list[float]] = {"local": [], "cross": []}
                stamps: dict[str, dict[str, float]] = {}
                for _ in range(args.repeat):
                    for kind in ("local", "cross"):
                        plan = [
                            [world.seal(s, kind) for _ in range(args.messages)]
                            for s in world.senders
                        ]
                        seconds = await world.phase(session, plan, None)
                        rates[kind].append(args.messages * len(world.senders) / seconds)
                        accepted[kind].append(
                            args.messages * len(world.senders) / world.accepted_in
                        )
                    half = min(rates["local"][-1], rates["cross"][-1]) / 2
                    plan = [
                        [world.seal(s, ("local", "cross")[n % 2]) for n in range(args.messages)]
                        for s in world.senders
                    ]
                    world.stamps = {} if args.stages else None
                    await world.phase(session, plan, half)
                    stamps.update(world.stamps or {})
                    world.stamps = None
                    for kind in ("local", "cross"):
                        p50[kind].append(percentile(world.latency[kind], 0.50))
                        p99[kind].append(percentile(world.latency[kind], 0.99))
                for task in listeners:
                    task.cancel()
        finally:
            vn.stop()
            cn.stop()
        if args.stages:
            relays = [vn.stages(), cn.stages()]
            for mid, seen in stamps.items():
                for noted in relays:
                    for stage, at in noted.get(mid, {}).items():
                        seen.setdefault(stage, at)

    med = statistics.median
    print(
        f"federation bench: {args.senders} senders, {args.messages} messages each per phase, "
        f"{ENVELOPE_BYTES} B envelopes, SQLite, medians of {args.repeat} runs"
    )
    print(
        f"  throughput (accepted and delivered): one relay {med(rates['local']):.0f} msg/s, "
        f"across the border {med(rates['cross']):.0f} msg/s "
        f"(ratio {med(rates['cross']) / med(rates['local']):.2f})"
    )
    print(
        f"  accepted by the sending relay: {med(accepted['local']):.0f} msg/s to a local "
        f"recipient, {med(accepted['cross']):.0f} msg/s to a recipient across the border"
    )
    half = min(med(rates["local"]), med(rates["cross"])) / 2
    print(f"  delivery latency at half load ({half:.0f} msg/s, both kinds interleaved):")
    for kind, word in (("local", "one relay"), ("cross", "across the border")):
        print(f"    {word:18} p50 {ms(med(p50[kind]))}  p99 {ms(med(p99[kind]))}")
    print(
        f"  the border hop adds p50 {ms(med(p50['cross']) - med(p50['local']))}, "
        f"p99 {ms(med(p99['cross']) - med(p99['local']))}"
    )
    if args.stages:
        print_stages(world.kind, stamps)
        for name, relay in (("Vietnamese", vn), ("Chinese", cn)):
            took = relay.collections
            longest = ms(max(took)) if took else "-"
            print(f"  full garbage collections, {name} relay: {len(took)}, longest {longest}")


def print_stages(kinds: dict[str, str], stamps: dict[str, dict[str, float]]) -> None:
    """Where the latency phases' time goes: p50 and p99 of each stage's share, per kind."""
    print("  stages of the latency phases (from the previous stage; p50 / p99):")
    for kind, stages in (("local", LOCAL_STAGES), ("cross", CROSS_STAGES)):
        timed = [s for m, s in stamps.items() if kinds.get(m) == kind and "delivered" in s]
        print(f"    {kind} ({len(timed)} messages)")
        for before, stage in zip(stages, stages[1:], strict=False):
            gaps = [s[stage] - s[before] for s in timed if stage in s and before in s]
            if gaps:
                p50, p99 = percentile(gaps, 0.50), percentile(gaps, 0.99)
                print(f"      {before:>16} -> {stage:<16} {ms(p50):>9} / {ms(p99):>9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--messages", type=int, default=150, help="per sender and phase")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--stages", action="store_true", help="time each stage of the border hop (trace.py)"
    )
    parser.add_argument(
        "--blob-mib", type=int, default=0, help="instead: one attachment blob of this size across"
    )
    args = parser.parse_args()
    if not 0 <= args.blob_mib <= 2047:
        parser.error("bounds: blob-mib 0..2047")
    if not (1 <= args.senders <= 64 and 1 <= args.messages <= 2000 and 1 <= args.repeat <= 9):
        parser.error("bounds: senders 1..64, messages 1..2000, repeat 1..9")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
