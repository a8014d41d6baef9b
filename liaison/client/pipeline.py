"""One worker thread that runs blocking steps in order while the event loop goes on.

Attachments are CPU work (libsodium's secretstream and SHA-256, both of which release the GIL)
between a file and a socket. Awaiting each step before receiving or sending the next bytes
leaves one core idle; a `Pipeline` runs the steps on its own thread, in submission order, with
at most `depth` of them queued (memory stays bounded: `depth` blocks), so reading the network,
encrypting or decrypting and writing the disk overlap.
"""

from __future__ import annotations

import asyncio
import collections
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class Pipeline:
    """`await submit(fn, *args)` queues `fn(*args)` on the worker thread and returns at once
    unless `depth` steps are already queued (then it waits for the oldest, whose exception it
    raises). `await result(fn, *args)` queues and waits for that step's value. `drain()` waits
    for everything queued; `close()` drops what is still queued and stops the thread."""

    def __init__(self, depth: int = 8, name: str = "liaison-attachment") -> None:
        self.depth = depth
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: collections.deque[asyncio.Future[Any]] = collections.deque()

    def start(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Queue `fn(*args)` without waiting (the caller bounds how many it starts)."""
        return asyncio.wrap_future(self._executor.submit(fn, *args))

    async def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self._pending.append(self.start(fn, *args))
        while len(self._pending) >= self.depth:
            await self._pending.popleft()

    async def drain(self) -> None:
        while self._pending:
            await self._pending.popleft()

    async def close(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)

    async def __aenter__(self) -> Pipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class ThreadedHasher:
    """A blob hasher whose updates run on a thread of their own, in order: `update` gathers the
    bytes and queues them about a mebibyte at a time (at most `depth` batches waiting: it
    blocks beyond), `digest` waits for the queue to empty. With it, SHA-256 and secretstream
    (each releasing the GIL) use two cores. Bytes given to `update` must not change after."""

    BATCH = 1024 * 1024

    def __init__(self, inner: Any, depth: int = 8) -> None:
        self._inner = inner
        self._queue: queue.Queue[list[bytes] | None] = queue.Queue(maxsize=depth)
        self._batch: list[bytes] = []
        self._batched = 0
        self._digest: bytes | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="liaison-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._failure is None:
                try:
                    for piece in batch:
                        self._inner.update(piece)
                except BaseException as exc:  # reported by digest()
                    self._failure = exc

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        if self._digest is not None or not self._thread.is_alive():
            raise ValueError("the hasher is closed")
        self._batch.append(data if isinstance(data, bytes) else bytes(data))
        self._batched += len(data)
        if self._batched >= self.BATCH:
            self._queue.put(self._batch)
            self._batch, self._batched = [], 0

    def digest(self) -> bytes:
        if self._digest is None:
            if self._batch and self._thread.is_alive():
                self._queue.put(self._batch)
                self._batch, self._batched = [], 0
            self.close()
            if self._failure is not None:
                raise self._failure
            self._digest = self._inner.digest()
        return self._digest

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
