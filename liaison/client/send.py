"""Sending one message: a pipeline of named steps, each handing its typed result to the next.

    recipients -> seal -> case tag -> upload -> keep the sent record -> check its log entry
    -> keep the sealed local copy (notices)

A notice is parsed once, at the entry (or given already typed by `send_notice`), and travels
as a `Notice`: its case reference names the case tag, and the same value is the local copy.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from crypto.certs import DeviceCertificate
from crypto.encoding import b64e
from crypto.envelope import Envelope, RecipientDevice, seal
from crypto.keys import DeviceKeys, Rng
from liaison.client import directory, holds, officer, transparency
from liaison.client.addresses import Address
from liaison.client.answers import SendReceipt
from liaison.client.errors import BadInput, ClientError, VerificationError
from liaison.client.home import Home
from liaison.client.notice_cache import (
    CachedNotice,
    NoticeCache,
    agencies_of,
    case_reference,
    notice_of,
)
from liaison.client.payload import Payload
from liaison.client.records import MessageRecord, SendCounter
from liaison.client.transport import ApiClient
from liaison.domain.fields import NoticeError
from liaison.domain.notices import Notice
from liaison.i18n import _

COUNTER_FILE = "counter.json"


@dataclass(frozen=True)
class SentMessage:
    message_id: str
    log_index: int
    recipients: tuple[str, ...]
    review_agencies: tuple[str, ...]


@dataclass(frozen=True)
class Recipients:
    """Whom an envelope is sealed to: device certificates and the agencies that review it."""

    devices: dict[str, DeviceCertificate]
    review_agencies: list[str]


def _next_counter(home: Home) -> int:
    # Persisted before the envelope leaves, so that a crash can never reuse a counter.
    counter = SendCounter.from_json(home.read_json(COUNTER_FILE)).counter + 1
    home.write_json(COUNTER_FILE, SendCounter(counter).to_json())
    return counter


async def resolve_recipients(
    home: Home, api: ApiClient, addresses: Sequence[Address], own_cert: DeviceCertificate, now: int
) -> Recipients:
    """Every active device of the addressed officers (certificates checked against pinned roots
    and the log) and this officer's other devices; the sender's and recipients' agencies."""
    own_id = own_cert.device_id
    agencies = sorted({a.agency for a in addresses})
    for code in agencies:
        directory.require_pin(home, code)
    await transparency.advance(home, api)
    devices_by_agency = {
        code: await directory.agency_devices(home, api, code, now=now)
        for code in sorted({*agencies, own_cert.agency})
    }
    for d in devices_by_agency[own_cert.agency]:
        if d.device_id == own_id and d.revoked:
            raise ClientError(
                _("This device was revoked by its agency: it can no longer send."),
                code="device_revoked",
            )
    devices: dict[str, DeviceCertificate] = {}
    for address in addresses:
        found = [
            d
            for d in devices_by_agency[address.agency]
            if d.active
            and d.device_id != own_id
            and (address.officer_id is None or d.certificate.officer_id == address.officer_id)
        ]
        if not found:
            raise BadInput(
                _("No active device for {address} on the server.").format(address=str(address))
            )
        for d in found:
            devices[d.device_id] = d.certificate
    for d in devices_by_agency[own_cert.agency]:
        if d.active and d.certificate.officer_id == own_cert.officer_id and d.device_id != own_id:
            devices[d.device_id] = d.certificate
    return Recipients(devices, sorted({own_cert.agency, *agencies}))


async def seal_envelope(
    home: Home,
    api: ApiClient,
    keys: DeviceKeys,
    own_cert: DeviceCertificate,
    recipients: Recipients,
    payload: Payload,
    now: int,
    rng: Rng | None,
) -> Envelope:
    """The envelope, with review wraps for every agency in `recipients.review_agencies`."""
    review = [
        await directory.current_review_key(home, api, code, now=now)
        for code in recipients.review_agencies
    ]
    checked = transparency.stored_checkpoint(home)
    return seal(
        sender=keys,
        sender_cert=own_cert,
        recipients=[
            RecipientDevice(device_id, cert.encryption_key)
            for device_id, cert in sorted(recipients.devices.items())
        ],
        review=review,
        plaintext=payload.to_bytes(),
        counter=_next_counter(home),
        sent_at=now,
        log_size=checked.size if checked else 0,
        rng=rng,
    )


