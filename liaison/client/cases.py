"""Cases on an officer's device: verified notices, kept sealed locally, replayed into cases."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import nacl.exceptions
import nacl.secret
import nacl.signing
import nacl.utils
import rfc8785

from crypto.encoding import (
    b64d,
    b64e,
    frame,
    labelled_hash,
    signed_message,
)
from crypto.errors import CryptoError
from crypto.keys import DeviceKeys, parse_device_id
from crypto.labels import (
    LABEL_HANDOVER_COUNTERSIGNATURE,
    LABEL_HANDOVER_RECORD_HASH,
)
from liaison.client import directory, officer
from liaison.client.errors import ClientError
from liaison.client.home import Home
from liaison.client.notice_cache import CachedNotice, NoticeCache, agencies_of, payload_notice
from liaison.client.notices import check_addressing, ensure_sender_unit, notice_payload
from liaison.client.read import read
from liaison.client.send import SentMessage, send
from liaison.client.sync import sync
from liaison.client.transport import ApiClient
from liaison.domain.case_events import LoggedNotice, country_side
from liaison.domain.cases import Case, derive_cases
from liaison.domain.handover import CountersignatureCheck, Handover
from liaison.domain.notices import Notice
from liaison.i18n import _


# --- The countersignature of a handover record (docs/state-machines/handover.md) ------------
def record_hash(record: LoggedNotice) -> bytes:
    """BLAKE2b-256 over the label, the record's message id and its canonical JSON (RFC 8785,
    the bytes `notice_to_bytes` seals; a place's coordinates may be fractions, which the
    protocol encoder `crypto.encoding.canonical_json` refuses, so RFC 8785 is applied as is)."""
    return labelled_hash(
        LABEL_HANDOVER_RECORD_HASH, record.message_id.encode(), bytes(rfc8785.dumps(record.notice))
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
        await sync(home, api, lookups=lookups)
    items: list[CachedNotice] = []
    for record in home.messages():
        message_id = record.message_id
        cached = cache.get(message_id)
        if cached is not None:
            items.append(cached)
            continue
        if not record.received or record.refused:
            continue
        if api is None or lookups is None:
            problems.append((message_id, "not_opened"))
            continue
        try:
            opened = await read(home, api, message_id, mark_read=False, keys=keys, lookups=lookups)
            notice = opened.notice.to_dict() if opened.notice is not None else None
            if opened.notice is not None:
                ensure_sender_unit(
                    opened.notice.header["sender_unit"], opened.sender_device, opened.message_id
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
async def send_notice(
    home: Home,
    api: ApiClient,
    notice: Notice,
    addresses: Sequence[str],
    *,
    now: int | None = None,
    keys: DeviceKeys | None = None,
) -> tuple[SentMessage, LoggedNotice]:
    """Send a checked notice (the send pipeline tags its case and keeps the sealed copy)."""
    now = int(time.time()) if now is None else now
    check_addressing(notice, officer.own_certificate(home).agency, addresses)
    sent = await send(home, api, addresses, notice_payload(notice), keys=keys, now=now)
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
