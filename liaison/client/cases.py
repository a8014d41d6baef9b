"""Cases on an officer's device: verified notices, kept sealed locally, replayed into cases."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import nacl.exceptions
import nacl.secret
import nacl.signing
import nacl.utils

from crypto.encoding import (
    b64d,
    b64e,
    canonical_json,
    derive_key,
    frame,
    labelled_hash,
    parse_canonical_json,
    signed_message,
)
from crypto.errors import CryptoError
from crypto.keys import DeviceKeys, Rng, parse_device_id
from crypto.labels import (
    LABEL_HANDOVER_COUNTERSIGNATURE,
    LABEL_HANDOVER_RECORD_HASH,
    LABEL_LOCAL_NOTICE_CACHE,
)
from liaison.client import directory, officer
from liaison.client import messages as message_ops
from liaison.client.errors import ClientError
from liaison.client.home import Home
from liaison.client.notices import check_addressing, ensure_sender_unit, notice_payload
from liaison.client.payload import NOTICE, Payload
from liaison.client.transport import ApiClient
from liaison.domain.case_events import LoggedNotice, country_side
from liaison.domain.cases import Case, derive_cases
from liaison.domain.fields import NoticeError
from liaison.domain.handover import CountersignatureCheck, Handover
from liaison.domain.notices import Notice, parse_notice
from liaison.i18n import _

NOTICE_CACHE_DIR = "notices"
# The local sealed notice cache's key is derived from the device's own signing seed: the cache
# is readable only with the passphrase, like the keystore, and no second secret is kept.


# --- The countersignature of a handover record (docs/state-machines/handover.md) ------------
def record_hash(record: LoggedNotice) -> bytes:
    """BLAKE2b-256 over the label, the record's message id and its canonical JSON (RFC 8785,
    the bytes `notice_to_bytes` seals; a place's coordinates may be fractions, hence
    `allow_floats`)."""
    return labelled_hash(
        LABEL_HANDOVER_RECORD_HASH,
        record.message_id.encode(),
        canonical_json(record.notice, allow_floats=True),
    )


def _countersigned_message(record_id: str, digest: bytes) -> bytes:
    return signed_message(LABEL_HANDOVER_COUNTERSIGNATURE, frame(record_id.encode(), digest))


def countersign_record(keys: DeviceKeys, record: LoggedNotice) -> tuple[str, str]:
    """The `record_hash` and `countersignature` (base64) of a receipt_ack over `record`."""
    digest = record_hash(record)
    signature = keys.signing.sign(_countersigned_message(record.message_id, digest)).signature
    return b64e(digest), b64e(signature)


def verify_countersignature(record: LoggedNotice, ack: LoggedNotice, signing_key: bytes) -> bool:
    """Whether `ack` carries this record's hash, signed by the device key `signing_key`."""
    try:
        claimed = b64d(str(ack.fields["record_hash"]))
        signature = b64d(str(ack.fields["countersignature"]))
        if claimed != record_hash(record):
            return False
        nacl.signing.VerifyKey(signing_key).verify(
            _countersigned_message(record.message_id, claimed), signature
        )
    except (KeyError, ValueError, TypeError, CryptoError, nacl.exceptions.CryptoError):
        return False
    return True


def countersignature_check(signing_keys: Mapping[str, bytes]) -> CountersignatureCheck:
    """The check `derive_cases` asks for: the ack's sender device key comes from `signing_keys`
    (certified keys, checked against pinned roots and the log when the notice was opened)."""

    def check(record: LoggedNotice, ack: LoggedNotice) -> bool:
        key = signing_keys.get(ack.sender_device)
        return key is not None and verify_countersignature(record, ack, key)

    return check


# --- Local sealed copies of notices -----------------------------------------------------------
@dataclass(frozen=True)
class CachedNotice:
    """A verified message as case derivation needs it; `notice` is None for other content."""

    message_id: str
    log_index: int
    sender_device: str
    sender_key: bytes  # the certified Ed25519 key that signed the envelope
    sent_at: int
    notice: Mapping[str, Any] | None
    recipient_agencies: tuple[str, ...] = ()  # of the envelope's recipient devices

    def logged(self) -> LoggedNotice | None:
        if self.notice is None:
            return None
        agency, officer_id, _suffix = parse_device_id(self.sender_device)
        return LoggedNotice(
            log_index=self.log_index,
            message_id=self.message_id,
            sender_device=self.sender_device,
            sender_agency=agency,
            sender_officer=officer_id,
            sent_at=self.sent_at,
            notice=self.notice,
        )


