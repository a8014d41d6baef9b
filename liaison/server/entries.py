"""What the relay writes into its log: entry objects and the content hashes they name."""

from __future__ import annotations

import hashlib
from typing import Any

from crypto.encoding import b64e


def content_hash(data: bytes) -> bytes:
    """SHA-256 of stored bytes (review-key statements, revocations) as named in log entries.

    SHA-256 like the log's own RFC 9162 hashing, so an auditor needs one hash for the log.
    """
    return hashlib.sha256(data).digest()


def log_entry(kind: str, at: int, **fields: Any) -> dict[str, Any]:
    """A log entry {"kind", "at", **fields}, with bytes fields in base64 (PROTOCOL.md entries)."""
    entry = {
        key: b64e(value) if isinstance(value, bytes) else value for key, value in fields.items()
    }
    return {"kind": kind, **entry, "at": at}
