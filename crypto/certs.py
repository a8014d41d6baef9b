"""Device certificates, review-key statements, revocations signed by agency roots; trust store."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, TypeVar, cast

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from crypto.encoding import (
    MAX_SAFE_INTEGER,
    b64d,
    b64e,
    canonical_json,
    expect_keys,
    get_bytes,
    get_int,
    get_str,
    labelled_hash,
    parse_canonical_json,
    signed_message,
)
from crypto.errors import (
    CertificateExpired,
    CertificateNotYetValid,
    CertificateRevoked,
    CertificateSignatureError,
    CryptoError,
    MalformedError,
    UnsupportedVersion,
    UntrustedRoot,
)
from crypto.keys import (
    KEY_SIZE,
    RootKey,
    compact_fingerprint,
    parse_device_id,
    validate_agency_code,
    validate_device_id,
    validate_officer_id,
)
from crypto.labels import (
    LABEL_CERTIFICATE,
    LABEL_CERTIFICATE_HASH,
    LABEL_REVIEW_STATEMENT,
    LABEL_REVOCATION,
)

VERSION = 1
ROLES = ("officer", "supervisor", "admin")
REQUIRED_NAME_LANGUAGES = ("vi", "zh")
OPTIONAL_NAME_LANGUAGES = ("en",)
MAX_NAME_LEN = 200
MAX_REASON_LEN = 200
SIGNATURE_SIZE = 64


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _check_time(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SAFE_INTEGER:
        raise MalformedError(f"{what} must be a non-negative integer")
    return value


def _check_bytes(value: bytes, what: str, size: int) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        raise MalformedError(f"{what} must be {size} bytes")
    return value


def _check_names(names: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(names, Mapping):
        raise MalformedError("display names must be a mapping")
    allowed = set(REQUIRED_NAME_LANGUAGES) | set(OPTIONAL_NAME_LANGUAGES)
    if not set(REQUIRED_NAME_LANGUAGES) <= set(names) <= allowed:
        raise MalformedError("display names need exactly vi and zh (and optionally en)")
    out: dict[str, str] = {}
    for lang in sorted(names):
        value = names[lang]
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME_LEN:
            raise MalformedError("a display name must be a non-empty string")
        out[lang] = _nfc(value)
    return out


def verify_signed(
    public: bytes,
    label: bytes,
    payload: bytes,
    signature: bytes,
    *,
    error: type[CryptoError] = CertificateSignatureError,
    message: str = "root signature does not verify",
) -> None:
    """`Sign(public, label, payload)` is `signature`, else `error(message)`."""
    try:
        VerifyKey(public).verify(signed_message(label, payload), signature)
    except (BadSignatureError, ValueError, TypeError) as exc:
        raise error(message) from exc


def _check_version(obj: Mapping[str, Any]) -> None:
    if obj.get("version") != VERSION:
        raise UnsupportedVersion("unsupported structure version")


def parse_root_signed(data: bytes, fields: Sequence[str], what: str) -> dict[str, Any]:
    """The fields of a root-signed structure's bytes: canonical JSON, version 1, exactly
    `fields` (signature included), else `MalformedError` / `UnsupportedVersion`."""
    obj = parse_canonical_json(data)
    _check_version(obj)
    expect_keys(obj, list(fields), what)
    return obj


_Signed = TypeVar("_Signed", bound="RootSigned")


class RootSigned:
    """What every structure an agency root signs shares (PROTOCOL.md sections 4 and 12): its TBS
    is the canonical JSON of every field but `signature`, signed under the class's `LABEL`."""

    LABEL: ClassVar[bytes]
    signature: bytes

    def _tbs(self) -> dict[str, Any]:
        raise NotImplementedError

    def tbs_bytes(self) -> bytes:
        """The canonical bytes the root signs (after LABEL || 0x00)."""
        return canonical_json(self._tbs())

    def to_bytes(self) -> bytes:
        return canonical_json({**self._tbs(), "signature": b64e(self.signature)})

    def signed_by(self: _Signed, root: RootKey) -> _Signed:
        """This structure with `root`'s signature (the one it carries is ignored)."""
        sig = root.signing.sign(signed_message(self.LABEL, self.tbs_bytes())).signature
        return cast(_Signed, replace(cast(Any, self), signature=bytes(sig)))

    def verify_root_signature(
        self,
        root_public: bytes,
        *,
        error: type[CryptoError] = CertificateSignatureError,
        message: str = "root signature does not verify",
    ) -> None:
        verify_signed(
            root_public, self.LABEL, self.tbs_bytes(), self.signature, error=error, message=message
        )


