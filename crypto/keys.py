"""Device, agency-root and review key pairs, their fingerprints, and identifier syntax."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import nacl.utils
from nacl.bindings import crypto_hash_sha512
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from crypto.encoding import labelled_hash
from crypto.errors import MalformedError
from crypto.labels import LABEL_COMPACT_FINGERPRINT, LABEL_SAFETY_NUMBER

Rng = Callable[[int], bytes]

KEY_SIZE = 32
SAFETY_NUMBER_ITERATIONS = 5200
SAFETY_NUMBER_GROUPS = 6
COMPACT_FINGERPRINT_BYTES = 20

# Country (ISO 3166-1 alpha-2) then one to three segments: "VN-QN-CA", "CN-GX-PSB".
AGENCY_CODE_RE = re.compile(r"[A-Z]{2}(?:-[A-Z0-9]{1,16}){1,3}")
OFFICER_ID_RE = re.compile(r"[a-z0-9._-]{1,64}")
DEVICE_SUFFIX_RE = re.compile(r"[a-z0-9-]{1,32}")
DEVICE_ID_RE = re.compile(
    rf"({AGENCY_CODE_RE.pattern}):({OFFICER_ID_RE.pattern}):({DEVICE_SUFFIX_RE.pattern})"
)


def default_rng(n: int) -> bytes:
    return bytes(nacl.utils.random(n))


def draw_random(rng: Rng | None, n: int) -> bytes:
    out = (rng or default_rng)(n)
    if not isinstance(out, bytes) or len(out) != n:
        raise ValueError("rng returned the wrong number of bytes")
    return out


def _check_key(data: bytes, what: str, size: int = KEY_SIZE) -> bytes:
    if not isinstance(data, bytes) or len(data) != size:
        raise MalformedError(f"{what} must be {size} bytes")
    return data


@dataclass(frozen=True)
class DeviceKeys:
    """An officer device's identity: Ed25519 for signing, a separate X25519 key for encryption."""

    signing: SigningKey
    encryption: PrivateKey

    @classmethod
    def generate(cls, rng: Rng | None = None) -> DeviceKeys:
        return cls(SigningKey(draw_random(rng, 32)), PrivateKey(draw_random(rng, 32)))

    @property
    def signing_public(self) -> bytes:
        return bytes(self.signing.verify_key)

    @property
    def encryption_public(self) -> bytes:
        return bytes(self.encryption.public_key)

    def to_bytes(self) -> bytes:
        """Ed25519 seed (32) || X25519 private scalar (32)."""
        return bytes(self.signing) + bytes(self.encryption)

    @classmethod
    def from_bytes(cls, data: bytes) -> DeviceKeys:
        _check_key(data, "device key material", 64)
        return cls(SigningKey(data[:32]), PrivateKey(data[32:]))


@dataclass(frozen=True)
class RootKey:
    """An agency root: Ed25519, kept offline, signs certificates, review keys and revocations."""

    signing: SigningKey

    @classmethod
    def generate(cls, rng: Rng | None = None) -> RootKey:
        return cls(SigningKey(draw_random(rng, 32)))

    @property
    def public(self) -> bytes:
        return bytes(self.signing.verify_key)

    def to_bytes(self) -> bytes:
        return bytes(self.signing)

    @classmethod
    def from_bytes(cls, data: bytes) -> RootKey:
        return cls(SigningKey(_check_key(data, "root seed")))


@dataclass(frozen=True)
class ReviewKeyPair:
    """An agency review key (X25519): every envelope carries a wrap of its content key to it."""

    private: PrivateKey

    @classmethod
    def generate(cls, rng: Rng | None = None) -> ReviewKeyPair:
        return cls(PrivateKey(draw_random(rng, 32)))

    @property
    def public(self) -> bytes:
        return bytes(self.private.public_key)

    @property
    def key_id(self) -> str:
        return compact_fingerprint(self.public)

    def to_bytes(self) -> bytes:
        return bytes(self.private)

    @classmethod
    def from_bytes(cls, data: bytes) -> ReviewKeyPair:
        return cls(PrivateKey(_check_key(data, "review private key")))


@lru_cache(maxsize=1024)
def safety_number(public_key: bytes) -> str:
    """Six groups of five digits (about 99 bits), Signal-style, for reading aloud."""
    _check_key(public_key, "public key")
    digest = crypto_hash_sha512(LABEL_SAFETY_NUMBER + b"\x00" + public_key)
    # Iteration makes grinding for a key with a chosen partial number 5200 times dearer.
    for _ in range(SAFETY_NUMBER_ITERATIONS):
        digest = crypto_hash_sha512(digest + public_key)
    groups = (
        int.from_bytes(digest[i * 5 : i * 5 + 5], "big") % 100000
        for i in range(SAFETY_NUMBER_GROUPS)
    )
    return " ".join(f"{g:05d}" for g in groups)


@lru_cache(maxsize=4096)
def compact_fingerprint(public_key: bytes) -> str:
    """32 upper-case base32 characters (160 bits): QR alphanumeric mode, and review key ids."""
    _check_key(public_key, "public key")
    digest = labelled_hash(LABEL_COMPACT_FINGERPRINT, public_key, size=COMPACT_FINGERPRINT_BYTES)
    return base64.b32encode(digest).decode("ascii")


def validate_agency_code(code: str) -> str:
    if not isinstance(code, str) or AGENCY_CODE_RE.fullmatch(code) is None:
        raise MalformedError("invalid agency code")
    return code


def validate_officer_id(officer_id: str) -> str:
    if not isinstance(officer_id, str) or OFFICER_ID_RE.fullmatch(officer_id) is None:
        raise MalformedError("invalid officer id")
    return officer_id


def parse_device_id(device_id: str) -> tuple[str, str, str]:
    """Split "AGENCY:officer_id:suffix" into its three validated parts."""
    match = DEVICE_ID_RE.fullmatch(device_id) if isinstance(device_id, str) else None
    if match is None:
        raise MalformedError("invalid device id")
    return match.group(1), match.group(2), match.group(3)


def validate_device_id(device_id: str) -> str:
    parse_device_id(device_id)
    return device_id


def device_agency(device_id: str) -> str:
    return parse_device_id(device_id)[0]
