"""Sealed envelopes: one encrypted body, per-device and review key wraps, the sender's signature."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
    crypto_scalarmult,
    crypto_scalarmult_base,
)
from nacl.exceptions import BadSignatureError
from nacl.exceptions import CryptoError as NaclCryptoError
from nacl.public import PublicKey, SealedBox
from nacl.signing import VerifyKey

from crypto.certs import DeviceCertificate, TrustStore
from crypto.encoding import (
    b64e,
    canonical_json,
    derive_key,
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
    ClockSkewError,
    DecryptionError,
    MalformedError,
    NotARecipient,
    ReviewWrapError,
    SenderMismatch,
    SignatureError,
    UnsupportedVersion,
)
from crypto.keys import (
    KEY_SIZE,
    DeviceKeys,
    ReviewKeyPair,
    Rng,
    compact_fingerprint,
    device_agency,
    draw_random,
    validate_agency_code,
    validate_device_id,
)
from crypto.labels import (
    LABEL_BODY_NONCE,
    LABEL_ENVELOPE_BODY,
    LABEL_ENVELOPE_HASH,
    LABEL_ENVELOPE_HEADER,
    LABEL_ENVELOPE_REVIEW_WRAPS,
    LABEL_ENVELOPE_SIGNATURE,
    LABEL_ENVELOPE_WRAPS,
    LABEL_REVIEW_EPHEMERAL,
    LABEL_REVIEW_WRAP_KEY,
    LABEL_WRAP_KEY,
)
from crypto.replay import ReplayGuard

VERSION = 1
SUITE = "x25519-blake2b-xchacha20poly1305-ed25519"
MAGIC = b"LSE1"
TAG_SIZE = 16
WRAP_SIZE = KEY_SIZE + TAG_SIZE  # 48: encrypted content key
REVIEW_WRAP_SIZE = KEY_SIZE + WRAP_SIZE  # 80: review ephemeral public key || encrypted content key
SIGNATURE_SIZE = 64
ZERO_NONCE = bytes(24)
MAX_RECIPIENTS = 256
MAX_REVIEW_RECIPIENTS = 16
MAX_HEADER_SIZE = 64 * 1024
MAX_PLAINTEXT_SIZE = 8 * 1024 * 1024
# Receiver policy (PROTOCOL.md 5.7): tolerated sender clock lead, and how long after its
# certificate's not_after an envelope is still accepted (late sync from a border post).
MAX_CLOCK_SKEW = 300
EXPIRY_GRACE = 7 * 86400

_HEADER_FIELDS = (
    "version",
    "suite",
    "message_id",
    "sender_device",
    "sender_cert_hash",
    "sent_at",
    "counter",
    "recipients",
    "review_recipients",
    "log_size",
    "ephemeral_key",
)
_MESSAGE_ID_RE = re.compile(r"[0-9a-f]{32}")
# Device ids already found valid: the same few ids recur in every envelope a relay parses.
_VALID_DEVICE_IDS: set[str] = set()
_VALID_DEVICE_IDS_MAX = 4096


def _valid_device_id(device_id: str) -> str:
    if device_id not in _VALID_DEVICE_IDS:
        validate_device_id(device_id)
        if len(_VALID_DEVICE_IDS) >= _VALID_DEVICE_IDS_MAX:
            _VALID_DEVICE_IDS.clear()
        _VALID_DEVICE_IDS.add(device_id)
    return device_id


_KEY_ID_RE = re.compile(r"[A-Z2-7]{32}")


@dataclass(frozen=True, slots=True)
class RecipientDevice:
    device_id: str
    encryption_key: bytes


@dataclass(frozen=True, slots=True)
class ReviewRecipient:
    agency: str
    key_id: str
    public_key: bytes


@dataclass(frozen=True, slots=True)
class EnvelopeHeader:
    version: int
    suite: str
    message_id: str
    sender_device: str
    sender_cert_hash: bytes
    sent_at: int
    counter: int
    recipients: tuple[str, ...]
    review_recipients: tuple[tuple[str, str], ...]
    log_size: int
    ephemeral_key: bytes

    def to_json_obj(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "suite": self.suite,
            "message_id": self.message_id,
            "sender_device": self.sender_device,
            "sender_cert_hash": b64e(self.sender_cert_hash),
            "sent_at": self.sent_at,
            "counter": self.counter,
            "recipients": list(self.recipients),
            "review_recipients": [list(pair) for pair in self.review_recipients],
            "log_size": self.log_size,
            "ephemeral_key": b64e(self.ephemeral_key),
        }

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json_obj())

    @classmethod
    def from_bytes(cls, data: bytes) -> EnvelopeHeader:
        obj = parse_canonical_json(data)
        if obj.get("version") != VERSION or obj.get("suite") != SUITE:
            raise UnsupportedVersion("unsupported envelope version or suite")
        expect_keys(obj, _HEADER_FIELDS, "envelope header")
        message_id = get_str(obj, "message_id")
        if not _MESSAGE_ID_RE.fullmatch(message_id):
            raise MalformedError("message id must be 32 lower-case hex digits")
        recipients = obj["recipients"]
        if (
            not isinstance(recipients, list)
            or not 1 <= len(recipients) <= MAX_RECIPIENTS
            or not all(isinstance(r, str) for r in recipients)
        ):
            raise MalformedError("recipients must be a non-empty list of device ids")
        for device_id in recipients:
            _valid_device_id(device_id)
        if recipients != sorted(set(recipients)):
            raise MalformedError("recipients must be sorted and distinct")
        review = obj["review_recipients"]
        if not isinstance(review, list) or len(review) > MAX_REVIEW_RECIPIENTS:
            raise MalformedError("review recipients must be a list")
        pairs: list[tuple[str, str]] = []
        for pair in review:
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not all(isinstance(p, str) for p in pair)
            ):
                raise MalformedError("a review recipient is [agency, key_id]")
            validate_agency_code(pair[0])
            if not _KEY_ID_RE.fullmatch(pair[1]):
                raise MalformedError("invalid review key id")
            pairs.append((pair[0], pair[1]))
        if pairs != sorted(set(pairs)):
            raise MalformedError("review recipients must be sorted and distinct")
        return cls(
            version=VERSION,
            suite=SUITE,
            message_id=message_id,
            sender_device=_valid_device_id(get_str(obj, "sender_device")),
            sender_cert_hash=get_bytes(obj, "sender_cert_hash", length=32),
            sent_at=get_int(obj, "sent_at"),
            counter=get_int(obj, "counter"),
            recipients=tuple(recipients),
            review_recipients=tuple(pairs),
            log_size=get_int(obj, "log_size"),
            ephemeral_key=get_bytes(obj, "ephemeral_key", length=KEY_SIZE),
        )


@dataclass(frozen=True, slots=True)
class Envelope:
    """A sealed envelope. Build it with `seal` or `Envelope.from_bytes`, which keep `header`
    and `header_bytes` consistent; the header hash is always computed from `header_bytes`."""

    header: EnvelopeHeader
    header_bytes: bytes
    body: bytes
    wraps: tuple[bytes, ...]
    review_wraps: tuple[bytes, ...]
    signature: bytes
    _header_hash: bytes | None = field(init=False, default=None, repr=False, compare=False)
    # The exact input of a strict parse, which is byte for byte `to_bytes()` (every byte is
    # determined by the fields), so the envelope hash can be taken without re-assembling it.
    _wire: bytes | None = field(init=False, default=None, repr=False, compare=False)
    _envelope_hash: bytes | None = field(init=False, default=None, repr=False, compare=False)

    @property
    def header_hash(self) -> bytes:
        """hh = H(LABEL_ENVELOPE_HEADER, header_bytes), computed on first use (the relay checks
        signatures off its event loop, so the loop need not hash the header at all)."""
        hh = self._header_hash
        if hh is None:
            hh = labelled_hash(LABEL_ENVELOPE_HEADER, self.header_bytes)
            object.__setattr__(self, "_header_hash", hh)
        return hh

    def signed_payload(self) -> bytes:
        """label || 0x00 || H(header) || H(body) || H(wraps) || H(review wraps)."""
        return signed_message(
            LABEL_ENVELOPE_SIGNATURE,
            _signed_hashes(self.header_hash, self.body, self.wraps, self.review_wraps),
        )

    def to_bytes(self) -> bytes:
        if self._wire is not None:
            return self._wire
        parts = [
            MAGIC,
            len(self.header_bytes).to_bytes(4, "big"),
            self.header_bytes,
            len(self.body).to_bytes(4, "big"),
            self.body,
            len(self.wraps).to_bytes(2, "big"),
            *self.wraps,
            len(self.review_wraps).to_bytes(2, "big"),
            *self.review_wraps,
            self.signature,
        ]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        """Strict parse: exact lengths, counts matching the header, nothing left over."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MalformedError("envelope must be bytes")
        wire = bytes(data)  # no copy when already bytes; a private copy otherwise
        size = len(wire)
        if size < 4:
            raise MalformedError("envelope truncated")
        if wire[:4] != MAGIC:
            raise MalformedError("not a Liaison envelope")
        pos = _need(8, size)
        header_len = int.from_bytes(wire[4:8], "big")
        if header_len > MAX_HEADER_SIZE:
            raise MalformedError("envelope header too large")
        end = _need(pos + header_len, size)
        header_bytes = wire[pos:end]
        header = EnvelopeHeader.from_bytes(header_bytes)
        pos = _need(end + 4, size)
        end = _need(pos + int.from_bytes(wire[end:pos], "big"), size)
        body = wire[pos:end]
        if len(body) < TAG_SIZE:
            raise MalformedError("envelope body too short")
        pos = _need(end + 2, size)
        n_wraps = int.from_bytes(wire[end:pos], "big")
        if n_wraps != len(header.recipients):
            raise MalformedError("wrap count does not match the recipients")
        end = _need(pos + n_wraps * WRAP_SIZE, size)
        wraps = tuple(wire[i : i + WRAP_SIZE] for i in range(pos, end, WRAP_SIZE))
        pos = _need(end + 2, size)
        n_review = int.from_bytes(wire[end:pos], "big")
        if n_review != len(header.review_recipients):
            raise MalformedError("review wrap count does not match the review recipients")
        end = _need(pos + n_review * REVIEW_WRAP_SIZE, size)
        review_wraps = tuple(
            wire[i : i + REVIEW_WRAP_SIZE] for i in range(pos, end, REVIEW_WRAP_SIZE)
        )
        pos = _need(end + SIGNATURE_SIZE, size)
        signature = wire[end:pos]
        if pos != size:
            raise MalformedError("trailing bytes after envelope")
        env = cls(header, header_bytes, body, wraps, review_wraps, signature)
        object.__setattr__(env, "_wire", wire)
        return env

    def envelope_hash(self) -> bytes:
        """BLAKE2b-256 of the framed label and the whole envelope: its identity in logs."""
        digest = self._envelope_hash
        if digest is None:
            digest = labelled_hash(LABEL_ENVELOPE_HASH, self.to_bytes())
            object.__setattr__(self, "_envelope_hash", digest)
        return digest

    def verify_signature(self, signing_public: bytes) -> None:
        try:
            VerifyKey(signing_public).verify(self.signed_payload(), self.signature)
        except (BadSignatureError, ValueError, TypeError) as exc:
            raise SignatureError("envelope signature does not verify") from exc


