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
