"""The one error hierarchy of the crypto package; each error also subclasses the fitting builtin."""

from __future__ import annotations


class CryptoError(Exception):
    """Base of every error raised by `crypto`; `code` is stable and safe to show or log."""

    code = "crypto_error"


class MalformedError(CryptoError, ValueError):
    """Bytes or fields that do not parse, or have the wrong type or length."""

    code = "malformed"


class SignatureError(CryptoError, ValueError):
    """A signature that does not verify."""

    code = "bad_signature"


class CertificateError(CryptoError, ValueError):
    """A certificate, statement or revocation that cannot be trusted."""

    code = "bad_certificate"


class UntrustedRoot(CertificateError):
    code = "untrusted_root"


class CertificateExpired(CertificateError):
    code = "certificate_expired"


class CertificateNotYetValid(CertificateError):
    code = "certificate_not_yet_valid"


class CertificateRevoked(CertificateError):
    code = "certificate_revoked"


class EnvelopeError(CryptoError, ValueError):
    """An envelope that must not be opened."""

    code = "bad_envelope"


class NotARecipient(EnvelopeError):
    code = "not_a_recipient"


class ReviewWrapError(EnvelopeError):
    code = "bad_review_wrap"


class DecryptionError(EnvelopeError):
    code = "decryption_failed"


class ReplayError(EnvelopeError):
    code = "replay"


class KeystoreError(CryptoError, ValueError):
    """Wrong passphrase or tampered keystore file: deliberately indistinguishable."""

    code = "keystore_locked"


class ProofError(CryptoError, ValueError):
    """A Merkle proof or checkpoint that does not verify."""

    code = "bad_proof"


# Added by crypto-core: finer failures, each still under the contract's classes.


class UnsupportedVersion(MalformedError):
    """A structure that names a version or suite this code does not implement."""

    code = "unsupported_version"


class CertificateSignatureError(CertificateError):
    """A certificate, statement or revocation whose root signature does not verify."""

    code = "certificate_bad_signature"


class SenderMismatch(EnvelopeError):
    """The certificate offered for the sender is not the one the envelope header names."""

    code = "sender_mismatch"


class ClockSkewError(EnvelopeError):
    """An envelope whose signed send time lies further in the future than clock skew allows."""

    code = "sent_in_future"


# Added for attachments (crypto/attachments.py, PROTOCOL.md §14).


class AttachmentError(CryptoError, ValueError):
    """An attachment blob that must not be accepted as the file its reference names."""

    code = "bad_attachment"


class AttachmentDecryptionError(AttachmentError):
    """A chunk that does not authenticate: tampered, reordered, swapped, or the wrong key."""

    code = "attachment_decryption_failed"


class AttachmentTruncated(AttachmentError):
    """The blob ended before its final chunk."""

    code = "attachment_truncated"


class AttachmentTrailingData(AttachmentError):
    """Bytes after the final chunk, or more bytes than the reference's size allows."""

    code = "attachment_trailing_data"


class AttachmentHashMismatch(AttachmentError):
    """The blob decrypted but is not the one the signed reference names (hash or size)."""

    code = "attachment_hash_mismatch"


# Added for federation (crypto/federation.py, PROTOCOL.md §16).


class FederationError(CryptoError, ValueError):
    """A server-to-server request, acknowledgement or peer answer that must not be accepted."""

    code = "federation_error"


class RequestMalformed(FederationError, MalformedError):
    """Signature headers missing, repeated or not exactly in the form §16.3 fixes."""

    code = "federation_request_malformed"


class RequestSignatureError(FederationError, SignatureError):
    """The request signature does not verify with the sending peer's key."""

    code = "federation_bad_signature"


class ContentDigestMismatch(FederationError):
    """The body's SHA-256 differs from the signed Content-Digest header."""

    code = "federation_digest_mismatch"


class RequestClockSkew(FederationError):
    """The request's `created` time lies outside the accepted window around the receiver's clock."""

    code = "federation_clock_skew"


class RequestReplayed(FederationError):
    """A (sender, nonce) pair already seen within the window."""

    code = "federation_replayed"


class ReplayCacheFull(FederationError):
    """The replay cache is full of unexpired nonces: refused rather than forgetting one."""

    code = "federation_busy"


class MisdirectedRequest(FederationError):
    """A request signed for another relay (its signed destination is not this relay's origin)."""

    code = "federation_misdirected"


class PeerAckSignatureError(FederationError, SignatureError):
    """A peer acknowledgement whose relay signature does not verify, or names other relays."""

    code = "peer_ack_bad_signature"


class UnknownPeer(FederationError):
    """A request from, or addressed to, a relay that is not a mutual peer of this one."""

    code = "unknown_peer"


class HomeStatementError(CertificateError):
    """A home statement that does not verify against the agency's root or names another agency."""

    code = "bad_home_statement"


class PeerMisbehaved(FederationError):
    """A peer's signed answer that no honest relay gives: `reason` says which check failed."""

    code = "peer_misbehaved"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