def _need(end: int, size: int) -> int:
    """`end` if the envelope has that many bytes, else the truncation error."""
    if end > size:
        raise MalformedError("envelope truncated")
    return end


@dataclass(frozen=True, slots=True)
class OpenedEnvelope:
    header: EnvelopeHeader
    plaintext: bytes


def _signed_hashes(
    header_hash: bytes, body: bytes, wraps: Sequence[bytes], review_wraps: Sequence[bytes]
) -> bytes:
    return (
        header_hash
        + labelled_hash(LABEL_ENVELOPE_BODY, body)
        + labelled_hash(LABEL_ENVELOPE_WRAPS, b"".join(wraps))
        + labelled_hash(LABEL_ENVELOPE_REVIEW_WRAPS, b"".join(review_wraps))
    )


def _x25519(secret: bytes, public: bytes) -> bytes:
    try:
        return bytes(crypto_scalarmult(secret, public))
    except (NaclCryptoError, RuntimeError, TypeError, ValueError) as exc:
        # libsodium refuses an all-zero shared secret (a low-order public key).
        raise DecryptionError("key agreement failed") from exc


def _aead_encrypt(key: bytes, nonce: bytes, plaintext: bytes, ad: bytes) -> bytes:
    return bytes(crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, nonce, key))


def _aead_decrypt(key: bytes, nonce: bytes, ciphertext: bytes, ad: bytes) -> bytes:
    try:
        return bytes(crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, ad, nonce, key))
    except (NaclCryptoError, RuntimeError, TypeError, ValueError) as exc:
        raise DecryptionError("authenticated decryption failed") from exc


