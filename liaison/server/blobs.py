"""The relay's attachment blobs on disk: resumable uploads, content-addressed files, expiry.

Knows nothing of HTTP or the database: callers (routes, retention) pass who uploads, how many
bytes the agency already holds and whether a blob is still referenced. Blobs are ciphertext
(crypto/attachments.py); the relay never holds a file key. Layout under `<data_dir>/blobs/`:

    <first two hex digits>/<blob id>     complete blobs, immutable, mtime = completion time
    uploads/<session id>.json            an open upload session (declared size, agency, device)
    uploads/<session id>.part            its bytes so far; the offset is the file's length

A blob appears under its id only by an atomic rename after its hash and size were verified and
the file fsynced, followed by an fsync of the directory: nothing partial is ever visible as a
complete blob, and an acknowledged completion survives a crash.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from crypto.attachments import (
    CHUNK_OVERHEAD,
    MAX_CIPHERTEXT_SIZE,
    STREAM_HEADER_SIZE,
    BlobHasher,
    new_blob_hasher,
    parse_blob_id,
)
from crypto.errors import MalformedError
from liaison.server.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, Unprocessable

BLOBS_DIR = "blobs"
UPLOADS_DIR = "uploads"
UPLOAD_TTL_SECONDS = 24 * 3600  # unreferenced uploads and blobs are removed after a day
MIN_BLOB_SIZE = STREAM_HEADER_SIZE + CHUNK_OVERHEAD  # the blob of an empty file
WRITE_BATCH = 1024 * 1024  # bytes gathered before one write in the worker thread
WRITES_IN_FLIGHT = 8  # batches queued for the worker while the request is read on
READ_CHUNK = 256 * 1024
_SESSION_ID_RE = re.compile(r"[0-9a-f]{32}")


class BodyHasher(Protocol):
    """What `append` needs of a second hash over the bytes (hashlib's objects)."""

    def update(self, data: bytes, /) -> None: ...


class UploadOffsetMismatch(Conflict):
    """An append that does not start where the session stands: the client resumes from there."""

    def __init__(self, expected_offset: int) -> None:
        super().__init__(
            "upload_offset_mismatch",
            f"The upload continues at byte {expected_offset}.",
        )
        self.expected_offset = expected_offset


@dataclass(frozen=True, slots=True)
class UploadSession:
    session_id: str
    size: int
    agency: str
    created_at: float
    device: str = ""


@dataclass(frozen=True, slots=True)
class ExpiryReport:
    uploads_removed: int
    blobs_removed: int


class BlobStore:
    """Content-addressed ciphertext blobs under `<data_dir>/blobs`, with resumable uploads."""

    def __init__(
        self,
        data_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        max_blob_size: int = MAX_CIPHERTEXT_SIZE,
        agency_quota_bytes: int | None = None,
        upload_ttl: float = UPLOAD_TTL_SECONDS,
    ) -> None:
        self.root = Path(data_dir) / BLOBS_DIR
        self.uploads = self.root / UPLOADS_DIR
        self.uploads.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._max_blob_size = max_blob_size
        self._agency_quota_bytes = agency_quota_bytes
        self._upload_ttl = upload_ttl
        # One lock per session: two appends to one session must not interleave their writes.
        self._locks: dict[str, asyncio.Lock] = {}
        # Running hash of a session's bytes, valid while its offset equals the file's length;
        # after a restart (or any doubt) completion re-reads the file instead.
        self._hashers: dict[str, tuple[int, BlobHasher]] = {}

    # --- uploads ------------------------------------------------------------------------------

    async def create_upload(
        self,
        *,
        agency: str,
        size: int,
        agency_bytes_in_use: int,
        device: str = "",
        session_id: str | None = None,
    ) -> UploadSession:
        """Open a session for a blob of `size` bytes; its hash is given at completion.

        The sender encrypts the file once, while uploading (PROTOCOL.md §14.6): it learns the
        blob hash only at the end. `agency_bytes_in_use` is what the agency's stored blobs
        already take (the caller counts them); the agency's other open sessions are added
        here, so parallel uploads cannot overrun the quota together.
        """
        if isinstance(size, bool) or not isinstance(size, int) or size < MIN_BLOB_SIZE:
            raise BadRequest("bad_blob_size", "The declared blob size is not possible.")
        if size > self._max_blob_size:
            raise PayloadTooLarge("blob_too_large", "An attachment is at most 2 GiB.")
        if self._agency_quota_bytes is not None:
            pending = sum(s.size for s in await self._sessions() if s.agency == agency)
            if agency_bytes_in_use + pending + size > self._agency_quota_bytes:
                raise PayloadTooLarge(
                    "quota_exceeded", "The agency's storage quota for attachments is full."
                )
        session = UploadSession(
            session_id=secrets.token_hex(16) if session_id is None else session_id,
            size=size,
            agency=agency,
            created_at=self._clock(),
            device=device,
        )
        await asyncio.to_thread(self._write_session, session)
        return session

    @staticmethod
    def named_upload_id(name: str) -> str:
        """The session id `open_named_upload(name)` uses (a local file name, never shown to
        a device: a device may only use sessions it opened itself)."""
        return hashlib.sha256(b"liaison named upload\x00" + name.encode()).hexdigest()[:32]

    async def open_named_upload(
        self, name: str, *, agency: str, size: int, device: str
    ) -> UploadSession:
        """The upload session named `name` (a peer's blob: `peer origin + blob id`, so that a
        dropped transfer from that peer resumes in the same session), opened with `size` if
        there is none. A session of another size is dropped and opened anew: the peer starts
        again from byte 0."""
        session_id = self.named_upload_id(name)
        async with self._locks.setdefault(session_id, asyncio.Lock()):
            try:
                session = await self.session(session_id)
            except NotFound:
                session = None
            if session is not None and session.size == size:
                return session
            if session is not None:
                self._hashers.pop(session_id, None)
                await asyncio.to_thread(self._drop_session, session_id)
            return await self.create_upload(
                agency=agency, size=size, agency_bytes_in_use=0, device=device,
                session_id=session_id,
            )  # fmt: skip

    async def session(self, session_id: str) -> UploadSession:
        if not isinstance(session_id, str) or not _SESSION_ID_RE.fullmatch(session_id):
            raise NotFound("unknown_upload", "No such upload is open.")
        meta = self.uploads / f"{session_id}.json"
        try:
            raw = await asyncio.to_thread(meta.read_bytes)
        except FileNotFoundError:
            raise NotFound("unknown_upload", "No such upload is open.") from None
        return UploadSession(**json.loads(raw))

    async def offset(self, session_id: str) -> int:
        """Bytes received so far: where an interrupted upload resumes. Waits for an append
        still running (its connection just dropped) to keep what it received first."""
        await self.session(session_id)
        async with self._locks.setdefault(session_id, asyncio.Lock()):
            return await asyncio.to_thread(_file_size, self._part(session_id))

    async def append(
        self,
        session_id: str,
        offset: int,
        chunks: AsyncIterable[bytes],
        *,
        body_hasher: BodyHasher | None = None,
    ) -> int:
        """Write `chunks` at `offset`; returns the new offset, durable when returned.

        An append that does not start at the current offset is refused with that offset. If
        `chunks` fails midway (a dropped connection), what arrived is kept and fsynced and the
        failure propagates: the client asks for the offset and resumes from there.
        `body_hasher` also hashes the bytes written, on the writer thread (a peer's request
        body checked against its signed Content-Digest, §16.6).
        """
        session = await self.session(session_id)
        async with self._locks.setdefault(session_id, asyncio.Lock()):
            part = self._part(session_id)
            current = await asyncio.to_thread(_file_size, part)
            if offset != current:
                raise UploadOffsetMismatch(current)
            running = self._hashers.pop(session_id, None)
            hasher = running[1] if running is not None and running[0] == current else None
            if current == 0:
                hasher = new_blob_hasher()
            with await asyncio.to_thread(open, part, "ab") as out:
                # One worker thread writes and hashes the batches in order while this loop
                # goes on reading the request (hashlib releases the GIL): at most
                # WRITES_IN_FLIGHT batches wait, so memory stays bounded.
                writer = _BatchWriter(out, hasher, body_hasher)
                worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="liaison-blob")
                in_flight: collections.deque[asyncio.Future[None]] = collections.deque()
                received = current
                # The pieces as they arrived, handed over about a batch at a time (not copied
                # into one buffer on the event loop's thread).
                batch: list[bytes] = []
                batched = 0
                try:
                    async for chunk in chunks:
                        if received + len(chunk) > session.size:
                            raise PayloadTooLarge(
                                "upload_too_large",
                                "The upload is longer than its declared size.",
                            )
                        received += len(chunk)
                        batch.append(chunk)
                        batched += len(chunk)
                        if batched >= WRITE_BATCH:
                            # Handed over before the write: a failed write is never repeated.
                            pending, batch, batched = batch, [], 0
                            in_flight.append(
                                asyncio.wrap_future(worker.submit(writer.write, pending))
                            )
                            while len(in_flight) >= WRITES_IN_FLIGHT:
                                await in_flight.popleft()
                finally:
                    # Bytes that arrived before a failure are kept: the resume skips them.
                    pending, batch = batch, []
                    in_flight.append(asyncio.wrap_future(worker.submit(writer.write, pending)))
                    in_flight.append(asyncio.wrap_future(worker.submit(writer.sync)))
                    # Even when the request is cancelled (its client went away), the bytes
                    # are written and fsynced before the session's lock is released: the
                    # offset a resume then asks for is exact and durable.
                    await _to_the_end(_drain(in_flight, worker))
                current += writer.written
                if writer.failure is not None:
                    raise writer.failure
                # Kept only after a clean run: after any failure, completion re-reads the file.
                if hasher is not None:
                    self._hashers[session_id] = (current, hasher)
            return current

    async def append_bytes(self, session_id: str, offset: int, data: bytes) -> int:
        return await self.append(session_id, offset, _one(data))

    async def complete(self, session_id: str, blob_id: str) -> str:
        """Verify size and that the bytes hash to `blob_id`, then move the blob into place
        atomically under that id; returns it.

        A blob whose bytes do not hash to the declared id is deleted with its session: the
        upload must start again (the client's blob was corrupted or was not the one declared).
        """
        try:
            expected = parse_blob_id(blob_id)
        except MalformedError:
            raise BadRequest("bad_blob_id", "A blob id is 64 lower-case hex digits.") from None
        session = await self.session(session_id)
        async with self._locks.setdefault(session_id, asyncio.Lock()):
            part = self._part(session_id)
            size = await asyncio.to_thread(_file_size, part)
            if size != session.size:
                raise UploadOffsetMismatch(size)
            running = self._hashers.pop(session_id, None)
            if running is not None and running[0] == size:
                digest = running[1].digest()
            else:
                digest = await asyncio.to_thread(_hash_file, part)
            if not hmac.compare_digest(digest, expected):
                await asyncio.to_thread(self._drop_session, session_id)
                raise Unprocessable(
                    "blob_hash_mismatch", "The uploaded bytes do not match the declared hash."
                )
            await asyncio.to_thread(self._install, session, part, blob_id)
        self._forget(session_id)
        return blob_id

    async def abort(self, session_id: str) -> None:
        await self.session(session_id)
        self._forget(session_id)
        await asyncio.to_thread(self._drop_session, session_id)

    # --- blobs --------------------------------------------------------------------------------

    def blob_path(self, blob_id: str) -> Path:
        try:
            parse_blob_id(blob_id)
        except MalformedError:
            raise NotFound("unknown_blob", "No such attachment is stored.") from None
        return self.root / blob_id[:2] / blob_id

    async def exists(self, blob_id: str) -> bool:
        return await asyncio.to_thread(self.blob_path(blob_id).is_file)

    async def size(self, blob_id: str) -> int:
        try:
            return await asyncio.to_thread(lambda: self.blob_path(blob_id).stat().st_size)
        except FileNotFoundError:
            raise NotFound("unknown_blob", "No such attachment is stored.") from None

    async def read(
        self, blob_id: str, *, start: int = 0, chunk_size: int = READ_CHUNK
    ) -> AsyncIterator[bytes]:
        """The blob's bytes from `start`, `chunk_size` at a time (a download resumes at start).

        The file is open once this returns (so a missing blob is `NotFound` before any answer
        starts); iterate the result to the end or `aclose()` it to close the file.
        """
        path = self.blob_path(blob_id)
        try:
            handle = await asyncio.to_thread(open, path, "rb")
        except FileNotFoundError:
            raise NotFound("unknown_blob", "No such attachment is stored.") from None
        return _read_chunks(handle, start, chunk_size)

    async def open_blob(self, blob_id: str) -> tuple[BinaryIO, int]:
        """The blob's file, open for reading, and its size (`NotFound` if missing); the caller
        closes it. For answers sent with the kernel's sendfile."""
        path = self.blob_path(blob_id)

        def opened() -> tuple[BinaryIO, int]:
            handle = open(path, "rb")  # noqa: SIM115 (the caller closes it)
            return handle, os.fstat(handle.fileno()).st_size

        try:
            return await asyncio.to_thread(opened)
        except FileNotFoundError:
            raise NotFound("unknown_blob", "No such attachment is stored.") from None

    async def delete(self, blob_id: str) -> bool:
        """Remove a blob (retention, purge, expiry); False if it was not there."""
        return await asyncio.to_thread(self._delete, self.blob_path(blob_id))

    def expiry_cutoff(self) -> float:
        """Uploads opened and blobs completed before this time are stale (a day ago)."""
        return self._clock() - self._upload_ttl

    async def expire(self, *, is_referenced: Callable[[str], Awaitable[bool]]) -> ExpiryReport:
        """Remove open uploads and unreferenced complete blobs older than a day.

        `is_referenced(blob_id)` answers from the caller's records: the caller forgets a stale
        blob's record first, in a transaction no declaring send can interleave with, so a
        blob still referenced there is never deleted here. A blob installed again meanwhile
        (the same content completed anew) has a fresh mtime and is kept.
        """
        cutoff = self.expiry_cutoff()
        uploads = 0
        for session in await self._sessions():
            lock = self._locks.get(session.session_id)
            if session.created_at < cutoff and not (lock is not None and lock.locked()):
                self._forget(session.session_id)
                await asyncio.to_thread(self._drop_session, session.session_id)
                uploads += 1
        blobs = 0
        for blob_id, completed_at in await asyncio.to_thread(self._complete_blobs):
            if completed_at < cutoff and not await is_referenced(blob_id):
                # Still stale now (not installed again while the records were asked).
                blobs += await asyncio.to_thread(
                    self._delete_if_before, self.blob_path(blob_id), cutoff
                )
        return ExpiryReport(uploads_removed=uploads, blobs_removed=blobs)

    # --- on disk (worker threads) ------------------------------------------------------------

    def _forget(self, session_id: str) -> None:
        self._hashers.pop(session_id, None)
        self._locks.pop(session_id, None)

    def _part(self, session_id: str) -> Path:
        return self.uploads / f"{session_id}.part"

    def _write_session(self, session: UploadSession) -> None:
        part = self._part(session.session_id)
        part.touch(exist_ok=False)
        meta = self.uploads / f"{session.session_id}.json"
        tmp = meta.with_suffix(".json.tmp")
        with open(tmp, "wb") as out:
            out.write(json.dumps(asdict(session)).encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, meta)
        _fsync_dir(self.uploads)

    async def _sessions(self) -> list[UploadSession]:
        def load() -> list[UploadSession]:
            out = []
            for meta in self.uploads.glob("*.json"):
                try:
                    out.append(UploadSession(**json.loads(meta.read_bytes())))
                except FileNotFoundError:  # completed or expired meanwhile
                    continue
            return out

        return await asyncio.to_thread(load)

    def _drop_session(self, session_id: str) -> None:
        for suffix in (".json", ".part"):
            (self.uploads / f"{session_id}{suffix}").unlink(missing_ok=True)
        _fsync_dir(self.uploads)

    def _install(self, session: UploadSession, part: Path, blob_id: str) -> None:
        with open(part, "rb+") as handle:
            os.fsync(handle.fileno())
        now = self._clock()
        os.utime(part, (now, now))  # completion time, read back by expiry
        final = self.root / blob_id[:2] / blob_id
        created = not final.parent.exists()
        final.parent.mkdir(exist_ok=True)
        if created:
            _fsync_dir(self.root)
        # A concurrent upload of the same content may have installed it first: same bytes
        # (both verified against the id), so replacing is harmless and still atomic.
        os.replace(part, final)
        _fsync_dir(final.parent)
        (self.uploads / f"{session.session_id}.json").unlink(missing_ok=True)
        _fsync_dir(self.uploads)

    def _complete_blobs(self) -> list[tuple[str, float]]:
        out = []
        for shard in self.root.iterdir():
            if shard.name == UPLOADS_DIR or not shard.is_dir():
                continue
            for blob in shard.iterdir():
                try:
                    out.append((blob.name, blob.stat().st_mtime))
                except FileNotFoundError:
                    continue
        return out

    def _delete_if_before(self, path: Path, cutoff: float) -> bool:
        try:
            if path.stat().st_mtime >= cutoff:
                return False
        except FileNotFoundError:
            return False
        return self._delete(path)

    def _delete(self, path: Path) -> bool:
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        return True


