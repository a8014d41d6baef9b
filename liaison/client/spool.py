"""The ciphertext spool: attachments encrypted as their bytes arrive, kept only as blobs.

The desk receives a file from the browser as a stream; it is encrypted chunk by chunk into a
blob file (`AttachmentEncryptor`, crypto/PROTOCOL.md §14.1) while it arrives, so no plaintext
of it is ever written to disk. What stays is the blob, byte for byte the one the relay will
store, and its reference (file key, blob hash, size, name), which lives in memory or inside a
locally sealed outbox item or draft (PROTOCOL.md §7.2, §7.3) — never beside the blob.

Folders of the home (each 0700, blob files 0600, created with O_EXCL):

    spool/          blobs of a form being sent right now (deleted once handed on or refused;
                    leftovers of a desk stopped meanwhile are swept when a desk unlocks)
    outbox/blobs/   blobs of outbox items, until the item has been delivered or deleted
    drafts/blobs/   blobs of saved drafts, until the draft is sent or deleted

A blob moves between them by rename: whichever folder holds it owns it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from crypto.attachments import (
    MAX_ATTACHMENT_SIZE,
    AttachmentEncryptor,
    AttachmentRef,
    normalise_media_type,
    sanitise_file_name,
)
from crypto.errors import MalformedError
from crypto.keys import Rng
from liaison.client.attachments import (
    READ_BLOCK,
    AttachmentFileError,
    ProgressCallback,
    guess_media_type,
)
from liaison.client.errors import ClientError
from liaison.client.home import Home
from liaison.i18n import _

SPOOL_DIR = "spool"
BLOB_SUFFIX = ".blob"
LEFTOVER_SECONDS = 3600.0  # a blob in the spool this old belongs to no form in progress


class SpoolTooLarge(AttachmentFileError):
    """The streamed file passed the 2 GiB an attachment may have; nothing of it is kept."""

    code = "attachment_too_large"


@dataclass(frozen=True, slots=True)
class SpooledBlob:
    """One attachment encrypted into a blob file: `path` holds ciphertext only, `reference`
    (with the file key) is kept by the caller, in memory or locally sealed."""

    path: Path
    reference: AttachmentRef

    @property
    def blob_size(self) -> int:
        return self.reference.blob_size

    def chunks(
        self, start: int = 0, progress: ProgressCallback | None = None
    ) -> AsyncGenerator[bytes, None]:
        """The blob from offset `start`, read from its file (an upload's `BlobSource`)."""
        return _read_blob(self, start, progress)

    def to_json(self) -> dict[str, Any]:
        """For a sealed item: the blob's file name and its reference (with the file key)."""
        return {"file": self.path.name, "attachment": self.reference.to_json()}

    @classmethod
    def from_json(cls, folder: Path, value: Any) -> SpooledBlob:
        if not isinstance(value, dict):
            raise MalformedError("a spooled blob is an object")
        name = str(value.get("file", ""))
        if Path(name).name != name or not name.endswith(BLOB_SUFFIX):
            raise MalformedError("a spooled blob's file name is a plain *.blob name")
        return cls(folder / name, AttachmentRef.from_json(value.get("attachment")))

    def copy_to(self, folder: Path) -> SpooledBlob:
        """The same blob under a new name in `folder` (a hard link where the file system has
        them, else a copy), so that sending a draft's files leaves the draft whole."""
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = folder / f"{secrets.token_hex(16)}{BLOB_SUFFIX}"
        try:
            os.link(self.path, target)
        except OSError:
            shutil.copyfile(self.path, target)
            os.chmod(target, 0o600)
        return SpooledBlob(target, self.reference)

    def move_to(self, folder: Path) -> SpooledBlob:
        """The same blob, renamed into `folder` (made 0700 if missing)."""
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = folder / self.path.name
        os.rename(self.path, target)
        return SpooledBlob(target, self.reference)


def spool_folder(home: Home) -> Path:
    return home.root / SPOOL_DIR


async def spool_stream(
    folder: Path,
    chunks: AsyncIterable[bytes],
    *,
    name: str,
    media_type: str | None = None,
    rng: Rng | None = None,
) -> SpooledBlob:
    """Encrypt `chunks` (a file's bytes as they arrive) into a new blob file in `folder`.

    Only ciphertext is written; the file key stays in the returned reference. More than 2 GiB
    raises `SpoolTooLarge`; any failure removes the partial blob.
    """
    name = sanitise_file_name(name)
    kind = normalise_media_type(guess_media_type(Path(name)) if media_type is None else media_type)
    encryptor = AttachmentEncryptor(rng=rng)
    path, handle = await asyncio.to_thread(_create_blob, folder)
    try:
        with handle:
            async for chunk in chunks:
                if encryptor.plaintext_size + len(chunk) > MAX_ATTACHMENT_SIZE:
                    raise SpoolTooLarge(
                        _("A file is larger than 2 GiB, the most one attachment can be.")
                    )
                await asyncio.to_thread(_encrypt_into, handle, encryptor, chunk)
            await asyncio.to_thread(_finish_into, handle, encryptor)
    except BaseException:
        encryptor.close_hasher()
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    return SpooledBlob(path, encryptor.reference(name=name, media_type=kind))


async def spool_file(folder: Path, source: Path, *, name: str | None = None) -> SpooledBlob:
    """Encrypt the officer's own file `source` into a blob in `folder` (`send --queue --file`:
    the file is read now, so the queued message does not depend on it staying as it is)."""
    source = Path(source)
    if not source.is_file():
        raise AttachmentFileError(_("{path} is not a file.").format(path=source))
    return await spool_stream(folder, _file_blocks(source), name=name or source.name)


def sweep(folder: Path, *, older_than: float, now: float | None = None) -> int:
    """Remove blobs left in `folder` by a desk stopped in the middle of a form (older than
    `older_than` seconds: a form being handled right now is younger); how many went. Their
    keys were only in that desk's memory: nothing can open them, they only take space."""
    if not folder.is_dir():
        return 0
    limit = (time.time() if now is None else now) - older_than
    removed = 0
    for path in folder.glob(f"*{BLOB_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
    return removed


def remove_item(path: Path, owned: Callable[[], Iterable[SpooledBlob]]) -> None:
    """Remove a sealed item's file (an outbox item, a draft), then its blobs. `owned()` opens
    the item; one that no longer opens leaves its blobs, ciphertext no one holds a key to."""
    try:
        blobs = tuple(owned())
    except ClientError:
        blobs = ()
    path.unlink(missing_ok=True)
    discard(blobs)


def discard(blobs: Iterable[SpooledBlob]) -> None:
    """Remove blob files (ciphertext, but no longer needed); missing ones are fine."""
    for blob in blobs:
        blob.path.unlink(missing_ok=True)


# --- worker-thread steps ----------------------------------------------------------------------


def _create_blob(folder: Path) -> tuple[Path, BinaryIO]:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{secrets.token_hex(16)}{BLOB_SUFFIX}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return path, os.fdopen(fd, "wb")


def _encrypt_into(handle: BinaryIO, encryptor: AttachmentEncryptor, chunk: bytes) -> None:
    handle.write(encryptor.update(chunk))


def _finish_into(handle: BinaryIO, encryptor: AttachmentEncryptor) -> None:
    handle.write(encryptor.finish())
    handle.flush()
    os.fsync(handle.fileno())


async def _file_blocks(source: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(open, source, "rb")
    try:
        while block := await asyncio.to_thread(handle.read, READ_BLOCK):
            yield block
    finally:
        handle.close()


async def _read_blob(
    blob: SpooledBlob, start: int, progress: ProgressCallback | None
) -> AsyncGenerator[bytes, None]:
    total = blob.blob_size
    if not 0 <= start <= total:
        raise ValueError("start offset outside the blob")
    handle = await asyncio.to_thread(open, blob.path, "rb")
    try:
        await asyncio.to_thread(handle.seek, start)
        position = start
        while position < total:
            block = await asyncio.to_thread(handle.read, min(READ_BLOCK, total - position))
            if not block:
                # Cut short on disk: the relay would refuse the blob at completion anyway.
                raise AttachmentFileError(
                    _("{path} changed while it was being sent; send it again.").format(
                        path=blob.reference.name
                    ),
                    code="attachment_file_changed",
                )
            position += len(block)
            yield block
            if progress is not None:
                progress(position, total)
    finally:
        handle.close()


__all__ = [
    "SPOOL_DIR",
    "SpoolTooLarge",
    "SpooledBlob",
    "discard",
    "remove_item",
    "spool_file",
    "spool_folder",
    "spool_stream",
    "sweep",
]