def _body_nonce(header_hash: bytes) -> bytes:
    return labelled_hash(LABEL_BODY_NONCE, header_hash, size=24)


def _wrap_key(
    shared: bytes, ephemeral_public: bytes, recipient_public: bytes, device_id: str, hh: bytes
) -> bytes:
    return derive_key(
        shared, LABEL_WRAP_KEY, ephemeral_public, recipient_public, device_id.encode("utf-8"), hh
    )


def _review_wrap(content_key: bytes, hh: bytes, agency: str, key_id: str, public: bytes) -> bytes:
    """Deterministic in (content key, header hash, review key): every recipient recomputes it."""
    agency_b, key_id_b = agency.encode("utf-8"), key_id.encode("ascii")
    eph_secret = derive_key(content_key, LABEL_REVIEW_EPHEMERAL, hh, agency_b, key_id_b, public)
    eph_public = bytes(crypto_scalarmult_base(eph_secret))
    shared = _x25519(eph_secret, public)
    key = derive_key(shared, LABEL_REVIEW_WRAP_KEY, eph_public, public, agency_b, key_id_b, hh)
    return eph_public + _aead_encrypt(key, ZERO_NONCE, content_key, hh)


def _check_review(review: Sequence[ReviewRecipient]) -> list[ReviewRecipient]:
    out = sorted(review, key=lambda r: (r.agency, r.key_id))
    if len({(r.agency, r.key_id) for r in out}) != len(out) or len(out) > MAX_REVIEW_RECIPIENTS:
        raise MalformedError("review recipients must be distinct and few")
    for r in out:
        validate_agency_code(r.agency)
        if not isinstance(r.public_key, bytes) or len(r.public_key) != KEY_SIZE:
            raise MalformedError("review public key must be 32 bytes")
        if r.key_id != compact_fingerprint(r.public_key):
            raise MalformedError("review key id does not match its public key")
    return out