@dataclass(frozen=True)
class DeviceCertificate(RootSigned):
    """The agency root's statement that these keys belong to this officer's device."""

    LABEL: ClassVar[bytes] = LABEL_CERTIFICATE

    agency: str
    officer_id: str
    device_id: str
    role: str
    signing_key: bytes
    encryption_key: bytes
    display_names: Mapping[str, str]
    serial: int
    not_before: int
    not_after: int
    signature: bytes

    def __post_init__(self) -> None:
        validate_agency_code(self.agency)
        validate_officer_id(self.officer_id)
        agency, officer_id, _ = parse_device_id(self.device_id)
        if (agency, officer_id) != (self.agency, self.officer_id):
            raise MalformedError("device id does not belong to this agency and officer")
        if self.role not in ROLES:
            raise MalformedError("unknown role")
        _check_bytes(self.signing_key, "signing key", KEY_SIZE)
        _check_bytes(self.encryption_key, "encryption key", KEY_SIZE)
        object.__setattr__(self, "display_names", _check_names(self.display_names))
        _check_time(self.serial, "serial")
        _check_time(self.not_before, "not_before")
        _check_time(self.not_after, "not_after")
        if self.not_after <= self.not_before:
            raise MalformedError("not_after must be after not_before")
        _check_bytes(self.signature, "signature", SIGNATURE_SIZE)

    def __hash__(self) -> int:
        return hash(self.cert_hash())

    def _tbs(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "agency": self.agency,
            "officer_id": self.officer_id,
            "device_id": self.device_id,
            "role": self.role,
            "signing_key": b64e(self.signing_key),
            "encryption_key": b64e(self.encryption_key),
            "display_names": dict(self.display_names),
            "serial": self.serial,
            "not_before": self.not_before,
            "not_after": self.not_after,
        }

    @classmethod
    def from_bytes(cls, data: bytes) -> DeviceCertificate:
        obj = parse_root_signed(data, [*_CERT_FIELDS, "signature"], "certificate")
        names = obj["display_names"]
        if not isinstance(names, dict):
            raise MalformedError("display names must be an object")
        return cls(
            agency=get_str(obj, "agency"),
            officer_id=get_str(obj, "officer_id"),
            device_id=get_str(obj, "device_id"),
            role=get_str(obj, "role"),
            signing_key=get_bytes(obj, "signing_key", length=KEY_SIZE),
            encryption_key=get_bytes(obj, "encryption_key", length=KEY_SIZE),
            display_names=names,
            serial=get_int(obj, "serial"),
            not_before=get_int(obj, "not_before"),
            not_after=get_int(obj, "not_after"),
            signature=get_bytes(obj, "signature", length=SIGNATURE_SIZE),
        )

    def cert_hash(self) -> bytes:
        """BLAKE2b-256 of the framed label and the whole certificate, signature included."""
        cached: bytes | None = self.__dict__.get("_cert_hash")
        if cached is None:
            cached = labelled_hash(LABEL_CERTIFICATE_HASH, self.to_bytes())
            object.__setattr__(self, "_cert_hash", cached)
        return cached


_CERT_FIELDS = (
    "version",
    "agency",
    "officer_id",
    "device_id",
    "role",
    "signing_key",
    "encryption_key",
    "display_names",
    "serial",
    "not_before",
    "not_after",
)