def case_tags(home: Home, payload: Payload, notice: Notice | None) -> list[str]:
    """The legal-hold case tags of the envelope: the sender agency's tag of the notice's case."""
    return holds.send_tags(home, case_reference(payload, notice))


async def upload(
    home: Home,
    api: ApiClient,
    envelope: Envelope,
    raw: bytes,
    tags: list[str],
    blobs: list[str] | None = None,
) -> SendReceipt:
    """Upload the envelope; `blobs` declares its attachments' blobs, which its recipients may
    then fetch (uploaded before, crypto/PROTOCOL.md section 14.6)."""
    answer = await officer.authenticated(home, api, lambda: api.send_envelope(raw, tags, blobs))
    if answer.envelope_hash not in (None, b64e(envelope.envelope_hash())):
        raise VerificationError(_("The server acknowledged another envelope than the one sent."))
    return answer


async def check_logged(
    home: Home, api: ApiClient, envelope: Envelope, record: MessageRecord
) -> MessageRecord:
    """The sent envelope is held like a received one: its log entry checked and included (a
    failure here leaves the record without a leaf hash, for `audit verify` to report)."""
    index = int(record.log_index or 0)
    cp = await transparency.advance(home, api)
    entry = await transparency.fetch_entry(api, index)
    if (
        entry.get("kind") != "envelope"
        or entry.get("message_id") != envelope.header.message_id
        or entry.get("envelope_hash") != record.envelope_hash
    ):
        raise VerificationError(
            _("The log entry of message {id} does not match its envelope.").format(
                id=envelope.header.message_id
            )
        )
    inclusion = await transparency.verify_entry_included(api, cp, index, entry)
    record = record.with_changes(
        leaf_hash=b64e(inclusion.leaf_hash),
        tree_size=inclusion.size,
        inclusion_proof=tuple(inclusion.to_dict()["inclusion_proof"]),
        logged_at=entry.get("at"),
    )
    home.save_message(record)
    return record


def keep_local_copy(
    home: Home, keys: DeviceKeys, sent: SentMessage, notice: Notice, now: int
) -> None:
    """The sender is no recipient of its own envelope: its cases need a local sealed copy."""
    NoticeCache(home, keys).put(
        CachedNotice(
            message_id=sent.message_id,
            log_index=sent.log_index,
            sender_device=officer.own_certificate(home).device_id,
            sender_key=keys.signing_public,
            sent_at=now,
            notice=notice.to_dict(),
            recipient_agencies=agencies_of(sent.recipients),
        )
    )


@dataclass(frozen=True)
class SealedMessage:
    """An envelope sealed and signed, not yet uploaded: everything `upload_sealed` and
    `confirm` need, so that the outbox can keep it and upload the same bytes again after a
    crash (the relay answers an identical envelope with its first receipt)."""

    raw: bytes
    message_id: str
    envelope_hash: str
    addresses: tuple[str, ...]
    recipients: tuple[str, ...]  # device ids
    review_agencies: tuple[str, ...]
    tags: tuple[str, ...]
    blobs: tuple[str, ...]
    sent_at: int
    content_type: str


def check_payload(payload: Payload) -> Notice | None:
    """The notice a payload carries, parsed once here (None for other content, or a notice
    this client cannot check: it is sealed as given and no case of this device holds it)."""
    try:
        return notice_of(payload)
    except NoticeError:
        return None


