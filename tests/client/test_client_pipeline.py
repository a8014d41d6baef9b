"""The attachment pipeline's worker thread and threaded hasher: order, bounds, failures."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time

import pytest

from crypto.attachments import AttachmentDecryptor, AttachmentEncryptor, new_blob_hasher
from liaison.client.pipeline import Pipeline, ThreadedHasher


def test_threaded_hasher_gives_the_digest_of_the_bytes_in_order():
    pieces = [os.urandom(n) for n in (0, 1, 70_000, 1 << 20, 3, 2_500_000, 17)]
    threaded = ThreadedHasher(hashlib.sha256(), depth=2)
    for piece in pieces:
        threaded.update(piece)
    threaded.update(bytearray(b"tail"))  # copied: the caller may reuse its buffer
    assert threaded.digest() == hashlib.sha256(b"".join(pieces) + b"tail").digest()
    assert threaded.digest() == hashlib.sha256(b"".join(pieces) + b"tail").digest()  # cached
    with pytest.raises(ValueError):
        threaded.update(b"after the end")


def test_threaded_hasher_reports_a_failure_of_its_thread_and_close_stops_it():
    class Broken:
        def update(self, data: bytes) -> None:
            raise MemoryError("no room")

        def digest(self) -> bytes:
            return b""

    threaded = ThreadedHasher(Broken())
    threaded.update(b"x" * (2 << 20))
    with pytest.raises(MemoryError):
        threaded.digest()
    idle = ThreadedHasher(hashlib.sha256())
    idle.close()
    idle.close()  # twice is harmless
    assert not idle._thread.is_alive()


def test_encryptor_and_decryptor_with_a_threaded_hasher_give_the_same_blob_and_hash():
    data = os.urandom(700_001)
    plain = AttachmentEncryptor(file_key=bytes(32), stream_header=bytes(24))
    blob = plain.update(data) + plain.finish()
    threaded = AttachmentEncryptor(
        file_key=bytes(32), stream_header=bytes(24), hasher=ThreadedHasher(new_blob_hasher())
    )
    assert threaded.update(data) + threaded.finish() == blob
    assert threaded.blob_hash == plain.blob_hash
    reference = threaded.reference(name="a.bin", media_type="application/octet-stream")
    decryptor = AttachmentDecryptor(reference, hasher=ThreadedHasher(new_blob_hasher()))
    assert decryptor.update(blob) + decryptor.finish() == data


async def test_pipeline_runs_steps_in_order_on_one_thread_with_a_bounded_queue():
    seen: list[tuple[int, str]] = []
    running = []

    def step(number: int) -> None:
        running.append(number)
        time.sleep(0.002)
        seen.append((number, threading.current_thread().name))

    async with Pipeline(depth=3) as pipeline:
        for number in range(20):
            await pipeline.submit(step, number)
            # Never more than `depth` steps queued or running behind this loop.
            assert number - len(seen) < 3 + 1
        await pipeline.drain()
    assert [n for n, _ in seen] == list(range(20))
    assert len({name for _, name in seen}) == 1
    assert seen[0][1] != threading.current_thread().name


async def test_a_failed_step_is_raised_to_the_caller():
    def fail() -> None:
        raise OSError("disk full")

    async with Pipeline(depth=2) as pipeline:
        with pytest.raises(OSError, match="disk full"):
            await pipeline.submit(fail)
            await pipeline.drain()


async def test_close_drops_steps_still_queued():
    done: list[int] = []
    gate = threading.Event()

    def slow(number: int) -> None:
        gate.wait(5)
        done.append(number)

    pipeline = Pipeline(depth=10)
    for number in range(5):
        await pipeline.submit(slow, number)
    asyncio.get_running_loop().call_later(0.05, gate.set)
    await pipeline.close()
    assert done == [0]  # the step under way finished; the others never ran
