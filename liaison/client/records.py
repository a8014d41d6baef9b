"""The JSON records of an officer's home folder, typed: each file's shape, read and written here.

The on-disk format is the one earlier versions wrote (keys, value types, optional keys left
out): `from_json` accepts any file they wrote, keeps keys it does not know, and `to_json` writes
them back, so a home folder moves between versions in both directions.

| file                      | record            |
|---------------------------|-------------------|
| config.json               | HomeConfig        |
| messages/<id>.json        | MessageRecord     |
| token.json                | TokenRecord       |
| counter.json              | SendCounter       |
| sync.json                 | SyncCursor        |
| device/certificate.json   | CertificateRecord |
| holds.json                | HoldNote (by tag) |
| device/reviews.json       | ReviewNote (list) |
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Self


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


class _JsonRecord:
    """Reads like the JSON object it is stored as (`record["status"]`, `record.get(...)`), for
    callers written against the file; new code uses the attributes."""

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_json().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.to_json()

    def keys(self) -> Iterator[str]:
        return iter(self.to_json())


# --- The message cache: messages/<id>.json ---------------------------------------------------
# Keys written only when they have a value: a sent record has no `cursor`, a refused one no
# `leaf_hash` (earlier versions wrote some as null; read back, null and absent are the same).
_MESSAGE_KEYS = (
    "message_id",
    "direction",
    "envelope",
    "log_index",
    "received_at",
    "status",
    "envelope_hash",
    "sender_device",
    "sent_at",
    "counter",
    "recipients",
    "addresses",
    "content_type",
    "acknowledged",
    "ack_log_index",
    "cursor",
    "problem",
    "sender_names",
    "leaf_hash",
    "tree_size",
    "inclusion_proof",
    "logged_at",
    "case_tagged",
)


@dataclass(frozen=True)
class MessageRecord(_JsonRecord):
    """One message this device holds, still encrypted: sent (`direction="sent"`) or received."""

    message_id: str
    direction: str  # "sent" or "received"
    envelope: str  # base64 of the envelope bytes
    log_index: int | None
    status: str  # sent; received: new, read, unverified, refused
    received_at: int | None = None
    envelope_hash: str | None = None
    sender_device: str | None = None
    sent_at: int | None = None
    counter: int | None = None
    recipients: tuple[str, ...] | None = None
    addresses: tuple[str, ...] | None = None  # sent: the addresses as given
    content_type: str | None = None  # sent
    acknowledged: bool | None = None  # received
    ack_log_index: int | None = None
    cursor: int | None = None  # received: the relay's mailbox position
    problem: str | None = None  # refused or unverified: the stable code why
    sender_names: Mapping[str, str] | None = None
    leaf_hash: str | None = None  # set once the log entry is checked and included
    tree_size: int | None = None
    inclusion_proof: tuple[str, ...] | None = None
    logged_at: int | None = None
    case_tagged: bool | None = None  # received: this agency's case tag added on the relay
    extra: Mapping[str, Any] = field(default_factory=dict)  # keys of other versions, kept

    @property
    def received(self) -> bool:
        return self.direction == "received"

    @property
    def refused(self) -> bool:
        return self.status == "refused"

    def with_changes(self, **changes: Any) -> MessageRecord:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Self:
        message_id = _str(value.get("message_id"))
        if not message_id:
            raise ValueError("a message record names no message id")
        names = value.get("sender_names")
        return cls(
            message_id=message_id,
            direction=_str(value.get("direction")) or "",
            envelope=_str(value.get("envelope")) or "",
            log_index=_int(value.get("log_index")),
            status=_str(value.get("status")) or "",
            received_at=_int(value.get("received_at")),
            envelope_hash=_str(value.get("envelope_hash")),
            sender_device=_str(value.get("sender_device")),
            sent_at=_int(value.get("sent_at")),
            counter=_int(value.get("counter")),
            recipients=_strs(value["recipients"]) if "recipients" in value else None,
            addresses=_strs(value["addresses"]) if "addresses" in value else None,
            content_type=_str(value.get("content_type")),
            acknowledged=bool(value["acknowledged"]) if "acknowledged" in value else None,
            ack_log_index=_int(value.get("ack_log_index")),
            cursor=_int(value.get("cursor")),
            problem=_str(value.get("problem")),
            sender_names=(
                {k: v for k, v in names.items() if isinstance(v, str)}
                if isinstance(names, dict)
                else None
            ),
            leaf_hash=_str(value.get("leaf_hash")),
            tree_size=_int(value.get("tree_size")),
            inclusion_proof=(
                _strs(value["inclusion_proof"]) if "inclusion_proof" in value else None
            ),
            logged_at=_int(value.get("logged_at")),
            case_tagged=bool(value["case_tagged"]) if "case_tagged" in value else None,
            extra={k: v for k, v in value.items() if k not in _MESSAGE_KEYS},
        )

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = dict(self.extra)
        for key in _MESSAGE_KEYS:
            item = getattr(self, key)
            if item is None:
                continue
            if isinstance(item, tuple):
                item = list(item)
            elif isinstance(item, Mapping):
                item = dict(item)
            value[key] = item
        return value

    def metadata(self) -> dict[str, Any]:
        """What the inbox lists: everything but the envelope and its proof."""
        value = self.to_json()
        value.pop("envelope", None)
        value.pop("inclusion_proof", None)
        return value


# --- config.json -------------------------------------------------------------------------------
_CONFIG_KEYS = ("server", "agency", "officer_id", "device_id", "role", "server_identity")


@dataclass(frozen=True)
class HomeConfig(_JsonRecord):
    """config.json: which relay, agency, officer and device this home folder is (each set when
    the step that learns it runs: `officer init`, `agency init`, activation, first contact)."""

    server: str | None = None
    agency: str | None = None
    officer_id: str | None = None
    device_id: str | None = None
    role: str | None = None
    server_identity: Mapping[str, Any] | None = None  # the relay's log key, pinned (TOFU)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: Any) -> Self:
        if not isinstance(value, dict):
            return cls()
        identity = value.get("server_identity")
        return cls(
            server=_str(value.get("server")),
            agency=_str(value.get("agency")),
            officer_id=_str(value.get("officer_id")),
            device_id=_str(value.get("device_id")),
            role=_str(value.get("role")),
            server_identity=identity if isinstance(identity, dict) else None,
            extra={k: v for k, v in value.items() if k not in _CONFIG_KEYS},
        )

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = dict(self.extra)
        for key in _CONFIG_KEYS:
            item = getattr(self, key)
            if item is not None:
                value[key] = dict(item) if isinstance(item, Mapping) else item
        return value


# --- Small state files --------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenRecord(_JsonRecord):
    """token.json: the relay's bearer token for this device and until when it holds."""

    token: str
    expires_at: int
    server: str

    @classmethod
    def from_json(cls, value: Any) -> Self | None:
        if not isinstance(value, dict):
            return None
        token, expires, server = value.get("token"), value.get("expires_at"), value.get("server")
        if not isinstance(token, str) or _int(expires) is None or not isinstance(server, str):
            return None  # unusable: a new token is asked for
        return cls(token, int(expires), server)

    def to_json(self) -> dict[str, Any]:
        return {"token": self.token, "expires_at": self.expires_at, "server": self.server}