def required_review_agencies(sender_device: str, recipient_devices: Sequence[str]) -> list[str]:
    """The agencies whose review keys must receive a wrap: sender's and every recipient's."""
    return sorted({device_agency(sender_device), *(device_agency(d) for d in recipient_devices)})


def seal(
    *,
    sender: DeviceKeys,
    sender_cert: DeviceCertificate,
    recipients: Sequence[RecipientDevice],
    review: Sequence[ReviewRecipient],
    plaintext: bytes,
    counter: int,
    sent_at: int,
    log_size: int,
    rng: Rng | None = None,
) -> Envelope:
    """Encrypt `plaintext` once and wrap its key to each device and review key; sign it all."""
    if sender_cert.signing_key != sender.signing_public:
        raise SenderMismatch("sender keys do not match the sender certificate")
    if not isinstance(plaintext, bytes) or len(plaintext) > MAX_PLAINTEXT_SIZE:
        raise MalformedError("plaintext must be bytes of at most 8 MiB")
    devices = sorted(recipients, key=lambda r: r.device_id)
    if not 1 <= len(devices) <= MAX_RECIPIENTS:
        raise MalformedError("an envelope needs 1 to 256 recipient devices")
    if len({d.device_id for d in devices}) != len(devices):
        raise MalformedError("recipient devices must be distinct")
    for d in devices:
        validate_device_id(d.device_id)
        if not isinstance(d.encryption_key, bytes) or len(d.encryption_key) != KEY_SIZE:
            raise MalformedError("recipient encryption key must be 32 bytes")
    reviewers = _check_review(review)
    for name, value in (("counter", counter), ("sent_at", sent_at), ("log_size", log_size)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
            raise MalformedError(f"{name} must be a non-negative integer below 2**53")

    message_id = draw_random(rng, 16).hex()
    content_key = draw_random(rng, 32)
    eph_secret = draw_random(rng, 32)
    eph_public = bytes(crypto_scalarmult_base(eph_secret))
    header = EnvelopeHeader(
        version=VERSION,
        suite=SUITE,
        message_id=message_id,
        sender_device=sender_cert.device_id,
        sender_cert_hash=sender_cert.cert_hash(),
        sent_at=sent_at,
        counter=counter,
        recipients=tuple(d.device_id for d in devices),
        review_recipients=tuple((r.agency, r.key_id) for r in reviewers),
        log_size=log_size,
        ephemeral_key=eph_public,
    )
    header_bytes = header.to_bytes()
    hh = labelled_hash(LABEL_ENVELOPE_HEADER, header_bytes)
    body = _aead_encrypt(content_key, _body_nonce(hh), plaintext, hh)
    wraps = []
    for d in devices:
        try:
            shared = _x25519(eph_secret, d.encryption_key)
        except DecryptionError as exc:
            raise MalformedError("recipient encryption key is a low-order point") from exc
        key = _wrap_key(shared, eph_public, d.encryption_key, d.device_id, hh)
        wraps.append(_aead_encrypt(key, ZERO_NONCE, content_key, hh))
    try:
        review_wraps = [
            _review_wrap(content_key, hh, r.agency, r.key_id, r.public_key) for r in reviewers
        ]
    except DecryptionError as exc:
        raise MalformedError("review public key is a low-order point") from exc
    signature = sender.signing.sign(
        signed_message(LABEL_ENVELOPE_SIGNATURE, _signed_hashes(hh, body, wraps, review_wraps))
    ).signature
    return Envelope(header, header_bytes, body, tuple(wraps), tuple(review_wraps), bytes(signature))


def _authenticate(
    envelope: Envelope | bytes,
    sender_cert: DeviceCertificate,
    trust: TrustStore,
    now: int,
    max_clock_skew: int,
    expiry_grace: int,
) -> Envelope:
    """Steps 1-4 of PROTOCOL.md 5.7: parse, sender binding, certificate, signature."""
    env = envelope if isinstance(envelope, Envelope) else Envelope.from_bytes(envelope)
    header = env.header
    if (
        header.sender_cert_hash != sender_cert.cert_hash()
        or header.sender_device != sender_cert.device_id
    ):
        raise SenderMismatch("envelope names another sender certificate")
    trust.verify_certificate(sender_cert, now=header.sent_at)
    if header.sent_at > now + max_clock_skew:
        raise ClockSkewError("envelope sent in the future")
    if now > sender_cert.not_after + expiry_grace:
        raise CertificateExpired("sender certificate expired too long ago")
    env.verify_signature(sender_cert.signing_key)
    return env


def open_envelope(
    envelope: Envelope | bytes,
    *,
    recipient_device_id: str,
    recipient: DeviceKeys,
    sender_cert: DeviceCertificate,
    trust: TrustStore,
    expected_review: Sequence[ReviewRecipient],
    replay: ReplayGuard | None,
    now: int,
    max_clock_skew: int = MAX_CLOCK_SKEW,
    expiry_grace: int = EXPIRY_GRACE,
) -> OpenedEnvelope:
    """Check everything in the order of PROTOCOL.md 5.7, then record the envelope as seen."""
    env = _authenticate(envelope, sender_cert, trust, now, max_clock_skew, expiry_grace)
    header, hh = env.header, env.header_hash
    try:
        index = header.recipients.index(recipient_device_id)
    except ValueError:
        raise NotARecipient("this device is not a recipient") from None
    if replay is not None:
        replay.check(header)
    own_public = recipient.encryption_public
    shared = _x25519(bytes(recipient.encryption), header.ephemeral_key)
    key = _wrap_key(shared, header.ephemeral_key, own_public, recipient_device_id, hh)
    content_key = _aead_decrypt(key, ZERO_NONCE, env.wraps[index], hh)
    plaintext = _aead_decrypt(content_key, _body_nonce(hh), env.body, hh)

    expected = _check_review(expected_review)
    if tuple((r.agency, r.key_id) for r in expected) != header.review_recipients:
        raise ReviewWrapError("review recipients differ from those expected")
    for r, wrap in zip(expected, env.review_wraps, strict=True):
        try:
            recomputed = _review_wrap(content_key, hh, r.agency, r.key_id, r.public_key)
        except DecryptionError as exc:
            raise ReviewWrapError("review key is unusable") from exc
        if recomputed != wrap:
            raise ReviewWrapError("a review wrap is not the one the content key determines")
    if replay is not None:
        replay.record(header)
    return OpenedEnvelope(header, plaintext)


def open_as_reviewer(
    envelope: Envelope | bytes,
    *,
    review: ReviewKeyPair,
    agency: str,
    sender_cert: DeviceCertificate,
    trust: TrustStore,
    now: int,
    max_clock_skew: int = MAX_CLOCK_SKEW,
    expiry_grace: int = EXPIRY_GRACE,
) -> OpenedEnvelope:
    """Open with an agency review key; the reviewer's own wrap is recomputed and compared."""
    env = _authenticate(envelope, sender_cert, trust, now, max_clock_skew, expiry_grace)
    header, hh = env.header, env.header_hash
    key_id = review.key_id
    try:
        index = header.review_recipients.index((agency, key_id))
    except ValueError:
        raise NotARecipient("this review key is not a recipient") from None
    wrap = env.review_wraps[index]
    eph_public, sealed_key = wrap[:KEY_SIZE], wrap[KEY_SIZE:]
    shared = _x25519(review.to_bytes(), eph_public)
    agency_b, key_id_b = agency.encode("utf-8"), key_id.encode("ascii")
    key = derive_key(
        shared, LABEL_REVIEW_WRAP_KEY, eph_public, review.public, agency_b, key_id_b, hh
    )
    content_key = _aead_decrypt(key, ZERO_NONCE, sealed_key, hh)
    if _review_wrap(content_key, hh, agency, key_id, review.public) != wrap:
        raise ReviewWrapError("review wrap is not the one the content key determines")
    plaintext = _aead_decrypt(content_key, _body_nonce(hh), env.body, hh)
    return OpenedEnvelope(header, plaintext)


def seal_secret_to_device(secret: bytes, encryption_public: bytes) -> bytes:
    """Anonymous sealed box (libsodium crypto_box_seal): hands a review key to a supervisor."""
    if not isinstance(encryption_public, bytes) or len(encryption_public) != KEY_SIZE:
        raise MalformedError("encryption public key must be 32 bytes")
    return bytes(SealedBox(PublicKey(encryption_public)).encrypt(secret))


def open_secret(blob: bytes, keys: DeviceKeys) -> bytes:
    try:
        return bytes(SealedBox(keys.encryption).decrypt(blob))
    except (NaclCryptoError, RuntimeError, TypeError, ValueError) as exc:
        raise DecryptionError("sealed secret does not open with this device key") from exc
