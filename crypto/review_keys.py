"""Review-key validity, wraps to supervisors, review-record signatures, reason commitments."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from crypto.certs import ReviewKeyStatement, RootSigned, parse_root_signed, verify_signed
from crypto.encoding import (
    b64e,
    canonical_json,
    get_bytes,
    get_int,
    get_str,
    labelled_hash,
    signed_message,
)
from crypto.envelope import MAX_CLOCK_SKEW, open_secret, seal_secret_to_device
from crypto.errors import DecryptionError, MalformedError, SignatureError
from crypto.keys import (
    KEY_SIZE,
    DeviceKeys,
    ReviewKeyPair,
    Rng,
    RootKey,
    device_agency,
    draw_random,
    validate_device_id,
)
from crypto.labels import LABEL_REVIEW_KEY_WRAP, LABEL_REVIEW_REASON, LABEL_REVIEW_RECORD

VERSION = 1
SIGNATURE_SIZE = 64
# crypto_box_seal of a 32-byte scalar: 32-byte ephemeral key + 32 + 16-byte tag.
SEALED_SIZE = KEY_SIZE + KEY_SIZE + 16
REASON_SALT_SIZE = 16
MAX_REASON_LEN = 1000


# --- Which review key, when (PROTOCOL.md section 12) ---------------------------------------------
def current_review_statement(
    statements: Iterable[ReviewKeyStatement], now: int
) -> ReviewKeyStatement | None:
    """The statement a sender wraps to at `now`: the newest whose `not_before` has come."""
    valid = [s for s in statements if s.not_before <= now]
    return max(valid, key=lambda s: s.not_before) if valid else None


def review_statements_valid_at(
    statements: Iterable[ReviewKeyStatement],
    sent_at: int,
    *,
    max_clock_skew: int = MAX_CLOCK_SKEW,
) -> list[ReviewKeyStatement]:
    """The statements a receiver accepts for an envelope sent at `sent_at`: the newest one whose
    `not_before` ≤ `sent_at`, widened by the clock skew on both sides. A statement counts from
    `not_before - skew` (an administrator's clock ahead of the sender's) and stops counting
    once a newer one has been valid for `skew` (a sender's clock behind, or a rotation still
    being registered). With `max_clock_skew=0` exactly one statement (or none) is accepted."""
    pool = list(statements)
    return [
        s
        for s in pool
        if s.not_before <= sent_at + max_clock_skew
        and not any(s.not_before < o.not_before <= sent_at - max_clock_skew for o in pool)
    ]


_WRAP_FIELDS = ["version", "agency", "device_id", "key_id", "sealed", "issued_at", "signature"]


@dataclass(frozen=True)
class ReviewKeyWrap(RootSigned):
    """The agency root hands review key `key_id` to supervisor device `device_id`, sealed to it."""

    LABEL: ClassVar[bytes] = LABEL_REVIEW_KEY_WRAP

    agency: str
    device_id: str
    key_id: str
    sealed: bytes
    issued_at: int
    signature: bytes

    def __post_init__(self) -> None:
        validate_device_id(self.device_id)
        if device_agency(self.device_id) != self.agency:
            raise MalformedError("review-key wrap addressed to a device of another agency")
        if len(self.key_id) != 32 or not self.key_id.isascii():
            raise MalformedError("review key id must be a 32-character compact fingerprint")
        if not isinstance(self.sealed, bytes) or len(self.sealed) != SEALED_SIZE:
            raise MalformedError("sealed review key has the wrong length")
        if not isinstance(self.signature, bytes) or len(self.signature) != SIGNATURE_SIZE:
            raise MalformedError("signature must be 64 bytes")

    def _tbs(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "agency": self.agency,
            "device_id": self.device_id,
            "key_id": self.key_id,
            "sealed": b64e(self.sealed),
            "issued_at": self.issued_at,
        }

    @classmethod
    def from_bytes(cls, data: bytes) -> ReviewKeyWrap:
        obj = parse_root_signed(data, _WRAP_FIELDS, "review-key wrap")
        return cls(
            agency=get_str(obj, "agency"),
            device_id=get_str(obj, "device_id"),
            key_id=get_str(obj, "key_id"),
            sealed=get_bytes(obj, "sealed", length=SEALED_SIZE),
            issued_at=get_int(obj, "issued_at"),
            signature=get_bytes(obj, "signature", length=SIGNATURE_SIZE),
        )

    def verify(self, root_public: bytes) -> None:
        """The agency root signed this wrap, else `SignatureError`."""
        self.verify_root_signature(
            root_public,
            error=SignatureError,
            message="review-key wrap is not signed by the agency root",
        )

    def open(self, keys: DeviceKeys) -> ReviewKeyPair:
        """The review key pair, checked to be the one `key_id` names (`DecryptionError`)."""
        review = ReviewKeyPair.from_bytes(open_secret(self.sealed, keys))
        if review.key_id != self.key_id:
            raise DecryptionError("the sealed review key is not the key the wrap names")
        return review


def wrap_review_key(
    root: RootKey,
    review: ReviewKeyPair,
    *,
    device_id: str,
    encryption_key: bytes,
    issued_at: int,
) -> ReviewKeyWrap:
    """Seal `review`'s private key to a supervisor device's X25519 key and sign it with the root."""
    return ReviewKeyWrap(
        agency=device_agency(device_id),
        device_id=device_id,
        key_id=review.key_id,
        sealed=seal_secret_to_device(review.to_bytes(), encryption_key),
        issued_at=issued_at,
        signature=bytes(SIGNATURE_SIZE),
    ).signed_by(root)


def new_reason_salt(rng: Rng | None = None) -> bytes:
    return draw_random(rng, REASON_SALT_SIZE)


def reason_hash(reason: str, salt: bytes) -> bytes:
    """Hiding commitment to a review reason: H(LABEL_REVIEW_REASON, salt, NFC-UTF-8(reason))."""
    if not isinstance(salt, bytes) or len(salt) != REASON_SALT_SIZE:
        raise MalformedError("reason salt must be 16 bytes")
    text = unicodedata.normalize("NFC", reason).strip()
    if not text or len(text) > MAX_REASON_LEN:
        raise MalformedError("a review reason is 1 to 1000 characters")
    return labelled_hash(LABEL_REVIEW_REASON, salt, text.encode("utf-8"))


def review_request_bytes(
    *, message_id: str, device_id: str, reason_hash: bytes, requested_at: int
) -> bytes:
    """What a supervisor device signs to ask for a review (canonical JSON)."""
    if len(reason_hash) != 32:
        raise MalformedError("reason hash must be 32 bytes")
    return canonical_json(
        {
            "message_id": message_id,
            "device_id": device_id,
            "reason_hash": b64e(reason_hash),
            "requested_at": requested_at,
        }
    )


def sign_review_request(keys: DeviceKeys, request: bytes) -> bytes:
    return bytes(keys.signing.sign(signed_message(LABEL_REVIEW_RECORD, request)).signature)


def verify_review_request(signing_public: bytes, request: bytes, signature: bytes) -> None:
    verify_signed(
        signing_public,
        LABEL_REVIEW_RECORD,
        request,
        signature,
        error=SignatureError,
        message="review request is not signed by the supervisor device",
    )
