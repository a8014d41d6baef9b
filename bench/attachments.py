"""Attachment benchmark: encrypt + decrypt a large file through the streaming APIs vs plain copy.

Run: `.venv/bin/python bench/attachments.py [--size-mib 256] [--runs 3] [--dir DIR]`.

In one run, on the same random file: a plain copy of its bytes (Python read/write in 1 MiB
blocks, the same block size the attachment code uses, and the kernel's `shutil.copyfile`),
then `blob_chunks` written to disk (the one encryption pass an upload makes), and
`decrypt_to_path` reading that blob back (what a download does). Median of `--runs`. Then, in a
fresh child process per size, the peak resident memory above idle of one full encrypt +
decrypt, for two sizes: the figure must not grow with the file (target: < 64 MiB).

`--http` measures end to end on loopback instead: a relay (`liaison serve`, its own process),
an officer sending the file as an attachment (encrypt + upload) and another saving it (download
+ decrypt + verify), against a plain HTTP upload and download of the same bytes to a bare
aiohttp server (its own process) in the same run; the client runs in a child process; peak
resident memory above idle of the client and of the relay. Targets: >= 50 % of the plain
rate, < 64 MiB above idle on each side. Nothing secret is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Run as a script, bench/ is first on the path: the project root goes first instead.
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

from bench.relay import free_port, proc_status_kib  # noqa: E402
from liaison.client.attachments import (  # noqa: E402
    blob_chunks,
    decrypt_to_path,
    prepare_file,
)

BLOCK = 1024 * 1024
MEMORY_TARGET_MIB = 64


def make_file(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        remaining = size
        while remaining:
            step = min(BLOCK, remaining)
            out.write(os.urandom(step))
            remaining -= step


def python_copy(source: Path, target: Path) -> None:
    with open(source, "rb") as src, open(target, "wb") as dst:
        while block := src.read(BLOCK):
            dst.write(block)


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    with await asyncio.to_thread(open, path, "rb") as handle:
        while block := await asyncio.to_thread(handle.read, BLOCK):
            yield block


Timing = tuple[float, float]  # (wall-clock seconds, process CPU seconds, all threads)


def clock() -> Timing:
    return time.perf_counter(), time.process_time()


def since(start: Timing) -> Timing:
    now = clock()
    return now[0] - start[0], now[1] - start[1]


async def encrypt_and_decrypt(source: Path, work: Path) -> tuple[Timing, Timing]:
    """Time to encrypt (both passes, blob written to disk) and to decrypt it back."""
    blob_path, plain_path = work / "blob", work / "decrypted"
    for path in (blob_path, plain_path):
        await asyncio.to_thread(path.unlink, missing_ok=True)
    started = clock()
    outgoing = await prepare_file(source)
    with await asyncio.to_thread(open, blob_path, "wb") as out:
        async for chunk in blob_chunks(outgoing):
            await asyncio.to_thread(out.write, chunk)
    encrypted = since(started)
    assert outgoing.reference is not None
    started = clock()
    await decrypt_to_path(file_chunks(blob_path), outgoing.reference, plain_path)
    return encrypted, since(started)


def timed(fn: Callable[[], object]) -> Timing:
    started = clock()
    fn()
    return since(started)


def rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def memory_child(size_mib: int, directory: str) -> None:
    """Child process: one encrypt + decrypt of the file the parent made; idle and peak RSS."""
    work = Path(directory)
    idle = rss_kib()
    asyncio.run(encrypt_and_decrypt(work / f"source-{size_mib}", work))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"idle_kib": idle, "peak_kib": peak}))


def memory_growth_mib(size_mib: int, directory: Path) -> float:
    """Peak resident memory above idle (after imports) of a child doing one full round."""
    make_file(directory / f"source-{size_mib}", size_mib * BLOCK)
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(size_mib), "--dir", str(directory)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    return (figures["peak_kib"] - figures["idle_kib"]) / 1024


def median(timings: list[Timing]) -> Timing:
    return statistics.median(t[0] for t in timings), statistics.median(t[1] for t in timings)


def rate(size: int, timing: Timing) -> str:
    wall, cpu = timing
    return (
        f"{size / wall / BLOCK:8.1f} MiB/s wall ({wall:6.2f} s)"
        f"  {size / cpu / BLOCK:8.1f} MiB/s of CPU ({cpu:6.2f} s)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp one)")
    parser.add_argument("--http", action="store_true", help="end to end over a loopback relay")
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--plain-server", nargs=2, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--http-client", nargs=6, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child is not None:
        memory_child(args.memory_child, str(args.dir))
        return
    if args.plain_server is not None:
        plain_server(int(args.plain_server[0]), Path(args.plain_server[1]))
        return
    if args.http_client is not None:
        url, plain_url, world, source, relay_pid, plain_pid = args.http_client
        servers = {"relay": int(relay_pid), "plain": int(plain_pid)}
        asyncio.run(http_client(url, plain_url, Path(world), Path(source), args.runs, servers))
        return
    if args.http:
        http_bench(args)
        return

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        size = args.size_mib * BLOCK
        source = work / "source"
        make_file(source, size)
        print(f"attachment bench: {args.size_mib} MiB random file, median of {args.runs} runs")
        print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
        py_copy = [timed(lambda: python_copy(source, work / "copy")) for _ in range(args.runs)]
        os_copy = [timed(lambda: shutil.copyfile(source, work / "copy")) for _ in range(args.runs)]
        (work / "copy").unlink()
        enc, dec = [], []
        for _ in range(args.runs):
            e, d = asyncio.run(encrypt_and_decrypt(source, work))
            enc.append(e)
            dec.append(d)
        both = [(e[0] + d[0], e[1] + d[1]) for e, d in zip(enc, dec, strict=True)]
        copy_median, both_median = median(py_copy), median(both)
        print(f"  plain copy, Python 1 MiB blocks    {rate(size, copy_median)}")
        print(f"  plain copy, shutil.copyfile        {rate(size, median(os_copy))}")
        print(f"  encrypt (one pass, blob to disk)   {rate(size, median(enc))}")
        print(f"  decrypt + verify to a file         {rate(size, median(dec))}")
        print(f"  encrypt + decrypt                  {rate(size, both_median)}")
        print(
            f"  encrypt+decrypt rate / Python copy rate: "
            f"{copy_median[0] / both_median[0] * 100:5.1f} % wall, "
            f"{copy_median[1] / both_median[1] * 100:5.1f} % CPU"
        )
        for path in work.iterdir():
            path.unlink()
        small = max(16, args.size_mib // 8)
        for size_mib in (small, args.size_mib):
            growth = memory_growth_mib(size_mib, work)
            verdict = "within" if growth < MEMORY_TARGET_MIB else "ABOVE"
            print(
                f"  peak memory above idle, {size_mib:5d} MiB file: {growth:6.1f} MiB "
                f"({verdict} the {MEMORY_TARGET_MIB} MiB target)"
            )
            for path in work.iterdir():
                path.unlink()


# --- end to end over HTTP ---------------------------------------------------------------------


def plain_server(port: int, directory: Path) -> None:
    """Child process: a bare aiohttp server storing PUT /plain to a file, streaming it on GET."""
    from aiohttp import web

    target = directory / "plain-upload"

    async def put(request: web.Request) -> web.Response:
        with await asyncio.to_thread(open, target, "wb") as out:
            while chunk := await request.content.read(256 * 1024):
                await asyncio.to_thread(out.write, chunk)
        return web.json_response({"ok": True})

    async def get(request: web.Request) -> web.StreamResponse:
        if not target.exists():
            raise web.HTTPNotFound()
        answer = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        answer.content_length = target.stat().st_size
        await answer.prepare(request)
        with await asyncio.to_thread(open, target, "rb") as handle:
            while block := await asyncio.to_thread(handle.read, 256 * 1024):
                await answer.write(block)
        return answer

    app = web.Application()
    app.router.add_put("/plain", put)
    app.router.add_get("/plain", get)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid`, all its threads (from /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Phase:
    """Wall time and CPU time of this process and of one server process, for one phase."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def __enter__(self) -> Phase:
        self.started = (time.perf_counter(), time.process_time(), cpu_seconds(self.server_pid))
        return self

    def __exit__(self, *exc: object) -> None:
        wall, cpu, server = self.started
        self.wall = time.perf_counter() - wall
        self.cpu = time.process_time() - cpu + cpu_seconds(self.server_pid) - server


