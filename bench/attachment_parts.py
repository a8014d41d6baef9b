"""Attachment components in isolation, on this machine: what bounds the end-to-end rate.

Run: `.venv/bin/python bench/attachment_parts.py [--size-mib 64] [--runs 3]`.

Each figure is the median of `--runs`, over `--size-mib` of random bytes held in memory (no
disk unless the part is a disk path): secretstream push and pull of 64 KiB chunks (the raw
libsodium binding, GIL released), SHA-256 in 1 MiB pieces, the full `AttachmentEncryptor` and
`AttachmentDecryptor` (chunking + AEAD + blob hash), the same encryption on two threads at once
(does the machine's second core help?), the relay's upload write path (`BlobStore.append` fed
from memory: hash + write + fsync, then `complete`) and its download read path
(`BlobStore.read`), and the client's file read / write in 1 MiB blocks. The rate of a pipeline
is bounded by the sum of the times of what runs one after the other, or by the slowest stage
when the stages overlap on separate cores. Nothing secret is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

from nacl.bindings import (  # noqa: E402
    crypto_secretstream_xchacha20poly1305_init_pull,
    crypto_secretstream_xchacha20poly1305_init_push,
    crypto_secretstream_xchacha20poly1305_pull,
    crypto_secretstream_xchacha20poly1305_push,
    crypto_secretstream_xchacha20poly1305_state,
    crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
)

from crypto.attachments import (  # noqa: E402
    CHUNK_SIZE,
    AttachmentDecryptor,
    AttachmentEncryptor,
)
from liaison.server.blobs import BlobStore  # noqa: E402

MIB = 1024 * 1024


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    size = args.size_mib * MIB
    data = os.urandom(size)
    chunks = [data[i : i + CHUNK_SIZE] for i in range(0, size, CHUNK_SIZE)]
    pieces = [data[i : i + MIB] for i in range(0, size, MIB)]
    key = os.urandom(32)
    results: list[tuple[str, float]] = []

    def push_all() -> list[bytes]:
        state = crypto_secretstream_xchacha20poly1305_state()
        crypto_secretstream_xchacha20poly1305_init_push(state, key)
        tag = crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
        return [crypto_secretstream_xchacha20poly1305_push(state, c, None, tag) for c in chunks]

    results.append(("secretstream push, 64 KiB chunks", median_seconds(push_all, args.runs)))
    state = crypto_secretstream_xchacha20poly1305_state()
    header = crypto_secretstream_xchacha20poly1305_init_push(state, key)
    tag = crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
    sealed = [crypto_secretstream_xchacha20poly1305_push(state, c, None, tag) for c in chunks]

    def pull_all() -> None:
        pull = crypto_secretstream_xchacha20poly1305_state()
        crypto_secretstream_xchacha20poly1305_init_pull(pull, header, key)
        for c in sealed:
            crypto_secretstream_xchacha20poly1305_pull(pull, c, None)

    results.append(("secretstream pull, 64 KiB chunks", median_seconds(pull_all, args.runs)))

    def sha256_all() -> None:
        hasher = hashlib.sha256()
        for p in pieces:
            hasher.update(p)

    results.append(("SHA-256, 1 MiB pieces", median_seconds(sha256_all, args.runs)))

    def encryptor_all() -> bytes:
        enc = AttachmentEncryptor()
        out = [enc.update(p) for p in pieces]
        out.append(enc.finish())
        encrypt_out.clear()
        encrypt_out.append((enc, out))
        return b""

    encrypt_out: list = []
    results.append(("AttachmentEncryptor (AEAD + hash)", median_seconds(encryptor_all, args.runs)))
    enc, blob_pieces = encrypt_out[0]
    reference = enc.reference(name="x.bin", media_type="application/octet-stream")
    blob = b"".join(blob_pieces)
    blob_1mib = [blob[i : i + MIB] for i in range(0, len(blob), MIB)]

    def decryptor_all() -> None:
        dec = AttachmentDecryptor(reference)
        for p in blob_1mib:
            dec.update(p)
        dec.finish()

    results.append(("AttachmentDecryptor (AEAD + hash)", median_seconds(decryptor_all, args.runs)))

    def two_threads() -> None:
        threads = [threading.Thread(target=push_all) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    # Twice the bytes in the time measured: a rate above the one-thread push means the GIL is
    # released during libsodium calls and the second core works.
    two = median_seconds(two_threads, args.runs)
    results.append(("secretstream push, 2 threads (2x bytes)", two / 2))

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store = BlobStore(work / "relay")
        body = [blob[i : i + 256 * 1024] for i in range(0, len(blob), 256 * 1024)]

        async def relay_write() -> None:
            session = await store.create_upload(
                agency="VN-X", size=len(blob), agency_bytes_in_use=0
            )

            async def gen():
                for b in body:
                    yield b

            await store.append(session.session_id, 0, gen())
            await store.complete(session.session_id, reference.blob_id)

        def relay_write_once() -> None:
            asyncio.run(store.delete(reference.blob_id))
            asyncio.run(relay_write())

        results.append(
            (
                "relay upload write path (hash, write, fsync)",
                median_seconds(relay_write_once, args.runs),
            )
        )

        async def relay_read() -> None:
            async for _chunk in await store.read(reference.blob_id):
                pass

        results.append(
            (
                "relay download read path (BlobStore.read)",
                median_seconds(lambda: asyncio.run(relay_read()), args.runs),
            )
        )
        source = work / "source"
        source.write_bytes(data)

        def read_file() -> None:
            with open(source, "rb") as handle:
                while handle.read(MIB):
                    pass

        def write_file() -> None:
            with open(work / "out", "wb") as out:
                for p in pieces:
                    out.write(p)
                out.flush()
                os.fsync(out.fileno())

        results.append(
            ("file read, 1 MiB blocks (page cache)", median_seconds(read_file, args.runs))
        )
        results.append(("file write + fsync, 1 MiB blocks", median_seconds(write_file, args.runs)))

    print(
        f"attachment parts: {args.size_mib} MiB in memory, median of {args.runs} runs, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    for label, seconds in results:
        print(f"  {label:46} {size / seconds / MIB:8.1f} MiB/s  ({seconds * 1000:7.1f} ms)")


if __name__ == "__main__":
    main()
