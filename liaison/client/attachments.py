"""Attachments on the officer's device: files to blob chunks and back, verified, with progress.

Uploads consume `blob_chunks`, downloads feed `save_attachment`; both hold one block at a time
whatever the file's size. `upload_file` and `download_attachment` run them over the relay's
blob routes (`ApiClient`), resuming after a dropped connection. Encryption and file I/O run in
a worker thread so the event loop (and the desk) stays responsive.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import mimetypes
import os
import secrets
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, TypeVar

from crypto.attachments import (
    MAX_ATTACHMENT_SIZE,
    AttachmentDecryptor,
    AttachmentEncryptor,
    AttachmentRef,
    ciphertext_size,
    new_blob_hasher,
    normalise_media_type,
    sanitise_file_name,
)
from crypto.keys import Rng
from liaison.client import officer
from liaison.client.errors import ClientError, ServerError, TransportError
from liaison.client.home import Home
from liaison.client.pipeline import Pipeline, ThreadedHasher
from liaison.i18n import _

if TYPE_CHECKING:
    from liaison.client.transport import ApiClient

TRANSFER_ATTEMPTS = 5  # connections tried per transfer before the error reaches the officer
READ_BLOCK = 1024 * 1024  # plaintext read and encrypted per worker-thread call
AHEAD = 8  # blocks encrypted ahead of the socket during an upload
Answer = TypeVar("Answer")
ProgressCallback = Callable[[int, int], None]  # (bytes done, bytes in total)


class AttachmentFileError(ClientError, ValueError):
    """The file to attach is unusable (too large, not a file) or changed while being sent."""

    code = "attachment_file_error"


@dataclass(slots=True)
class OutgoingFile:
    """A file to upload: its file key and stream header, and once its blob has been produced
    whole, the reference (which needs the blob hash) for the envelope.

    The blob itself is never stored: `blob_chunks` encrypts the file while it is uploaded (one
    pass: the relay learns the hash at completion, PROTOCOL.md §14.6); after a dropped
    connection it encrypts again with the same key and header, skipping what the relay has.
    """

    path: Path
    name: str
    media_type: str
    size: int
    file_key: bytes
    stream_header: bytes
    reference: AttachmentRef | None = None

    @property
    def blob_size(self) -> int:
        return ciphertext_size(self.size)

    def chunks(
        self, start: int = 0, progress: ProgressCallback | None = None
    ) -> AsyncGenerator[bytes, None]:
        """The blob from `start`, encrypted again from the file (see `blob_chunks`)."""
        return blob_chunks(self, start=start, progress=progress)


class BlobSource(Protocol):
    """What `upload_file` uploads: a blob of known size whose bytes can be produced from any
    offset, and whose reference is known once they have all been produced. A file encrypted
    while it is sent (`OutgoingFile`) or a blob already encrypted into the spool
    (`liaison.client.spool.SpooledBlob`)."""

    @property
    def blob_size(self) -> int: ...

    @property
    def reference(self) -> AttachmentRef | None: ...

    def chunks(
        self, start: int = 0, progress: ProgressCallback | None = None
    ) -> AsyncGenerator[bytes, None]: ...


def guess_media_type(path: Path) -> str:
    guessed, _encoding = mimetypes.guess_type(path.name, strict=False)
    return guessed or "application/octet-stream"


def describe_file(path: Path) -> dict[str, Any]:
    """What a rendering shows of a file about to be attached: the name and media type it will
    travel under, and its size (raises AttachmentFileError for what cannot be attached)."""
    path = Path(path)
    return {
        "name": sanitise_file_name(path.name),
        "size": _regular_file_size(path),
        "media_type": normalise_media_type(guess_media_type(path)),
    }


async def prepare_file(
    path: Path,
    *,
    name: str | None = None,
    media_type: str | None = None,
    rng: Rng | None = None,
) -> OutgoingFile:
    """Check `path` and draw its file key and stream header; encrypts nothing yet."""
    path = Path(path)
    size = await asyncio.to_thread(_regular_file_size, path)
    encryptor = AttachmentEncryptor(rng=rng)
    return OutgoingFile(
        path=path,
        name=sanitise_file_name(path.name if name is None else name),
        media_type=normalise_media_type(
            guess_media_type(path) if media_type is None else media_type
        ),
        size=size,
        file_key=encryptor.file_key,
        stream_header=encryptor.stream_header,
    )


async def seal_file(
    path: Path,
    *,
    name: str | None = None,
    media_type: str | None = None,
    rng: Rng | None = None,
    progress: ProgressCallback | None = None,
) -> OutgoingFile:
    """`prepare_file`, then one pass over the blob to learn its reference (nothing uploaded):
    for callers that need the hash before sending anything."""
    outgoing = await prepare_file(path, name=name, media_type=media_type, rng=rng)
    async for _piece in blob_chunks(outgoing, progress=progress, plaintext_progress=True):
        pass
    return outgoing


async def blob_chunks(
    outgoing: OutgoingFile,
    *,
    start: int = 0,
    progress: ProgressCallback | None = None,
    plaintext_progress: bool = False,
) -> AsyncGenerator[bytes, None]:
    """The blob's bytes from offset `start`, about a block at a time, for an upload.

    Encrypts from the file's start every time (the skipped part costs CPU, not network); when
    the last bytes have been produced, `outgoing.reference` is set. If the file no longer has
    its prepared size, or no longer gives the blob an earlier pass produced, the last chunk is
    withheld and `AttachmentFileError` raised, so the relay never completes a blob the
    reference does not name. Progress counts blob bytes, the resumed part included (plaintext
    bytes with `plaintext_progress`).
    """
    total = outgoing.blob_size
    if not 0 <= start <= total:
        raise ValueError("start offset outside the blob")
    encryptor = AttachmentEncryptor(
        file_key=outgoing.file_key,
        stream_header=outgoing.stream_header,
        hasher=ThreadedHasher(new_blob_hasher()),
    )
    position = 0  # blob bytes produced so far, sent or skipped
    # The worker encrypts up to AHEAD blocks before they are sent (the hash runs on a thread
    # of its own): encrypting, hashing and sending overlap, memory stays a few blocks.
    pipeline = Pipeline()
    ahead: collections.deque[asyncio.Future[tuple[bytes, bool]]] = collections.deque()
    source = await asyncio.to_thread(open, outgoing.path, "rb")
    try:
        final = False
        while not final:
            while len(ahead) < AHEAD:
                ahead.append(pipeline.start(_encrypt_step, source, encryptor, outgoing.size))
            piece, final = await ahead.popleft()
            if final:
                known = outgoing.reference
                if encryptor.plaintext_size != outgoing.size or (
                    known is not None and known.blob_hash != encryptor.blob_hash
                ):
                    raise _changed(outgoing.path)
                outgoing.reference = encryptor.reference(
                    name=outgoing.name, media_type=outgoing.media_type
                )
            elif encryptor.plaintext_size > outgoing.size:
                raise _changed(outgoing.path)
            end = position + len(piece)
            if end > start:
                yield piece[max(0, start - position) :]
            if progress is not None:
                if plaintext_progress:
                    progress(min(encryptor.plaintext_size, outgoing.size), outgoing.size)
                elif end > start:
                    progress(end, total)
            position = end
    finally:
        for future in ahead:
            future.cancel()
        await pipeline.close()  # waits for a step under way before the file closes
        source.close()
        encryptor.close_hasher()


async def save_attachment(
    chunks: AsyncIterable[bytes],
    reference: AttachmentRef,
    directory: Path,
    *,
    progress: ProgressCallback | None = None,
) -> Path:
    """Decrypt and verify a downloaded blob into `directory` under the reference's file name.

    An existing file is never replaced: `name (1).ext` and so on. See `decrypt_to_path`.
    """
    directory = Path(directory)
    target = await asyncio.to_thread(_free_name, directory, reference.name)
    return await decrypt_to_path(chunks, reference, target, progress=progress)


async def decrypt_to_path(
    chunks: AsyncIterable[bytes],
    reference: AttachmentRef,
    target: Path,
    *,
    progress: ProgressCallback | None = None,
) -> Path:
    """Decrypt `chunks` into a temporary file beside `target`; rename it only once verified.

    A tampered, truncated or substituted blob raises its `AttachmentError` and leaves no file:
    the temporary one is removed, and `target` appears only after the final chunk and the hash
    checked out and the bytes were fsynced. Progress counts blob bytes received.
    """
    target = Path(target)
    decryptor = AttachmentDecryptor(reference, hasher=ThreadedHasher(new_blob_hasher()))
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    total = reference.blob_size
    received = 0
    handle = await asyncio.to_thread(_create_private, temporary)
    try:
        # The network is read here while a worker decrypts and writes the blocks before (and
        # a thread of the hasher hashes them): a few blocks in flight at most.
        async with Pipeline() as pipeline:
            with handle:
                # Pieces as they arrived, handed over about a block at a time (never copied
                # into one buffer here: the event loop thread stays free for the socket).
                batch: list[bytes] = []
                batched = 0
                async for chunk in chunks:
                    received += len(chunk)
                    batch.append(chunk)
                    batched += len(chunk)
                    if batched >= READ_BLOCK:
                        await pipeline.submit(_decrypt_blocks, handle, decryptor, batch)
                        batch, batched = [], 0
                    if progress is not None:
                        progress(min(received, total), total)
                if batch:
                    await pipeline.submit(_decrypt_blocks, handle, decryptor, batch)
                await pipeline.submit(_finish_block, handle, decryptor)
                await pipeline.drain()
        await asyncio.to_thread(_install, temporary, target)
    except BaseException:
        decryptor.close_hasher()
        await asyncio.to_thread(temporary.unlink, missing_ok=True)
        raise
    return target


async def decrypt_stream(
    chunks: AsyncIterable[bytes], reference: AttachmentRef
) -> AsyncGenerator[bytes, None]:
    """The plaintext of a blob as it streams in, nothing of it written anywhere.

    Every piece given out has authenticated under the file key (a changed byte is refused at
    its chunk, before its plaintext is given); the LAST piece is held back until the final
    chunk and the blob hash have checked out, so a consumer that has received every byte
    holds the file the reference names, and one whose stream raised (`AttachmentError`) holds
    strictly less than `reference.size` bytes. At most a block of plaintext is held.
    """
    decryptor = AttachmentDecryptor(reference)
    held = b""
    batch: list[bytes] = []
    batched = 0
    try:
        async for chunk in chunks:
            batch.append(chunk)
            batched += len(chunk)
            if batched >= READ_BLOCK:
                plaintext = await asyncio.to_thread(_decrypt_pieces, decryptor, batch)
                batch, batched = [], 0
                if plaintext:
                    if held:
                        yield held
                    held = plaintext
        plaintext = await asyncio.to_thread(_decrypt_pieces, decryptor, batch)
        last = decryptor.finish()  # raises unless complete and the blob the reference names
    except BaseException:
        decryptor.close_hasher()
        raise
    if held or plaintext or last:
        yield held + plaintext + last


# --- over the relay ------------------------------------------------------------------------


async def upload_file(
    api: ApiClient,
    outgoing: BlobSource,
    *,
    progress: ProgressCallback | None = None,
    attempts: int = TRANSFER_ATTEMPTS,
    retry_delay: float = 1.0,
    reauthenticate: Callable[[], Awaitable[object]] | None = None,
) -> AttachmentRef:
    """Upload `outgoing` (a file encrypted in the same pass, or a spooled blob); its reference
    once the relay has verified and stored the blob. After a dropped connection, ask the relay
    where it stands and go on from there; any other failure aborts the upload session.

    A token the relay no longer accepts (401: it expired during a long upload) is renewed
    with `reauthenticate` (signs in again and sets the client's token) and the same session
    resumes at its offset: nothing already received is sent again."""
    renewals = 0

    async def renewed(exc: ServerError) -> bool:
        """After a 401: sign in again (True), or False when that is not possible here."""
        nonlocal renewals
        if exc.status != 401 or reauthenticate is None or renewals >= attempts:
            return False
        renewals += 1
        await reauthenticate()
        return True

    async def with_token(call: Callable[[], Awaitable[Answer]]) -> Answer:
        while True:
            try:
                return await call()
            except ServerError as exc:
                if not await renewed(exc):
                    raise

    state = await api.create_upload(outgoing.blob_size)
    offset = 0
    failures = 0
    try:
        while True:
            chunks = outgoing.chunks(offset, progress)
            try:
                await api.append_upload(
                    state.upload_id, offset, chunks, length=outgoing.blob_size - offset
                )
                break
            except ServerError as exc:
                if await renewed(exc):
                    # Signed in again: the same session goes on from what the relay holds.
                    offset = (await with_token(lambda: api.upload_state(state.upload_id))).offset
                    continue
                if exc.code != "upload_offset_mismatch":
                    raise
                # The relay had more than we knew (our last answer was lost).
                failures += 1
                if failures >= attempts:
                    raise
                offset = (await with_token(lambda: api.upload_state(state.upload_id))).offset
            except TransportError:
                # A drop: ask where the relay stands (signing in again if the token expired
                # meanwhile) and go on from there.
                failures += 1
                if failures >= attempts:
                    raise
                await asyncio.sleep(retry_delay * failures)
                offset = (await with_token(lambda: api.upload_state(state.upload_id))).offset
            finally:
                # Stops this pass's encryption worker and hash thread at once, however the
                # request ended (a finished pass is already closed).
                await chunks.aclose()
        if outgoing.reference is None:  # the relay had every byte before this pass: finish it
            async for _rest in outgoing.chunks(outgoing.blob_size):
                pass
        assert outgoing.reference is not None
        blob = outgoing.reference.blob_id
        await with_token(lambda: api.complete_upload(state.upload_id, blob))
    except BaseException:
        with contextlib.suppress(ClientError):
            await api.abort_upload(state.upload_id)
        raise
    return outgoing.reference


async def upload_signed_in(
    home: Home, api: ApiClient, source: BlobSource, *, progress: ProgressCallback | None = None
) -> AttachmentRef:
    """`upload_file` with this device's token: signed in first, and again (same session, same
    offset) when the relay refuses the token during a long transfer."""

    async def sign_in_again() -> None:
        officer.forget_token(home)
        await officer.authenticate(home, api)

    return await officer.authenticated(
        home,
        api,
        lambda: upload_file(api, source, progress=progress, reauthenticate=sign_in_again),
    )


async def blob_download(
    api: ApiClient,
    reference: AttachmentRef,
    *,
    attempts: int = TRANSFER_ATTEMPTS,
    retry_delay: float = 1.0,
    reauthenticate: Callable[[], Awaitable[object]] | None = None,
) -> AsyncIterator[bytes]:
    """The blob's bytes as they arrive; a dropped connection resumes at the byte it stopped.
    A token refused when resuming (401: it expired meanwhile) is renewed with `reauthenticate`
    and the download goes on from the same byte."""
    received = 0
    failures = 0
    renewals = 0
    while True:
        try:
            async for chunk in api.fetch_blob(reference.blob_id, start=received):
                received += len(chunk)
                yield chunk
            return
        except ServerError as exc:
            # Raised before the answer's first byte: nothing of this request was yielded.
            if exc.status != 401 or reauthenticate is None or renewals >= attempts:
                raise
            renewals += 1
            await reauthenticate()
        except TransportError:
            failures += 1
            if failures >= attempts:
                raise
            await asyncio.sleep(retry_delay * failures)


async def download_attachment(
    api: ApiClient,
    reference: AttachmentRef,
    directory: Path,
    *,
    progress: ProgressCallback | None = None,
    attempts: int = TRANSFER_ATTEMPTS,
    retry_delay: float = 1.0,
    reauthenticate: Callable[[], Awaitable[object]] | None = None,
) -> Path:
    """Fetch, decrypt and verify one attachment into `directory` (see `save_attachment`)."""
    chunks = blob_download(
        api,
        reference,
        attempts=attempts,
        retry_delay=retry_delay,
        reauthenticate=reauthenticate,
    )
    return await save_attachment(chunks, reference, directory, progress=progress)


def open_attachment(
    api: ApiClient,
    reference: AttachmentRef,
    *,
    reauthenticate: Callable[[], Awaitable[object]] | None = None,
) -> AsyncGenerator[bytes, None]:
    """Fetch one attachment and give its verified plaintext as it arrives (`decrypt_stream`):
    for a page that serves it, never a file."""
    return decrypt_stream(blob_download(api, reference, reauthenticate=reauthenticate), reference)


# --- worker-thread steps ----------------------------------------------------------------------


def _regular_file_size(path: Path) -> int:
    if not path.is_file():
        raise AttachmentFileError(_("{path} is not a file.").format(path=path))
    size = path.stat().st_size
    if size > MAX_ATTACHMENT_SIZE:
        raise AttachmentFileError(
            _("{path} is larger than 2 GiB, the most one attachment can be.").format(path=path)
        )
    return size


def _changed(path: Path) -> AttachmentFileError:
    return AttachmentFileError(
        _("{path} changed while it was being sent; send it again.").format(path=path),
        code="attachment_file_changed",
    )


def _encrypt_step(
    source: BinaryIO, encryptor: AttachmentEncryptor, size: int
) -> tuple[bytes, bool]:
    """The next blob bytes and whether they end the blob (then the encryptor is finished;
    steps queued after that give nothing). Reads one byte past the prepared size at most, so
    a file that grew is noticed without encrypting what it grew by."""
    if encryptor.finished:
        return b"", True
    if encryptor.plaintext_size > size:
        return b"", False  # grew: refused by the caller, nothing more read
    while block := source.read(min(READ_BLOCK, size - encryptor.plaintext_size + 1)):
        out = encryptor.update(block)
        if encryptor.plaintext_size > size:
            return b"", False  # the caller sees the size and refuses the file
        if out:
            return out, False
    return encryptor.finish(), True


def _decrypt_pieces(decryptor: AttachmentDecryptor, pieces: list[bytes]) -> bytes:
    return b"".join(decryptor.update(piece) for piece in pieces)


def _decrypt_blocks(handle: BinaryIO, decryptor: AttachmentDecryptor, pieces: list[bytes]) -> None:
    for piece in pieces:
        plaintext = decryptor.update(piece)
        if plaintext:
            handle.write(plaintext)


def _finish_block(handle: BinaryIO, decryptor: AttachmentDecryptor) -> None:
    handle.write(decryptor.finish())
    handle.flush()
    os.fsync(handle.fileno())


def _create_private(path: Path) -> BinaryIO:
    # O_EXCL: never write through a file or link someone placed there; 0600: decrypted content.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


def _install(temporary: Path, target: Path) -> None:
    # link + unlink instead of rename: fails if `target` appeared meanwhile, never replaces it.
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise
    except OSError:
        # File systems without hard links (FAT or exFAT memory sticks): check, then rename.
        if target.exists():
            raise FileExistsError(target) from None
        os.rename(temporary, target)
    else:
        temporary.unlink()
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _free_name(directory: Path, name: str) -> Path:
    candidate = directory / name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, extension = name, ""
    suffix = f".{extension}" if extension else ""
    number = 1
    while candidate.exists():
        candidate = directory / f"{stem} ({number}){suffix}"
        number += 1
    return candidate


# --- progress on the command line ------------------------------------------------------------

_UNITS = ("B", "KiB", "MiB", "GiB")


def format_bytes(count: int) -> str:
    value = float(count)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_tenths(done: int, total: int) -> int:
    """0..10: how many tenths of the transfer are done (an empty transfer is complete)."""
    if total <= 0:
        return 10
    return min(10, max(0, done) * 10 // total)


def format_progress(done: int, total: int, elapsed: float) -> str:
    """One progress line: bytes, percentage, and once measurable the rate and time left."""
    percent = 100 if total <= 0 else min(100, max(0, done) * 100 // total)
    if elapsed <= 0 or done <= 0:
        return _("{done} of {total} ({percent}%)").format(
            done=format_bytes(done), total=format_bytes(total), percent=percent
        )
    rate = done / elapsed
    left = max(0, total - done) / rate
    return _("{done} of {total} ({percent}%), {rate}/s, {left} left").format(
        done=format_bytes(done),
        total=format_bytes(total),
        percent=percent,
        rate=format_bytes(round(rate)),
        left=format_duration(left),
    )


class ProgressPrinter:
    """A ProgressCallback for the CLI: a redrawn line on a terminal, a line per 10 % otherwise."""

    def __init__(
        self,
        write: Callable[[str], object],
        *,
        tty: bool,
        clock: Callable[[], float],
    ) -> None:
        self._write = write
        self._tty = tty
        self._clock = clock
        self._started = clock()
        self._printed_tenths = -1
        self._last_width = 0

    def __call__(self, done: int, total: int) -> None:
        line = format_progress(done, total, self._clock() - self._started)
        if self._tty:
            pad = " " * max(0, self._last_width - len(line))
            self._last_width = len(line)
            self._write("\r" + line + pad + ("\n" if done >= total else ""))
            return
        tenths = progress_tenths(done, total)
        if tenths > self._printed_tenths:
            self._printed_tenths = tenths
            self._write(line + "\n")