def issue_certificate(
    root: RootKey,
    *,
    agency: str,
    officer_id: str,
    device_id: str,
    role: str,
    signing_key: bytes,
    encryption_key: bytes,
    display_names: Mapping[str, str],
    serial: int,
    not_before: int,
    not_after: int,
) -> DeviceCertificate:
    return DeviceCertificate(
        agency=agency,
        officer_id=officer_id,
        device_id=device_id,
        role=role,
        signing_key=signing_key,
        encryption_key=encryption_key,
        display_names=display_names,
        serial=serial,
        not_before=not_before,
        not_after=not_after,
        signature=bytes(SIGNATURE_SIZE),
    ).signed_by(root)


@dataclass(frozen=True)
class ReviewKeyStatement(RootSigned):
    """The agency root vouches that `public_key` (id `key_id`) is the agency's review key."""

    LABEL: ClassVar[bytes] = LABEL_REVIEW_STATEMENT

    agency: str
    key_id: str
    public_key: bytes
    not_before: int
    signature: bytes

    def __post_init__(self) -> None:
        validate_agency_code(self.agency)
        _check_bytes(self.public_key, "review public key", KEY_SIZE)
        if self.key_id != compact_fingerprint(self.public_key):
            raise MalformedError("review key id does not match the public key")
        _check_time(self.not_before, "not_before")
        _check_bytes(self.signature, "signature", SIGNATURE_SIZE)

    def _tbs(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "agency": self.agency,
            "key_id": self.key_id,
            "public_key": b64e(self.public_key),
            "not_before": self.not_before,
        }

    @classmethod
    def from_bytes(cls, data: bytes) -> ReviewKeyStatement:
        obj = parse_root_signed(
            data, ["version", "agency", "key_id", "public_key", "not_before", "signature"], "stmt"
        )
        return cls(
            agency=get_str(obj, "agency"),
            key_id=get_str(obj, "key_id"),
            public_key=get_bytes(obj, "public_key", length=KEY_SIZE),
            not_before=get_int(obj, "not_before"),
            signature=get_bytes(obj, "signature", length=SIGNATURE_SIZE),
        )


def issue_review_key_statement(
    root: RootKey, *, agency: str, public_key: bytes, not_before: int
) -> ReviewKeyStatement:
    return ReviewKeyStatement(
        agency=agency,
        key_id=compact_fingerprint(_check_bytes(public_key, "review public key", KEY_SIZE)),
        public_key=public_key,
        not_before=not_before,
        signature=bytes(SIGNATURE_SIZE),
    ).signed_by(root)


@dataclass(frozen=True)
class Revocation(RootSigned):
    """The agency root withdraws a device: every certificate of `device_id` stops being trusted."""

    LABEL: ClassVar[bytes] = LABEL_REVOCATION

    agency: str
    device_id: str
    cert_hash: bytes
    reason: str
    revoked_at: int
    signature: bytes

    def __post_init__(self) -> None:
        validate_agency_code(self.agency)
        validate_device_id(self.device_id)
        if parse_device_id(self.device_id)[0] != self.agency:
            raise MalformedError("a root can revoke only its own agency's devices")
        _check_bytes(self.cert_hash, "certificate hash", 32)
        if not isinstance(self.reason, str) or not self.reason or len(self.reason) > MAX_REASON_LEN:
            raise MalformedError("revocation reason must be a short non-empty string")
        object.__setattr__(self, "reason", _nfc(self.reason))
        _check_time(self.revoked_at, "revoked_at")
        _check_bytes(self.signature, "signature", SIGNATURE_SIZE)

    def _tbs(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "agency": self.agency,
            "device_id": self.device_id,
            "cert_hash": b64e(self.cert_hash),
            "reason": self.reason,
            "revoked_at": self.revoked_at,
        }

    @classmethod
    def from_bytes(cls, data: bytes) -> Revocation:
        obj = parse_root_signed(
            data,
            ["version", "agency", "device_id", "cert_hash", "reason", "revoked_at", "signature"],
            "revocation",
        )
        return cls(
            agency=get_str(obj, "agency"),
            device_id=get_str(obj, "device_id"),
            cert_hash=get_bytes(obj, "cert_hash", length=32),
            reason=get_str(obj, "reason", max_len=MAX_REASON_LEN),
            revoked_at=get_int(obj, "revoked_at"),
            signature=get_bytes(obj, "signature", length=SIGNATURE_SIZE),
        )


