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
| device/request.json       | DeviceRequest     |
| device/review-keys.json   | ReviewKeyWraps    |
| pins.json                 | PinsFile          |
| revocations.json          | RevocationNote (by device) |
| checkpoint.json           | CheckpointRecord  |
| witness-state.json        | WitnessState      |
| misbehaviour.json         | MisbehaviourProof |
| agency/agency.json        | agency_document_from_json (shape-checked dict) |
| replay.json               | crypto's ReplayGuard (`replay_state_from_json`) |

The files added later (request, pins, revocations, review keys, checkpoint, witness state) are
strict: a value of the wrong shape raises `RecordShapeError`, which `Home.load_record` turns
into a `HomeError` naming the file. An absent file and a file holding `null` read the same.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from crypto.replay import ReplayGuard

# The crypto checks below are imported where they run: the command line imports this module
# (through the home folder) to build its parser, and that must not load PyNaCl.


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


class RecordShapeError(ValueError):
    """A home file's JSON is not the shape its record expects."""


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RecordShapeError(f"{what} is not a JSON object")
    return value


def _need_str(value: Mapping[str, Any], key: str) -> str:
    item = value.get(key)
    if not isinstance(item, str):
        raise RecordShapeError(f"{key} is not a string")
    return item


def _need_int(value: Mapping[str, Any], key: str) -> int:
    item = _int(value.get(key))
    if item is None:
        raise RecordShapeError(f"{key} is not an integer")
    return item


def _hash_b64(value: Mapping[str, Any], key: str) -> str:
    from crypto.encoding import b64d
    from crypto.errors import CryptoError

    item = _need_str(value, key)
    try:
        if len(b64d(item)) != 32:
            raise RecordShapeError(f"{key} is not a 32-byte hash")
    except CryptoError as exc:
        raise RecordShapeError(f"{key} is not base64") from exc
    return item


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


# --- Files the later parts of issue 11 typed (strict: bad shapes raise RecordShapeError) -----
_REQUEST_KEYS = (
    "agency",
    "officer_id",
    "device_id",
    "display_names",
    "signing_key",
    "encryption_key",
    "server",
    "created_at",
)


@dataclass(frozen=True)
class DeviceRequest(_JsonRecord):
    """device/request.json: the activation request `officer init` made (public keys only)."""

    agency: str
    officer_id: str
    device_id: str
    display_names: Mapping[str, str]  # by language: vi, zh
    signing_key: str  # base64
    encryption_key: str  # base64
    server: str | None
    created_at: int
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: Any) -> Self | None:
        if value is None:
            return None
        value = _object(value, "the device request")
        names = _object(value.get("display_names"), "display_names")
        server = value.get("server")
        if server is not None and not isinstance(server, str):
            raise RecordShapeError("server is not a string")
        return cls(
            agency=_need_str(value, "agency"),
            officer_id=_need_str(value, "officer_id"),
            device_id=_need_str(value, "device_id"),
            display_names={k: v for k, v in names.items() if isinstance(v, str)},
            signing_key=_need_str(value, "signing_key"),
            encryption_key=_need_str(value, "encryption_key"),
            server=server,
            created_at=_need_int(value, "created_at"),
            extra={k: v for k, v in value.items() if k not in _REQUEST_KEYS},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            **self.extra,
            "agency": self.agency,
            "officer_id": self.officer_id,
            "device_id": self.device_id,
            "display_names": dict(self.display_names),
            "signing_key": self.signing_key,
            "encryption_key": self.encryption_key,
            "server": self.server,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class PinsFile(_JsonRecord):
    """pins.json: the pinned agency roots (`TrustStore.to_dict` form) and, by agency, how and
    when each was pinned."""

    trust: Mapping[str, Any] | None = None  # None: nothing pinned yet
    meta: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: Any) -> Self:
        if value is None:
            return cls()
        value = _object(value, "the pins")
        trust = value.get("trust")
        if trust is not None:
            from crypto.certs import TrustStore
            from crypto.errors import CryptoError

            try:
                TrustStore.from_dict(_object(trust, "trust"))
            except CryptoError as exc:
                raise RecordShapeError(f"trust: {exc}") from exc
        meta = _object(value.get("meta") or {}, "meta")
        for agency, how in meta.items():
            _object(how, f"meta of {agency}")
        return cls(
            trust=trust,
            meta=meta,
            extra={k: v for k, v in value.items() if k not in ("trust", "meta")},
        )

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {**self.extra, "meta": {k: dict(v) for k, v in self.meta.items()}}
        if self.trust is not None:
            value["trust"] = dict(self.trust)
        return value


@dataclass(frozen=True)
class RevocationNote(_JsonRecord):
    """revocations.json, by device id: a revocation this client saw in the log and where."""

    revocation: str  # base64 of the signed revocation
    log_index: int

    @classmethod
    def table_from_json(cls, value: Any) -> dict[str, RevocationNote]:
        if value is None:
            return {}
        from crypto.certs import Revocation
        from crypto.encoding import b64d
        from crypto.errors import CryptoError

        table = _object(value, "the revocations")
        notes = {}
        for device_id, note in table.items():
            note = _object(note, f"the revocation of {device_id}")
            revocation = _need_str(note, "revocation")
            try:
                Revocation.from_bytes(b64d(revocation))
            except CryptoError as exc:
                raise RecordShapeError(f"the revocation of {device_id}: {exc}") from exc
            notes[device_id] = cls(revocation, _need_int(note, "log_index"))
        return notes

    @staticmethod
    def table_to_json(table: Mapping[str, RevocationNote]) -> dict[str, Any]:
        return {device_id: note.to_json() for device_id, note in table.items()}

    def to_json(self) -> dict[str, Any]:
        return {"revocation": self.revocation, "log_index": self.log_index}


