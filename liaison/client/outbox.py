"""The encrypted outbox: messages and notices composed while the relay could not be reached.

Each item is one file `HOME/outbox/<name>.sealed`, a local seal (crypto/PROTOCOL.md §7.2,
label `local-outbox`) of the canonical JSON of the item; `<name>` is the composition time in
nanoseconds and a random id, so the names sort in the order the officer composed them.

Sending (`send_waiting`) runs the send pipeline's three steps apart, in order, one item at a
time, under a lock file (`HOME/outbox/.lock`) so that two processes (the desk and the command
line) never send the same item:

    waiting --seal (needs the relay's device list)--> sealed --upload--> confirm --> removed

An item with files holds their blobs (ciphertext, `HOME/outbox/blobs/`, see
liaison/client/spool.py) and, inside the sealed item only, their references with the file keys
(the payload's attachments). Every attempt uploads the blobs first, then the envelope that
declares them: a blob the relay already holds is stored once more under the same id, and one
that expired meanwhile is there again. The blobs are removed with the item.

The sealed envelope is written into the item before it is uploaded. A process killed between
the upload and the removal uploads the same bytes again next time, and the relay answers an
identical envelope with its first receipt: each item reaches the relay exactly once. An item
the relay refuses keeps the refusal and stops the sending (the order is kept) until the officer
retries or deletes it; an unreachable relay leaves it waiting.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from crypto.attachments import AttachmentRef
from crypto.encoding import b64d, b64e, canonical_json, parse_canonical_json
from crypto.errors import CryptoError
from crypto.keys import DeviceKeys
from crypto.labels import LABEL_LOCAL_OUTBOX
from crypto.local_seal import LocalSealError, local_seal_key, open_local, seal_local
from liaison.client.addresses import Address
from liaison.client.attachments import upload_signed_in
from liaison.client.errors import BadInput, ClientError, ServerError, TransportError
from liaison.client.home import Home
from liaison.client.payload import Payload
from liaison.client.send import SealedMessage, SentMessage, confirm, seal_message, upload_sealed
from liaison.client.spool import SpooledBlob, remove_item
from liaison.client.transport import ApiClient
from liaison.i18n import _

try:  # POSIX: an advisory lock the kernel releases when the process dies
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

OUTBOX_DIR = "outbox"
BLOBS_DIR = "outbox/blobs"
LOCK_NAME = ".lock"
SUFFIX = ".sealed"
ITEM_VERSION = 1
_NAME_RE = re.compile(r"^[0-9]{19}-[0-9a-f]{8}$")
_ID_RE = re.compile(r"^[0-9a-f]{8}$")

WAITING = "waiting"  # composed; sealed when the relay answers
SEALED = "sealed"  # envelope made and signed, kept here until the relay confirms it


class OutboxError(ClientError):
    code = "outbox_error"


def retry_later(exc: BaseException) -> bool:
    """A failure that leaves an item waiting: the relay unreachable, or failing for now."""
    if isinstance(exc, TransportError):
        return True
    return isinstance(exc, ServerError) and (exc.status >= 500 or exc.status == 429)


def _sealed_to_json(sealed: SealedMessage) -> dict[str, Any]:
    return {
        "raw": b64e(sealed.raw),
        "message_id": sealed.message_id,
        "envelope_hash": sealed.envelope_hash,
        "addresses": list(sealed.addresses),
        "recipients": list(sealed.recipients),
        "review_agencies": list(sealed.review_agencies),
        "tags": list(sealed.tags),
        "blobs": list(sealed.blobs),
        "sent_at": sealed.sent_at,
        "content_type": sealed.content_type,
    }


def _sealed_from_json(value: dict[str, Any]) -> SealedMessage:
    return SealedMessage(
        raw=b64d(value["raw"]),
        message_id=str(value["message_id"]),
        envelope_hash=str(value["envelope_hash"]),
        addresses=tuple(value["addresses"]),
        recipients=tuple(value["recipients"]),
        review_agencies=tuple(value["review_agencies"]),
        tags=tuple(value["tags"]),
        blobs=tuple(value["blobs"]),
        sent_at=int(value["sent_at"]),
        content_type=str(value["content_type"]),
    )


@dataclass(frozen=True)
class OutboxItem:
    """One waiting message; `summary` is what the officer sees in the list (local only)."""

    name: str
    created_at: int
    addresses: tuple[str, ...]
    payload: Payload
    summary: str = ""
    state: str = WAITING
    sealed: SealedMessage | None = None
    attempts: int = 0
    error_code: str | None = None
    error_message: str | None = None
    damaged: bool = field(default=False, compare=False)
    blobs: tuple[SpooledBlob, ...] = ()  # the files' blobs, uploaded before the envelope

    @property
    def item_id(self) -> str:
        return self.name.rsplit("-", 1)[-1]

    @property
    def message_id(self) -> str | None:
        return self.sealed.message_id if self.sealed else None

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "v": ITEM_VERSION,
                "created_at": self.created_at,
                "addresses": list(self.addresses),
                "payload": b64e(self.payload.to_bytes()),
                "summary": self.summary,
                "state": self.state,
                "sealed": _sealed_to_json(self.sealed) if self.sealed else None,
                "attempts": self.attempts,
                "blobs": [blob.to_json() for blob in self.blobs],
                "error": (
                    {"code": self.error_code, "message": self.error_message or ""}
                    if self.error_code
                    else None
                ),
            }
        )

    @classmethod
    def from_bytes(cls, name: str, data: bytes, blob_folder: Path | None = None) -> OutboxItem:
        value = parse_canonical_json(data)
        listed = value.get("blobs", [])
        if not isinstance(listed, list) or (listed and blob_folder is None):
            raise ValueError("an outbox item's blobs are a list, read with their folder")
        blobs = tuple(SpooledBlob.from_json(blob_folder, b) for b in listed if blob_folder)
        if value.get("v") != ITEM_VERSION or value.get("state") not in (WAITING, SEALED):
            raise ValueError("unknown outbox item")
        sealed = value.get("sealed")
        error = value.get("error")
        return cls(
            name=name,
            created_at=int(value["created_at"]),
            addresses=tuple(str(a) for a in value["addresses"]),
            payload=Payload.from_bytes(b64d(value["payload"])),
            summary=str(value.get("summary", "")),
            state=value["state"],
            sealed=_sealed_from_json(sealed) if sealed else None,
            attempts=int(value.get("attempts", 0)),
            error_code=error["code"] if error else None,
            error_message=error["message"] if error else None,
            blobs=blobs,
        )


@dataclass
class SendReport:
    """What one run of `send_waiting` did."""

    sent: list[tuple[OutboxItem, SentMessage]] = field(default_factory=list)
    waiting: int = 0  # items left in the outbox
    busy: bool = False  # another process holds the lock: it is sending them
    stopped_at: OutboxItem | None = None  # the item that stopped the run (refused or damaged)
    error: ClientError | None = None  # why it stopped (None: relay unreachable or all sent)
    unreachable: bool = False


class Outbox:
    """This device's outbox, opened with its unlocked keys."""

    def __init__(self, home: Home, keys: DeviceKeys) -> None:
        self.home = home
        self._key = local_seal_key(bytes(keys.signing), LABEL_LOCAL_OUTBOX)

    @property
    def folder(self) -> os.PathLike[str]:
        return self.home.root / OUTBOX_DIR

    def _names(self) -> list[str]:
        folder = self.home.root / OUTBOX_DIR
        if not folder.is_dir():
            return []
        return sorted(
            p.name[: -len(SUFFIX)]
            for p in folder.iterdir()
            if p.name.endswith(SUFFIX) and _NAME_RE.match(p.name[: -len(SUFFIX)])
        )

    def _relative(self, name: str) -> str:
        if not _NAME_RE.match(name):
            raise BadInput(_("{id} does not name an item of the outbox.").format(id=name))
        return f"{OUTBOX_DIR}/{name}{SUFFIX}"

    def save(self, item: OutboxItem) -> OutboxItem:
        sealed = seal_local(self._key, LABEL_LOCAL_OUTBOX, item.name, item.to_bytes())
        self.home.write_bytes(self._relative(item.name), sealed)
        return item

    def load(self, name: str) -> OutboxItem:
        """One item; a file that does not open (changed, renamed, another device's) is refused."""
        data = self.home.read_bytes(self._relative(name))
        if data is None:
            raise OutboxError(
                _("{id} does not name an item of the outbox.").format(id=name),
                code="outbox_not_found",
            )
        try:
            return OutboxItem.from_bytes(
                name,
                open_local(self._key, LABEL_LOCAL_OUTBOX, name, data),
                self.home.root / BLOBS_DIR,
            )
        except (LocalSealError, CryptoError, ClientError, ValueError, KeyError, TypeError) as exc:
            raise OutboxError(
                _(
                    "The outbox item {id} cannot be opened: it was changed, or it is not from "
                    "this device. It is not sent; delete it and compose the message again."
                ).format(id=name.rsplit("-", 1)[-1]),
                code="outbox_damaged",
            ) from exc

    def items(self) -> list[OutboxItem]:
        """Every item in order; a damaged one is listed as such (its content unknown)."""
        found = []
        for name in self._names():
            try:
                found.append(self.load(name))
            except OutboxError as exc:
                if exc.code != "outbox_damaged":
                    raise
                found.append(OutboxItem(name, 0, (), Payload("", b""), str(exc), damaged=True))
        return found

    def find(self, item_id: str) -> str:
        """The file name of an item given by its id (or its full name)."""
        item_id = item_id.strip().lower()
        for name in self._names():
            if name == item_id or (_ID_RE.match(item_id) and name.endswith("-" + item_id)):
                return name
        raise OutboxError(
            _("{id} does not name an item of the outbox.").format(id=item_id),
            code="outbox_not_found",
        )

    def add(
        self,
        addresses: Sequence[str],
        payload: Payload,
        *,
        summary: str = "",
        now: int,
        blobs: Sequence[SpooledBlob] = (),
    ) -> OutboxItem:
        """Keep a composed message to send when the relay answers (addresses checked now).
        `blobs` (spooled attachments) move into the outbox and join the payload's attachments."""
        if not addresses:
            raise BadInput(_("Give at least one recipient with --to."))
        parsed = tuple(str(Address.parse(text)) for text in addresses)
        kept = tuple(blob.move_to(self.home.root / BLOBS_DIR) for blob in blobs)
        refs: tuple[AttachmentRef, ...] = tuple(blob.reference for blob in kept)
        payload = replace(payload, attachments=(*payload.attachments, *refs))
        existing = set(self._names())
        while True:
            name = f"{time.time_ns():019d}-{secrets.token_hex(4)}"
            if name not in existing and not any(n.endswith(name[-9:]) for n in existing):
                break
        item = OutboxItem(name, now, parsed, payload, summary[:200], blobs=kept)
        return self.save(item)

    def delete(self, item_id: str) -> None:
        name = self.find(item_id)
        with self.lock(wait=True):
            self.remove(name)

    def remove(self, name: str) -> None:
        """The item's file and its blobs (of a damaged item, only the file: its blobs are
        unknown, and stay as ciphertext nobody holds a key to)."""
        remove_item(self.home.root / self._relative(name), lambda: self.load(name).blobs)

    def retry(self, item_id: str) -> OutboxItem:
        """Forget a refusal so that the next run sends the item again."""
        name = self.find(item_id)
        with self.lock(wait=True):
            item = self.load(name)
            return self.save(replace(item, error_code=None, error_message=None))

    @contextlib.contextmanager
    def lock(self, *, wait: bool = False) -> Iterator[bool]:
        """The outbox's lock file, held while sending; yields False when another process holds
        it (and `wait` is false)."""
        folder = self.home.root / OUTBOX_DIR
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is None:  # pragma: no cover - Windows: no second process is guarded
                yield True
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