class NoticeCache:
    """Decrypted notices sealed (XSalsa20-Poly1305) under a key derived from the device key."""

    def __init__(self, home: Home, keys: DeviceKeys, *, rng: Rng | None = None) -> None:
        self.home = home
        key = derive_key(bytes(keys.signing), LABEL_LOCAL_NOTICE_CACHE)
        self._box = nacl.secret.SecretBox(key)
        self._rng = rng or nacl.utils.random

    def _path(self, message_id: str) -> str:
        self.home.message_path(message_id)  # validates the id
        return f"{NOTICE_CACHE_DIR}/{message_id}.sealed"

    def put(self, item: CachedNotice) -> None:
        value = {
            "message_id": item.message_id,
            "log_index": item.log_index,
            "sender_device": item.sender_device,
            "sender_key": b64e(item.sender_key),
            "sent_at": item.sent_at,
            "notice": json.dumps(item.notice, ensure_ascii=False) if item.notice else "",
            "recipient_agencies": list(item.recipient_agencies),
        }
        nonce = self._rng(nacl.secret.SecretBox.NONCE_SIZE)
        sealed = self._box.encrypt(canonical_json(value), nonce)
        self.home.write_bytes(self._path(item.message_id), bytes(sealed))

    def get(self, message_id: str) -> CachedNotice | None:
        data = self.home.read_bytes(self._path(message_id))
        if data is None:
            return None
        try:
            value = parse_canonical_json(self._box.decrypt(data))
        except (nacl.exceptions.CryptoError, CryptoError, ValueError):
            return None  # unreadable: opened again from the encrypted message cache
        return CachedNotice(
            message_id=value["message_id"],
            log_index=int(value["log_index"]),
            sender_device=value["sender_device"],
            sender_key=b64d(value["sender_key"]),
            sent_at=int(value["sent_at"]),
            notice=json.loads(value["notice"]) if value["notice"] else None,
            recipient_agencies=tuple(value.get("recipient_agencies", ())),
        )