class ReviewKeyWraps:
    """device/review-keys.json: by review key id, the sealed wrap (base64) of that key to this
    supervisor device. Only wraps are kept: the review keys never touch the disk in clear."""

    @staticmethod
    def from_json(value: Any) -> dict[str, str]:
        if value is None:
            return {}
        table = _object(value, "the review-key wraps")
        for key_id, wrap in table.items():
            if not isinstance(wrap, str):
                raise RecordShapeError(f"the wrap of {key_id} is not a string")
        return dict(table)

    @staticmethod
    def to_json(table: Mapping[str, str]) -> dict[str, str]:
        return dict(table)


@dataclass(frozen=True)
class CheckpointRecord(_JsonRecord):
    """checkpoint.json: the newest signed log checkpoint this client verified, as its note and
    its parsed fields."""

    note: str | None
    origin: str
    size: int
    root_hash: str  # base64
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: Any) -> Self | None:
        if value is None:
            return None
        value = _object(value, "the checkpoint")
        note = value.get("note")
        if note is not None and not isinstance(note, str):
            raise RecordShapeError("note is not a string")
        return cls(
            note=note,
            origin=_need_str(value, "origin"),
            size=_need_int(value, "size"),
            root_hash=_hash_b64(value, "root_hash"),
            extra={
                k: v for k, v in value.items() if k not in ("note", "origin", "size", "root_hash")
            },
        )

    def to_json(self) -> dict[str, Any]:
        return {
            **self.extra,
            "note": self.note,
            "origin": self.origin,
            "size": self.size,
            "root_hash": self.root_hash,
        }


@dataclass(frozen=True)
class WitnessState(_JsonRecord):
    """witness-state.json: the last checkpoint this witness cosigned, its size and when."""

    note: str
    size: int
    cosigned_at: int
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: Any) -> Self | None:
        if value is None:
            return None
        value = _object(value, "the witness state")
        return cls(
            note=_need_str(value, "note"),
            size=_need_int(value, "size"),
            cosigned_at=_need_int(value, "cosigned_at"),
            extra={k: v for k, v in value.items() if k not in ("note", "size", "cosigned_at")},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            **self.extra,
            "note": self.note,
            "size": self.size,
            "cosigned_at": self.cosigned_at,
        }


_AGENCY_STRINGS = ("code", "country", "name_vi", "name_zh", "root_key", "review_statement")


def agency_document_from_json(value: Any) -> dict[str, Any] | None:
    """agency/agency.json, the administrator's record of the agency (absent: None).

    Still the JSON object itself, edited in place by the agency and review-key steps (the
    certificates issued by device id, the review keys, the wraps by device and key id): its
    shape is checked here so a damaged file fails by name, not with a KeyError later."""
    if value is None:
        return None
    document = _object(value, "the agency record")
    for key in _AGENCY_STRINGS:
        _need_str(document, key)
    if "next_serial" in document:
        _need_int(document, "next_serial")
    for device_id, issued in _object(document.get("issued", {}), "issued").items():
        _object(issued, f"the certificate issued to {device_id}")
    keys = document.get("review_keys", [])
    if not isinstance(keys, list):
        raise RecordShapeError("review_keys is not a list")
    for key in keys:
        _need_str(_object(key, "a review key"), "key_id")
        _need_str(key, "statement")
    for device_id, by_key in _object(document.get("review_wraps", {}), "review_wraps").items():
        for key_id, wrap in _object(by_key, f"the wraps of {device_id}").items():
            _object(wrap, f"the wrap of {key_id} to {device_id}")
    return document


def replay_state_from_json(value: Any) -> ReplayGuard:
    """replay.json: the replay guard's state (its format is crypto's, versioned); absent is a
    fresh guard. Written back with `ReplayGuard.to_dict`."""
    from crypto.errors import MalformedError
    from crypto.replay import ReplayGuard

    if value is None:
        return ReplayGuard()
    try:
        return ReplayGuard.from_dict(_object(value, "the replay state"))
    except MalformedError as exc:
        raise RecordShapeError(str(exc)) from exc


@dataclass(frozen=True)
class MisbehaviourProof(_JsonRecord):
    """misbehaviour.json: two signed checkpoints that cannot both be true, and the proof that
    failed; written once, never overwritten, kept as evidence."""

    format: str
    reason: str  # same_size_different_root or not_consistent
    server: str | None
    server_identity: Mapping[str, Any] | None
    first_checkpoint: str
    second_checkpoint: str
    consistency_proof: tuple[str, ...] | None
    detected_at: int

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "reason": self.reason,
            "server": self.server,
            "server_identity": (
                dict(self.server_identity) if self.server_identity is not None else None
            ),
            "first_checkpoint": self.first_checkpoint,
            "second_checkpoint": self.second_checkpoint,
            "consistency_proof": (
                list(self.consistency_proof) if self.consistency_proof is not None else None
            ),
            "detected_at": self.detected_at,
        }


__all__ = [
    "CertificateRecord",
    "CheckpointRecord",
    "DeviceRequest",
    "MisbehaviourProof",
    "PinsFile",
    "RecordShapeError",
    "RevocationNote",
    "ReviewKeyWraps",
    "WitnessState",
    "agency_document_from_json",
    "replay_state_from_json",
    "HoldNote",
    "HomeConfig",
    "MessageRecord",
    "ReviewNote",
    "SendCounter",
    "SyncCursor",
    "TokenRecord",
]