async def _drain(
    in_flight: collections.deque[asyncio.Future[None]], worker: ThreadPoolExecutor
) -> None:
    try:
        for future in in_flight:
            await future
    finally:
        await asyncio.to_thread(worker.shutdown, wait=True)


async def _to_the_end(work: Awaitable[None]) -> None:
    """Await `work` to its end even if the caller is cancelled meanwhile; the cancellation is
    raised afterwards (asyncio.shield alone would return at once and leave `work` running)."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done() and task.cancelled():
                raise
            cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _read_chunks(handle: BinaryIO, start: int, chunk_size: int) -> AsyncIterator[bytes]:
    try:
        await asyncio.to_thread(handle.seek, start)
        while chunk := await asyncio.to_thread(handle.read, chunk_size):
            yield chunk
    finally:
        handle.close()


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        raise NotFound("unknown_upload", "No such upload is open.") from None


class _BatchWriter:
    """Appends batches to an upload's part file and hashes them, on the worker thread, in
    order; after a failed write nothing more is written (the offset stays exact)."""

    def __init__(
        self, out: BinaryIO, hasher: BlobHasher | None, body_hasher: BodyHasher | None = None
    ) -> None:
        self.out, self.hasher, self.body_hasher = out, hasher, body_hasher
        self.written = 0
        self.failure: BaseException | None = None

    def write(self, pieces: list[bytes]) -> None:
        for piece in pieces:
            if self.failure is not None:
                return
            try:
                self.out.write(piece)
            except BaseException as exc:
                self.failure = exc
                return
            self.written += len(piece)
            if self.hasher is not None:
                self.hasher.update(piece)
            if self.body_hasher is not None:
                self.body_hasher.update(piece)
        try:
            self.out.flush()
        except BaseException as exc:
            if self.failure is None:
                self.failure = exc

    def sync(self) -> None:
        try:
            self.out.flush()
            os.fsync(self.out.fileno())
        except BaseException as exc:
            if self.failure is None:
                self.failure = exc


def _hash_file(path: Path) -> bytes:
    hasher = new_blob_hasher()
    with open(path, "rb") as handle:
        while block := handle.read(WRITE_BATCH):
            hasher.update(block)
    return hasher.digest()


def _fsync_dir(path: Path) -> None:
    """Make a rename or unlink in `path` durable (POSIX: fsync the directory itself)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