def payload_notice(payload: Payload) -> Mapping[str, Any] | None:
    """The notice a payload carries, as sent, when it is a valid notice; else None."""
    if payload.content_type.split(";")[0].strip() != NOTICE:
        return None
    try:
        parse_notice(payload.body)
        value = json.loads(payload.body)
    except (NoticeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


# --- Loading a case book ----------------------------------------------------------------------
@dataclass
class CaseBook:
    """Every case this device can derive, with the notices it was derived from."""

    agency: str
    officer_id: str
    device_id: str
    cases: dict[str, Case]
    events: list[LoggedNotice]
    problems: list[tuple[str, str]] = field(default_factory=list)  # (message id, code)
    addressed: dict[str, tuple[str, ...]] = field(default_factory=dict)  # message id -> agencies

    @property
    def side(self) -> str:
        return country_side(self.agency)

    def case(self, case_ref: str) -> Case | None:
        return self.cases.get(case_ref)

    def event(self, message_id: str) -> LoggedNotice | None:
        return next((e for e in self.events if e.message_id == message_id), None)

    def handover(self, prefix: str) -> Handover:
        """The handover whose id is `prefix` or starts with it (unique)."""
        prefix = prefix.strip()
        found = [
            handover
            for case in self.cases.values()
            for handover_id, handover in case.handovers.items()
            if prefix and handover_id.startswith(prefix)
        ]
        if len(found) != 1:
            raise ClientError(
                _no_handover(prefix) if not found else _ambiguous_handover(prefix),
                code="unknown_handover" if not found else "ambiguous_handover",
            )
        return found[0]


def _no_handover(prefix: str) -> str:
    return _("No handover {id} in the cases of this device: run `liaison cases`.").format(id=prefix)


def _ambiguous_handover(prefix: str) -> str:
    return _("The id {id} matches several handovers: give more digits.").format(id=prefix)


def derive_book(
    home: Home, cache_items: Iterable[CachedNotice], problems: list[tuple[str, str]]
) -> CaseBook:
    own = officer.own_certificate(home)
    items = list(cache_items)
    events = [e for e in (item.logged() for item in items) if e is not None]
    keys = {item.sender_device: item.sender_key for item in items}
    cases = derive_cases(events, verify_countersignature=countersignature_check(keys))
    return CaseBook(
        agency=own.agency,
        officer_id=own.officer_id,
        device_id=own.device_id,
        cases=cases,
        events=sorted(events, key=lambda e: e.log_index),
        problems=problems,
        addressed={item.message_id: item.recipient_agencies for item in items},
    )


async def load_book(
    home: Home, api: ApiClient | None, *, now: int | None = None, keys: DeviceKeys | None = None
) -> CaseBook:
    """Sync (unless `api` is None), open every new message once (full verification), keep the
    notices sealed locally, and derive the cases from everything this device holds."""
    now = int(time.time()) if now is None else now
    keys = keys or officer.device_keys(home)
    cache = NoticeCache(home, keys)
    problems: list[tuple[str, str]] = []
    lookups: directory.Lookups | None = None
    if api is not None:
        lookups = directory.Lookups(home, api, now)
        await message_ops.sync(home, api, lookups=lookups)
    items: list[CachedNotice] = []
    for record in home.messages():
        message_id = str(record["message_id"])
        cached = cache.get(message_id)
        if cached is not None:
            items.append(cached)
            continue
        if record.get("direction") != "received" or record.get("status") == "refused":
            continue
        if api is None or lookups is None:
            problems.append((message_id, "not_opened"))
            continue
        try:
            opened = await message_ops.read(
                home, api, message_id, mark_read=False, keys=keys, lookups=lookups
            )
            notice = payload_notice(opened.payload)
            if notice is not None:
                ensure_sender_unit(
                    notice["header"]["sender_unit"], opened.sender_device, opened.message_id
                )
            sender = bytes((await lookups.device(opened.sender_device)).certificate.signing_key)
        except (ClientError, CryptoError) as exc:
            problems.append((message_id, getattr(exc, "code", "refused")))
            continue
        item = CachedNotice(
            message_id=opened.message_id,
            log_index=opened.log_index,
            sender_device=opened.sender_device,
            sender_key=sender,
            sent_at=opened.sent_at,
            notice=notice,
            recipient_agencies=agencies_of(opened.recipients),
        )
        cache.put(item)
        items.append(item)
    return derive_book(home, items, problems)


# --- Sending a notice -------------------------------------------------------------------------
def remember_sent(
    home: Home, keys: DeviceKeys, sent: message_ops.SentMessage, payload: Payload, now: int
) -> None:
    """Keep this device's own copy of a notice it sent (called by `messages.send`)."""
    item = CachedNotice(
        message_id=sent.message_id,
        log_index=sent.log_index,
        sender_device=officer.own_certificate(home).device_id,
        sender_key=keys.signing_public,
        sent_at=now,
        notice=payload_notice(payload),
        recipient_agencies=agencies_of(sent.recipients),
    )
    NoticeCache(home, keys).put(item)


async def send_notice(
    home: Home, api: ApiClient, notice: Notice, addresses: Sequence[str], *, now: int | None = None
) -> tuple[message_ops.SentMessage, LoggedNotice]:
    """Send a checked notice through `messages.send` (which keeps the sender's sealed copy)."""
    now = int(time.time()) if now is None else now
    check_addressing(notice, officer.own_certificate(home).agency, addresses)
    sent = await message_ops.send(home, api, addresses, notice_payload(notice), now=now)
    own = officer.own_certificate(home)
    agency, officer_id, _suffix = parse_device_id(own.device_id)
    event = LoggedNotice(
        log_index=sent.log_index,
        message_id=sent.message_id,
        sender_device=own.device_id,
        sender_agency=agency,
        sender_officer=officer_id,
        sent_at=now,
        notice=notice.to_dict(),
    )
    return sent, event


def agencies_of(device_ids: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({parse_device_id(device_id)[0] for device_id in device_ids}))


def case_agencies(book: CaseBook, case: Case | None, *, exclude: str) -> list[str]:
    """Every agency that sent a notice of `case`, was its recipient unit, or had devices among
    its envelope's recipients, except `exclude`: the default addressees of the next notice, so
    every party keeps holding the whole case."""
    if case is None:
        return []
    found: set[str] = set()
    for event in case.notices:
        found.add(event.sender_agency)
        found.update(book.addressed.get(event.message_id, ()))
        recipient = event.header.get("recipient_unit")
        if isinstance(recipient, str):
            found.add(recipient)
    found.discard(exclude)
    return sorted(found)


__all__ = [
    "CaseBook",
    "CachedNotice",
    "NoticeCache",
    "remember_sent",
    "case_agencies",
    "countersign_record",
    "countersignature_check",
    "derive_book",
    "load_book",
    "payload_notice",
    "record_hash",
    "send_notice",
    "verify_countersignature",
]
