"""Every signature and derived-key purpose label of protocol version 1, as named constants."""

from __future__ import annotations

# A label is ASCII, starts with PREFIX, never contains NUL (0x00) and is used for exactly one
# purpose. Signed messages are `label || 0x00 || payload`; hashes and derived keys frame the
# label as their first length-prefixed part (see crypto/PROTOCOL.md section 3).
PREFIX = b"liaison/v1/"

# Signatures (Ed25519).
LABEL_CERTIFICATE = b"liaison/v1/device-certificate"
LABEL_REVIEW_STATEMENT = b"liaison/v1/review-key-statement"
LABEL_REVOCATION = b"liaison/v1/revocation"
LABEL_ENVELOPE_SIGNATURE = b"liaison/v1/envelope-signature"
LABEL_AUTH_CHALLENGE = b"liaison/v1/auth-challenge"
LABEL_REVIEW_RECORD = b"liaison/v1/review-record"
LABEL_REVIEW_KEY_WRAP = b"liaison/v1/review-key-wrap"
LABEL_HANDOVER_COUNTERSIGNATURE = b"liaison/v1/handover-countersignature"

# Hashes (BLAKE2b-256 over a framed label and parts).
LABEL_CERTIFICATE_HASH = b"liaison/v1/certificate-hash"
LABEL_ENVELOPE_HEADER = b"liaison/v1/envelope-header"
LABEL_ENVELOPE_BODY = b"liaison/v1/envelope-body"
LABEL_ENVELOPE_WRAPS = b"liaison/v1/envelope-wraps"
LABEL_ENVELOPE_REVIEW_WRAPS = b"liaison/v1/envelope-review-wraps"
LABEL_ENVELOPE_HASH = b"liaison/v1/envelope-hash"
LABEL_SAFETY_NUMBER = b"liaison/v1/safety-number"
LABEL_COMPACT_FINGERPRINT = b"liaison/v1/compact-fingerprint"
LABEL_REVIEW_REASON = b"liaison/v1/review-reason"
LABEL_HANDOVER_RECORD_HASH = b"liaison/v1/handover-record-hash"

# Derived keys, nonces and secrets (keyed BLAKE2b).
LABEL_BODY_NONCE = b"liaison/v1/body-nonce"
LABEL_WRAP_KEY = b"liaison/v1/wrap-key"
LABEL_REVIEW_EPHEMERAL = b"liaison/v1/review-ephemeral"
LABEL_REVIEW_WRAP_KEY = b"liaison/v1/review-wrap-key"

# Associated data of the keystore file's encryption.
LABEL_KEYSTORE = b"liaison/v1/keystore"

# Key of the officer's local sealed copies of verified notices (client home, never sent).
LABEL_LOCAL_NOTICE_CACHE = b"liaison/v1/local-notice-cache"

# Keyed hash naming a case to the relay for legal holds, and a hold reason's keyed hash (§13).
LABEL_CASE_TAG = b"liaison/v1/case-tag"
LABEL_HOLD_REASON = b"liaison/v1/hold-reason"

# Attachments (§14): associated data of each secretstream chunk, and the blob's content hash.
LABEL_ATTACHMENT_CHUNK = b"liaison/v1/attachment-chunk"
LABEL_ATTACHMENT_BLOB = b"liaison/v1/attachment-blob"

# Federation (§16): a relay's signature over a server-to-server request's signature base and
# over an acknowledgement it returns to a peer; an agency root's home statement.
LABEL_FEDERATION_REQUEST = b"liaison/v1/federation-request"
LABEL_PEER_ACK = b"liaison/v1/peer-ack"
LABEL_HOME_STATEMENT = b"liaison/v1/home-statement"

# Hash naming a case in a statistics notice, from the period and the case reference both
# agencies hold (liaison/domain/statistics.py, docs/statistics.md): unkeyed, so that the
# counterpart can match it.
LABEL_STATISTICS_CASE_TAG = b"liaison/v1/statistics-case-tag"
# Hash of how a case is counted in one group of figures: the one-character profile a statistics
# notice gives per case tag, which reconciliation compares (docs/statistics.md).
LABEL_STATISTICS_PROFILE = b"liaison/v1/statistics-profile"

# Local seals (§7.2): the key and associated data of the officer's encrypted outbox items and
# of the desk's encrypted drafts in the home folder (never sent).
LABEL_LOCAL_OUTBOX = b"liaison/v1/local-outbox"
LABEL_LOCAL_DRAFT = b"liaison/v1/local-draft"


ALL_LABELS: tuple[bytes, ...] = (
    LABEL_LOCAL_OUTBOX,
    LABEL_LOCAL_DRAFT,
    LABEL_CERTIFICATE,
    LABEL_REVIEW_STATEMENT,
    LABEL_REVOCATION,
    LABEL_ENVELOPE_SIGNATURE,
    LABEL_AUTH_CHALLENGE,
    LABEL_REVIEW_RECORD,
    LABEL_REVIEW_KEY_WRAP,
    LABEL_HANDOVER_COUNTERSIGNATURE,
    LABEL_CERTIFICATE_HASH,
    LABEL_ENVELOPE_HEADER,
    LABEL_ENVELOPE_BODY,
    LABEL_ENVELOPE_WRAPS,
    LABEL_ENVELOPE_REVIEW_WRAPS,
    LABEL_ENVELOPE_HASH,
    LABEL_SAFETY_NUMBER,
    LABEL_COMPACT_FINGERPRINT,
    LABEL_REVIEW_REASON,
    LABEL_HANDOVER_RECORD_HASH,
    LABEL_BODY_NONCE,
    LABEL_WRAP_KEY,
    LABEL_REVIEW_EPHEMERAL,
    LABEL_REVIEW_WRAP_KEY,
    LABEL_KEYSTORE,
    LABEL_LOCAL_NOTICE_CACHE,
    LABEL_CASE_TAG,
    LABEL_HOLD_REASON,
    LABEL_ATTACHMENT_CHUNK,
    LABEL_ATTACHMENT_BLOB,
    LABEL_FEDERATION_REQUEST,
    LABEL_PEER_ACK,
    LABEL_HOME_STATEMENT,
    LABEL_STATISTICS_CASE_TAG,
    LABEL_STATISTICS_PROFILE,
)