async def _seal(
    home: Home,
    api: ApiClient,
    addresses: Sequence[str],
    payload: Payload,
    *,
    keys: DeviceKeys | None = None,
    now: int | None = None,
    rng: Rng | None = None,
) -> tuple[SealedMessage, DeviceKeys]:
    if not addresses:
        raise BadInput(_("Give at least one recipient with --to."))
    parsed = [Address.parse(text) for text in addresses]
    notice = check_payload(payload)
    now = int(time.time()) if now is None else now
    own_cert = officer.own_certificate(home)
    recipients = await resolve_recipients(home, api, parsed, own_cert, now)
    keys = keys or officer.device_keys(home)
    envelope = await seal_envelope(home, api, keys, own_cert, recipients, payload, now, rng)
    sealed = SealedMessage(
        raw=envelope.to_bytes(),
        message_id=envelope.header.message_id,
        envelope_hash=b64e(envelope.envelope_hash()),
        addresses=tuple(str(a) for a in parsed),
        recipients=tuple(sorted(recipients.devices)),
        review_agencies=tuple(recipients.review_agencies),
        tags=tuple(case_tags(home, payload, notice)),
        blobs=tuple(ref.blob_id for ref in payload.attachments),
        sent_at=now,
        content_type=payload.content_type,
    )
    return sealed, keys


async def seal_message(
    home: Home,
    api: ApiClient,
    addresses: Sequence[str],
    payload: Payload,
    *,
    keys: DeviceKeys | None = None,
    now: int | None = None,
    rng: Rng | None = None,
) -> SealedMessage:
    """Step 1: the recipients checked, the envelope sealed and signed, its case tags (the
    keystore is unlocked only once the recipients are known, when `keys` is not given)."""
    sealed, _keys = await _seal(home, api, addresses, payload, keys=keys, now=now, rng=rng)
    return sealed


async def upload_sealed(home: Home, api: ApiClient, sealed: SealedMessage) -> SendReceipt:
    """Step 2: the sealed bytes to the relay (again after a crash: the same receipt)."""
    answer = await officer.authenticated(
        home, api, lambda: api.send_envelope(sealed.raw, list(sealed.tags), list(sealed.blobs))
    )
    if answer.envelope_hash not in (None, sealed.envelope_hash):
        raise VerificationError(_("The server acknowledged another envelope than the one sent."))
    return answer


async def confirm(
    home: Home,
    api: ApiClient,
    sealed: SealedMessage,
    answer: SendReceipt,
    payload: Payload,
    *,
    keys: DeviceKeys | None = None,
) -> SentMessage:
    """Step 3: the sent record kept, its log entry checked, the notice's sealed local copy."""
    record = MessageRecord(
        message_id=sealed.message_id,
        direction="sent",
        envelope=b64e(sealed.raw),
        envelope_hash=sealed.envelope_hash,
        log_index=answer.log_index,
        received_at=answer.received_at,
        sender_device=officer.own_certificate(home).device_id,
        sent_at=sealed.sent_at,
        recipients=sealed.recipients,
        addresses=sealed.addresses,
        content_type=sealed.content_type,
        status="sent",
    )
    home.save_message(record)
    await check_logged(home, api, Envelope.from_bytes(sealed.raw), record)
    sent = SentMessage(
        sealed.message_id, answer.log_index, sealed.recipients, sealed.review_agencies
    )
    notice = check_payload(payload)
    if notice is not None:
        keep_local_copy(home, keys or officer.device_keys(home), sent, notice, sealed.sent_at)
    return sent


async def send(
    home: Home,
    api: ApiClient,
    addresses: Sequence[str],
    payload: Payload,
    *,
    keys: DeviceKeys | None = None,
    now: int | None = None,
    rng: Rng | None = None,
) -> SentMessage:
    """Encrypt `payload` to every active device of the addressed officers and this officer's
    other devices, with review wraps for the sender's agency and every recipient agency;
    upload it. A notice payload made by `notices.notice_payload` carries its typed notice;
    `keys`, when given, spares unlocking the keystore again. The three steps: seal, upload,
    confirm (the outbox runs them apart)."""
    sealed, keys = await _seal(home, api, addresses, payload, keys=keys, now=now, rng=rng)
    answer = await upload_sealed(home, api, sealed)
    return await confirm(home, api, sealed, answer, payload, keys=keys)


__all__ = [
    "COUNTER_FILE",
    "Recipients",
    "SealedMessage",
    "SentMessage",
    "confirm",
    "seal_message",
    "send",
    "upload_sealed",
]