Clock = Callable[[], int]


async def send_waiting(
    home: Home, api: ApiClient, keys: DeviceKeys, *, clock: Clock | None = None
) -> SendReport:
    """Send the outbox's items in order until it is empty, the relay cannot be reached, or an
    item is refused or damaged (which stops the run, so that the order is kept)."""
    clock = clock or (lambda: int(time.time()))
    outbox = Outbox(home, keys)
    report = SendReport()
    with outbox.lock() as held:
        if not held:
            report.busy = True
            report.waiting = len(outbox._names())
            return report
        while names := outbox._names():  # again after each item: one added meanwhile goes too
            name = names[0]
            try:
                item = outbox.load(name)
            except OutboxError as exc:
                report.stopped_at = OutboxItem(name, 0, (), Payload("", b""), damaged=True)
                report.error = exc
                break
            if item.error_code:
                report.stopped_at, report.error = (
                    item,
                    OutboxError(item.error_message or item.error_code, code=item.error_code),
                )
                break
            try:
                if item.sealed is None:
                    sealed = await seal_message(
                        home, api, item.addresses, item.payload, keys=keys, now=clock()
                    )
                    # Kept before it leaves: a crash from here on uploads these same bytes.
                    item = outbox.save(replace(item, state=SEALED, sealed=sealed))
                assert item.sealed is not None
                for blob in item.blobs:  # before the envelope that declares them
                    await upload_signed_in(home, api, blob)
                answer = await upload_sealed(home, api, item.sealed)
            except ClientError as exc:
                if retry_later(exc):
                    outbox.save(replace(item, attempts=item.attempts + 1))
                    report.unreachable = True
                    break
                item = outbox.save(
                    replace(
                        item,
                        attempts=item.attempts + 1,
                        error_code=exc.code,
                        error_message=str(exc),
                    )
                )
                report.stopped_at, report.error = item, exc
                break
            try:
                sent = await confirm(home, api, item.sealed, answer, item.payload, keys=keys)
            except ClientError as exc:
                # Delivered: the relay holds it. The record is kept (without its inclusion when
                # the log check failed, for `audit verify` to report); the item is done.
                outbox.remove(name)
                report.stopped_at, report.error = item, exc
                break
            outbox.remove(name)
            report.sent.append((item, sent))
        report.waiting = len(outbox._names())
    return report


def waiting_count(home: Home) -> int:
    """How many items the outbox holds (file names only: nothing is decrypted)."""
    folder = home.root / OUTBOX_DIR
    if not folder.is_dir():
        return 0
    return sum(
        1
        for p in folder.iterdir()
        if p.name.endswith(SUFFIX) and _NAME_RE.match(p.name[: -len(SUFFIX)])
    )


def summary_of(payload: Payload, *, limit: int = 80) -> str:
    """A short line naming a composed message in the outbox list (kept sealed)."""
    if payload.is_text:
        text = " ".join(payload.as_text().split())
    else:
        text = payload.filename or payload.content_type.split(";")[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = [
    "BLOBS_DIR",
    "OUTBOX_DIR",
    "Outbox",
    "OutboxError",
    "OutboxItem",
    "SendReport",
    "retry_later",
    "send_waiting",
    "summary_of",
    "waiting_count",
]