async def http_client(
    url: str, plain_url: str, world: Path, source: Path, runs: int, servers: dict[str, int]
) -> None:
    """Child process: `runs` rounds of plain upload+download and attachment send+save.

    Timed: the transfers only. Both officers sign in before their timer starts (the plain
    transfer has no sign-in); what stays in the attachment's time and has no plain
    equivalent is the per-message work: the envelope sealed and sent, the recipient's keys
    looked up, the message read before its attachment is saved."""
    import aiohttp

    from liaison.cli.demo.tour import DEMO_PASSPHRASE
    from liaison.client import OfficerSession
    from liaison.client.home import Home
    from liaison.client.payload import Payload

    idle = rss_kib()
    figures: dict[str, list[float]] = {key: [] for key in ("plain_up", "plain_down", "up", "down")}
    cpu: dict[str, list[float]] = {key: [] for key in figures}

    def record(key: str, phase: Phase) -> None:
        figures[key].append(phase.wall)
        cpu[key].append(phase.cpu)

    an = Home(world / "homes" / "an-phone", passphrase=lambda c: DEMO_PASSPHRASE)
    li = Home(world / "homes" / "li", passphrase=lambda c: DEMO_PASSPHRASE)
    timeout = aiohttp.ClientTimeout(total=None)
    for run in range(runs):
        async with aiohttp.ClientSession(timeout=timeout) as session:
            with Phase(servers["plain"]) as phase:
                async with session.put(plain_url, data=file_chunks(source)) as answer:
                    answer.raise_for_status()
            record("plain_up", phase)
            with Phase(servers["plain"]) as phase:
                with await asyncio.to_thread(open, source.parent / "plain-download", "wb") as out:
                    async with session.get(plain_url) as answer:
                        async for block in answer.content.iter_chunked(256 * 1024):
                            await asyncio.to_thread(out.write, block)
            record("plain_down", phase)
        async with OfficerSession.open(an, server=url) as officer:
            await officer.sync()  # signs in (a token, kept for the next runs), not timed
            with Phase(servers["relay"]) as phase:
                sent = await officer.send(["CN-GX-DXGA"], Payload.text("bench"), files=[source])
            record("up", phase)
        async with OfficerSession.open(li, server=url) as officer:
            await officer.sync()  # signs in and fetches the envelope, not timed
            with Phase(servers["relay"]) as phase:
                (saved,) = await officer.save_attachments(
                    sent.message_id, source.parent / f"in{run}"
                )
            record("down", phase)
        if await asyncio.to_thread(_same_size, saved, source) is False:
            raise SystemExit("the saved file differs in size")
        await asyncio.to_thread(saved.unlink)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({**figures, "cpu": cpu, "idle_kib": idle, "peak_kib": peak}))


