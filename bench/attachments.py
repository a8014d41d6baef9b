"""Attachment benchmark: encrypt + decrypt a large file through the streaming APIs vs plain copy.

Run: `.venv/bin/python bench/attachments.py [--size-mib 256] [--runs 3] [--dir DIR]`.

In one run, on the same random file: a plain copy of its bytes (Python read/write in 1 MiB
blocks, the same block size the attachment code uses, and the kernel's `shutil.copyfile`),
then `seal_file` (pass 1: the blob hash), `blob_chunks` written to disk (pass 2: what an upload
sends), and `decrypt_to_path` reading that blob back (what a download does). Median of `--runs`.
Then, in a fresh child process per size, the peak resident memory above idle of one full
encrypt + decrypt, for two sizes: the figure must not grow with the file (target: < 64 MiB).
The HTTP end-to-end figures of issue 16 come with the routes. Nothing secret is printed.
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

from liaison.client.attachments import (  # noqa: E402
    blob_chunks,
    decrypt_to_path,
    seal_file,
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
    sealed = await seal_file(source)
    with await asyncio.to_thread(open, blob_path, "wb") as out:
        async for chunk in blob_chunks(sealed):
            await asyncio.to_thread(out.write, chunk)
    encrypted = since(started)
    started = clock()
    await decrypt_to_path(file_chunks(blob_path), sealed.reference, plain_path)
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
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child is not None:
        memory_child(args.memory_child, str(args.dir))
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
        print(f"  encrypt (hash pass + blob to disk) {rate(size, median(enc))}")
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


if __name__ == "__main__":
    main()