def issue_revocation(
    root: RootKey, *, agency: str, device_id: str, cert_hash: bytes, reason: str, revoked_at: int
) -> Revocation:
    return Revocation(
        agency=agency,
        device_id=device_id,
        cert_hash=cert_hash,
        reason=reason,
        revoked_at=revoked_at,
        signature=bytes(SIGNATURE_SIZE),
    ).signed_by(root)


@dataclass
class TrustStore:
    """Pinned agency roots and the revocations known to this client."""

    _pins: dict[str, bytes] = field(default_factory=dict, init=False)
    _revocations: dict[str, list[Revocation]] = field(default_factory=dict, init=False)
    # Signature checks are the costly part and depend only on (root, certificate bytes).
    _verified: set[tuple[bytes, bytes]] = field(default_factory=set, init=False, repr=False)

    def pin(self, agency: str, root_public: bytes) -> None:
        validate_agency_code(agency)
        _check_bytes(root_public, "root public key", KEY_SIZE)
        current = self._pins.get(agency)
        if current is not None and current != root_public:
            raise UntrustedRoot("a different root is already pinned for this agency")
        self._pins[agency] = root_public

    def pinned(self, agency: str) -> bytes | None:
        return self._pins.get(agency)

    def agencies(self) -> list[str]:
        return sorted(self._pins)

    def _root_for(self, agency: str) -> bytes:
        root = self._pins.get(agency)
        if root is None:
            raise UntrustedRoot("no root pinned for this agency")
        return root

    def add_revocation(self, rev: Revocation) -> None:
        rev.verify_root_signature(self._root_for(rev.agency))
        known = self._revocations.setdefault(rev.device_id, [])
        if rev not in known:
            known.append(rev)

    def is_revoked(self, device_id: str) -> bool:
        return bool(self._revocations.get(device_id))

    def revocations(self) -> list[Revocation]:
        return [rev for device in sorted(self._revocations) for rev in self._revocations[device]]

    def verify_certificate(self, cert: DeviceCertificate, *, now: int) -> None:
        """Pinned root, root signature, not_before <= now <= not_after, not revoked."""
        root = self._root_for(cert.agency)
        memo = (root, cert.cert_hash())
        if memo not in self._verified:
            cert.verify_root_signature(root)
            self._verified.add(memo)
        if now < cert.not_before:
            raise CertificateNotYetValid("certificate is not valid yet")
        if now > cert.not_after:
            raise CertificateExpired("certificate has expired")
        if self.is_revoked(cert.device_id):
            raise CertificateRevoked("device has been revoked")

    def verify_review_statement(self, stmt: ReviewKeyStatement) -> None:
        stmt.verify_root_signature(self._root_for(stmt.agency))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "pins": {agency: b64e(key) for agency, key in sorted(self._pins.items())},
            "revocations": [rev.to_bytes().decode("utf-8") for rev in self.revocations()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrustStore:
        if not isinstance(data, Mapping) or data.get("version") != VERSION:
            raise MalformedError("unsupported trust store")
        pins = data.get("pins")
        revs = data.get("revocations")
        if not isinstance(pins, Mapping) or not isinstance(revs, list):
            raise MalformedError("trust store needs pins and revocations")
        store = cls()
        for agency, key in pins.items():
            store.pin(agency, b64d(key))
        for text in revs:
            if not isinstance(text, str):
                raise MalformedError("revocation must be a string")
            store.add_revocation(Revocation.from_bytes(text.encode("utf-8")))
        return store

    @classmethod
    def with_pins(cls, pins: Iterable[tuple[str, bytes]]) -> TrustStore:
        store = cls()
        for agency, key in pins:
            store.pin(agency, key)
        return store