@dataclass(frozen=True)
class SendCounter(_JsonRecord):
    """counter.json: the last per-device envelope counter used."""

    counter: int = 0

    @classmethod
    def from_json(cls, value: Any) -> Self:
        return cls(int(value.get("counter", 0)) if isinstance(value, dict) else 0)

    def to_json(self) -> dict[str, Any]:
        return {"counter": self.counter}


@dataclass(frozen=True)
class SyncCursor(_JsonRecord):
    """sync.json: where the next sync resumes in the relay's mailbox."""

    cursor: int | None = None

    @classmethod
    def from_json(cls, value: Any) -> Self:
        return cls(_int(value.get("cursor")) if isinstance(value, dict) else None)

    def to_json(self) -> dict[str, Any]:
        return {"cursor": self.cursor}


@dataclass(frozen=True)
class CertificateRecord(_JsonRecord):
    """device/certificate.json: this device's certificate (base64) and its log position."""

    certificate: str
    log_index: int | None = None

    @classmethod
    def from_json(cls, value: Any) -> Self | None:
        if not isinstance(value, dict) or not isinstance(value.get("certificate"), str):
            return None
        return cls(value["certificate"], _int(value.get("log_index")))

    def to_json(self) -> dict[str, Any]:
        return {"certificate": self.certificate, "log_index": self.log_index}


@dataclass(frozen=True)
class HoldNote(_JsonRecord):
    """holds.json, by case tag: what this device knows of a hold it placed (never sent)."""

    case_ref: str
    reason: str
    log_index: int | None = None

    @classmethod
    def table_from_json(cls, value: Any) -> dict[str, HoldNote]:
        if not isinstance(value, dict):
            return {}
        return {
            tag: cls(
                str(note.get("case_ref", "")),
                str(note.get("reason", "")),
                _int(note.get("log_index")),
            )  # fmt: skip
            for tag, note in value.items()
            if isinstance(note, dict)
        }

    @staticmethod
    def table_to_json(table: Mapping[str, HoldNote]) -> dict[str, Any]:
        return {tag: note.to_json() for tag, note in table.items()}

    def to_json(self) -> dict[str, Any]:
        return {"case_ref": self.case_ref, "reason": self.reason, "log_index": self.log_index}


@dataclass(frozen=True)
class ReviewNote(_JsonRecord):
    """device/reviews.json, one per review: the reason and salt behind the logged hash."""

    message_id: str
    reason: str
    salt: str
    reason_hash: str
    requested_at: int
    log_index: int | None = None

    @classmethod
    def list_from_json(cls, value: Any) -> list[ReviewNote]:
        if not isinstance(value, list):
            return []
        return [
            cls(
                message_id=str(item.get("message_id", "")),
                reason=str(item.get("reason", "")),
                salt=str(item.get("salt", "")),
                reason_hash=str(item.get("reason_hash", "")),
                requested_at=int(item.get("requested_at", 0)),
                log_index=_int(item.get("log_index")),
            )
            for item in value
            if isinstance(item, dict)
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "reason": self.reason,
            "salt": self.salt,
            "reason_hash": self.reason_hash,
            "requested_at": self.requested_at,
            "log_index": self.log_index,
        }


__all__ = [
    "CertificateRecord",
    "HoldNote",
    "HomeConfig",
    "MessageRecord",
    "ReviewNote",
    "SendCounter",
    "SyncCursor",
    "TokenRecord",
]
