"""This device's sealed copies of the notices it holds (sent and received): what cases derive from.

A notice is parsed once, where its plaintext enters the client (`notice_of`); from there it
travels as a typed `Notice`, and its sealed copy is kept from that value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import nacl.exceptions
import nacl.secret
import nacl.utils

from crypto.encoding import b64d, b64e, canonical_json, derive_key, parse_canonical_json
from crypto.errors import CryptoError
from crypto.keys import DeviceKeys, Rng, parse_device_id
from crypto.labels import LABEL_LOCAL_NOTICE_CACHE
from liaison.client.home import Home
from liaison.client.payload import NOTICE, Payload
from liaison.domain.case_events import LoggedNotice
from liaison.domain.fields import NoticeError
from liaison.domain.notices import Notice, notice_to_bytes, parse_notice

NOTICE_CACHE_DIR = "notices"
# The local sealed notice cache's key is derived from the device's own signing seed: the cache
# is readable only with the passphrase, like the keystore, and no second secret is kept.


@dataclass(frozen=True)
class NoticePayload(Payload):
    """The payload of a checked notice, carrying the typed `Notice` it was made from, so that
    the send pipeline never parses its own notice again."""

    notice: Notice | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, notice: Notice) -> NoticePayload:
        """The notice's canonical bytes under the notice content type."""
        return cls(NOTICE, notice_to_bytes(notice), notice=notice)


def is_notice(payload: Payload) -> bool:
    return payload.content_type.split(";")[0].strip() == NOTICE


def notice_of(payload: Payload) -> Notice | None:
    """The checked notice a payload carries; None for another content type. Raises NoticeError
    for a notice this client cannot accept."""
    if not is_notice(payload):
        return None
    if isinstance(payload, NoticePayload) and payload.notice is not None:
        return payload.notice
    # Its attachment indexes must name files the message carries (`no_such_attachment`).
    return parse_notice(payload.body, attachments=len(payload.attachments))


def case_reference(payload: Payload, notice: Notice | None) -> str | None:
    """The case reference a notice payload names, for its legal-hold case tag: the checked
    notice's; for a notice this client cannot check, the one its header states, so that the
    agency's holds cover it all the same."""
    if notice is not None:
        ref = notice.header.get("case_ref")
    elif not is_notice(payload):
        return None
    else:
        try:
            ref = json.loads(payload.body).get("header", {}).get("case_ref")
        except (ValueError, AttributeError):
            return None
    return ref if isinstance(ref, str) and ref else None


def payload_notice(payload: Payload) -> Mapping[str, Any] | None:
    """The notice a payload carries, as the sealed copy keeps it, when it is a valid notice."""
    try:
        notice = notice_of(payload)
    except NoticeError:
        return None
    return notice.to_dict() if notice is not None else None


def agencies_of(device_ids: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({parse_device_id(device_id)[0] for device_id in device_ids}))


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