def _same_size(one: Path, other: Path) -> bool:
    return one.stat().st_size == other.stat().st_size


def http_bench(args: argparse.Namespace) -> None:
    from liaison.cli.demo.tour import DemoContext, run_steps, steps_until

    env = {**os.environ, "LIAISON_LANG": "en", "LIAISON_KDF_PROFILE": "test"}
    os.environ.update(LIAISON_KDF_PROFILE="test")
    print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        size = args.size_mib * BLOCK
        source = work / "source.mp4"
        make_file(source, size)
        relay_port, plain_port = free_port(), free_port()
        relay = subprocess.Popen(
            [sys.executable, "-m", "liaison", "serve", "--data-dir", str(work / "relay"),
             "--port", str(relay_port)],
            stdout=subprocess.PIPE, text=True, env=env, cwd=HERE.parent,
        )  # fmt: skip
        plain = subprocess.Popen(
            [sys.executable, __file__, "--plain-server", str(plain_port), str(work)], env=env
        )
        try:
            assert relay.stdout is not None
            token = None
            for line in relay.stdout:  # the operator token is shown once, at first start
                if line.startswith("  "):
                    token = line.strip()
                    break
            url = f"http://127.0.0.1:{relay_port}"
            _wait_for(url + "/v1/health")
            _wait_for(f"http://127.0.0.1:{plain_port}/plain", any_status=True)
            ctx = DemoContext(folder=work / "world", say=lambda line: None, url=url)
            ctx.admin_token = token
            asyncio.run(run_steps(ctx, steps_until("pins")))
            relay_idle = proc_status_kib(relay.pid, "VmRSS")
            out = subprocess.run(
                [sys.executable, __file__, "--runs", str(args.runs), "--http-client", url,
                 f"http://127.0.0.1:{plain_port}/plain", str(work / "world"), str(source),
                 str(relay.pid), str(plain.pid)],
                capture_output=True, text=True, env=env,
            )  # fmt: skip
            if out.returncode != 0:
                raise SystemExit(out.stderr)
            relay_peak = proc_status_kib(relay.pid, "VmHWM")
        finally:
            for child in (relay, plain):
                child.terminate()
                child.wait(timeout=30)
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        keys = ("plain_up", "plain_down", "up", "down")
        med = {key: statistics.median(figures[key]) for key in keys}
        cpu = {key: statistics.median(figures["cpu"][key]) for key in keys}
        print(
            f"attachment HTTP bench: {args.size_mib} MiB file over loopback, median of {args.runs}"
        )
        print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
        for label, key in (
            ("plain HTTP upload                 ", "plain_up"),
            ("plain HTTP download               ", "plain_down"),
            ("encrypt + upload (liaison send)   ", "up"),
            ("download + decrypt + verify (save)", "down"),
        ):
            print(
                f"  {label} {size / med[key] / BLOCK:8.1f} MiB/s ({med[key]:6.2f} s)"
                f"   CPU, client + server: {cpu[key]:5.2f} s"
            )
        shares = [
            (pu + pd) / (u + d) * 100
            for pu, pd, u, d in zip(*(figures[key] for key in keys), strict=True)
        ]
        print(
            "  every run, seconds (plain up, plain down, up, down: share of the plain rate): "
            + "; ".join(
                f"{pu:.2f}, {pd:.2f}, {u:.2f}, {d:.2f}: {share:.1f} %"
                for pu, pd, u, d, share in zip(*(figures[key] for key in keys), shares, strict=True)
            )
        )
        plain_total = med["plain_up"] + med["plain_down"]
        ours = med["up"] + med["down"]
        share = plain_total / ours * 100
        print(
            f"  round trip: attachment {size / ours / BLOCK:.1f} MiB/s, plain "
            f"{size / plain_total / BLOCK:.1f} MiB/s: {share:.1f} % of the plain rate "
            f"({'meets' if share >= 50 else 'BELOW'} the 50 % target)"
        )
        ours_cpu, plain_cpu = cpu["up"] + cpu["down"], cpu["plain_up"] + cpu["plain_down"]
        print(
            f"  CPU per round trip: attachment {ours_cpu:.2f} s, plain {plain_cpu:.2f} s "
            f"({ours_cpu / plain_cpu:.1f}x; load average at the end: "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
        )
        for side, growth in (
            ("client", (figures["peak_kib"] - figures["idle_kib"]) / 1024),
            ("relay ", (relay_peak - relay_idle) / 1024),
        ):
            verdict = "within" if growth < MEMORY_TARGET_MIB else "ABOVE"
            print(
                f"  peak memory above idle, {side}: {growth:6.1f} MiB "
                f"({verdict} the {MEMORY_TARGET_MIB} MiB target)"
            )


def _wait_for(url: str, *, any_status: bool = False) -> None:
    import urllib.error
    import urllib.request

    for _attempt in range(200):
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            if any_status:
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


if __name__ == "__main__":
    main()
